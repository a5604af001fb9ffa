//! The built-in gateway of `episante up`.
//!
//! A deployment puts nginx in front of the services (`infra/nginx/`); on one machine this small
//! reverse proxy gives clients the same single address and the same paths: `/api/v1/X…` goes to
//! the service owning `X` as `/v1/X…`, `/.well-known/jwks.json` to auth. Responses are streamed, so
//! the alerts SSE stream passes through unbuffered. It adds `X-Forwarded-For` and nothing else:
//! authentication stays with the services.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use episante_kit::problem::problem_response;
use episante_kit::Shutdown;

/// Base URLs of the services (no trailing slash); `None` for one that is not running.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    pub auth: Option<String>,
    pub records: Option<String>,
    pub bookings: Option<String>,
    pub alerts: Option<String>,
    pub devices: Option<String>,
}

impl Upstreams {
    /// The service for `path` (a request path under `/api` or `/.well-known`).
    pub fn route(&self, path: &str) -> Option<&str> {
        if path.starts_with("/.well-known/") {
            return self.auth.as_deref();
        }
        let rest = path.strip_prefix("/api/v1/")?;
        let mut parts = rest.split('/');
        let first = parts.next().unwrap_or_default();
        let owner = match first {
            "auth" => &self.auth,
            "patients" => {
                let _id = parts.next();
                match parts.next() {
                    Some("vitals") | Some("alert-rules") => &self.alerts,
                    _ => &self.records,
                }
            }
            "care-teams" | "audit" | "fhir" | "records" => &self.records,
            "alerts" => &self.alerts,
            "devices" => &self.devices,
            "appointments" | "practitioners" | "slots" | "appointment-types" | "waitlist" => {
                &self.bookings
            }
            _ => return None,
        };
        owner.as_deref()
    }
}

struct Gateway {
    upstreams: Upstreams,
    http: reqwest::Client,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

async fn proxy(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let path = request.uri().path().to_string();
    let Some(upstream) = gw.upstreams.route(&path) else {
        return problem_response(StatusCode::NOT_FOUND, format!("no API at {path}"));
    };
    let target = format!(
        "{upstream}{}{}",
        path.strip_prefix("/api").unwrap_or(&path),
        request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    let (parts, body) = request.into_parts();
    let mut outbound = gw.http.request(parts.method, &target);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            outbound = outbound.header(name, value);
        }
    }
    outbound = outbound.header("x-forwarded-for", peer.ip().to_string());
    let answer = outbound
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    match answer {
        Ok(upstream_response) => {
            let mut response = Response::builder().status(upstream_response.status());
            for (name, value) in upstream_response.headers() {
                if !hop_by_hop(name) {
                    response = response.header(name, value);
                }
            }
            response
                .body(Body::from_stream(upstream_response.bytes_stream()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(error) => {
            tracing::warn!(%target, %error, "gateway: upstream unreachable");
            problem_response(
                StatusCode::BAD_GATEWAY,
                "the service behind this path is unavailable",
            )
        }
    }
}

/// Serves the gateway on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    upstreams: Upstreams,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let gateway = Arc::new(Gateway {
        upstreams,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client"),
    });
    let app = Router::new().fallback(proxy).with_state(gateway);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.wait_owned())
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_like_the_nginx_gateway() {
        let u = Upstreams {
            auth: Some("A".into()),
            records: Some("R".into()),
            bookings: Some("B".into()),
            alerts: Some("L".into()),
            devices: Some("D".into()),
        };
        for (path, owner) in [
            ("/api/v1/auth/login", Some("A")),
            ("/.well-known/jwks.json", Some("A")),
            ("/api/v1/patients", Some("R")),
            ("/api/v1/patients/123", Some("R")),
            ("/api/v1/patients/123/history", Some("R")),
            ("/api/v1/patients/123/vitals", Some("L")),
            ("/api/v1/patients/123/alert-rules", Some("L")),
            ("/api/v1/care-teams/x", Some("R")),
            ("/api/v1/fhir/Patient/1", Some("R")),
            ("/api/v1/alerts/stream", Some("L")),
            ("/api/v1/devices", Some("D")),
            ("/api/v1/slots", Some("B")),
            ("/api/v1/appointments/1/cancel", Some("B")),
            ("/api/v1/unknown", None),
            ("/v1/patients", None),
        ] {
            assert_eq!(u.route(path), owner, "{path}");
        }
    }
}
