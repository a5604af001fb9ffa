# syntax=docker/dockerfile:1.7
# The `vault-bootstrap` and `service-clients` one-shots: bash, curl, openssl, the OpenBao CLI and infra/vault.
ARG OPENBAO_VERSION=2.7.2
FROM openbao/openbao:${OPENBAO_VERSION} AS bao

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash ca-certificates curl openssl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=bao /bin/bao /usr/local/bin/bao
COPY infra/vault /opt/episante/vault
ENTRYPOINT ["/opt/episante/vault/init.sh"]
