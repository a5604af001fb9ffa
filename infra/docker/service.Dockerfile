# syntax=docker/dockerfile:1.7
# One image per EpiSante service, from one parameterised Dockerfile. Build from the repository root:
#   docker build -f infra/docker/service.Dockerfile --build-arg BIN=episante-auth --build-arg PORT=8081 .
# BIN: episante-auth (8081), episante-records (8082), episante-bookings (8083),
#      episante-broker (8085; MQTT 8883), episante-alerts (8086). Each binary is its own package.

ARG RUST_VERSION=1

FROM rust:${RUST_VERSION}-bookworm AS build
ARG BIN
RUN test -n "$BIN" || (echo "--build-arg BIN=episante-<service> is required" >&2; exit 1)
WORKDIR /src
COPY . .
# Registry, git checkouts and target/ are BuildKit cache mounts: rebuilds only recompile what changed.
# (target/ being a cache mount, the binaries are copied out of it in the same step.)
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p "$BIN" --bin "$BIN" \
 && cargo build --release --locked -p episante-infra --bin episante-probe \
 && install -D -m 0755 "target/release/$BIN" "/out/$BIN" \
 && install -D -m 0755 target/release/episante-probe /out/episante-probe

FROM debian:bookworm-slim AS runtime
ARG BIN
ARG PORT
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 episante \
 && useradd --system --uid 10001 --gid episante --home-dir /var/lib/episante --create-home \
      --shell /usr/sbin/nologin episante \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/episante/auth /var/lib/episante/broker \
      /var/lib/episante/records /var/lib/episante/bookings /var/lib/episante/alerts
COPY --from=build /out/ /usr/local/bin/
COPY infra/docker/entrypoint.sh /usr/local/bin/episante-entrypoint
ENV EPISANTE_SERVICE_BIN=${BIN} \
    EPISANTE_HEALTH_URL=http://127.0.0.1:${PORT}/health \
    EPISANTE_DATA_DIR=/var/lib/episante \
    EPISANTE_LOG__FORMAT=json
USER 10001:10001
WORKDIR /var/lib/episante
EXPOSE ${PORT}
# A few-hundred-KiB std-only probe instead of curl and its libraries: GET $EPISANTE_HEALTH_URL, exit 0 on 2xx.
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/episante-probe"]
ENTRYPOINT ["/usr/local/bin/episante-entrypoint"]
