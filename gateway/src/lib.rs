//! The built-in gateway of `episante up`.
//!
//! A deployment puts nginx in front of the services (`infra/nginx/`); on one machine this small
//! reverse proxy gives clients the same single address and the same paths: `/api/v1/X…` goes to
//! the service owning `X` as `/v1/X…`, `/.well-known/jwks.json` to auth. Responses are streamed, so
//! the alerts SSE stream passes through unbuffered. Authentication stays with the services.
//!
//! What it refuses or rewrites, and why:
//! - `X-Forwarded-For` is *replaced* by the peer address (a client's own value would come first
//!   and auth, which trusts the gateway, would throttle logins by an address the client chose).
//! - Paths with dot segments (`..`, `.`, or their `%2e` spellings) or backslashes are 404: the
//!   HTTP client normalises them, so `/api/v1/auth/../../metrics` would reach a service's
//!   `/metrics` (or `/ready`), which the gateway must not expose (nginx: same 404).
//! - Logs name the path only, never the query string, which may hold identifiers.

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
    /// The service for `path` (a request path under `/api` or `/.well-known/jwks.json`); `None`
    /// for anything else, including paths that would be normalised into another one.
    pub fn route(&self, path: &str) -> Option<&str> {
        if !is_plain_path(path) {
            return None;
        }
        if path == "/.well-known/jwks.json" {
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
            // FHIR resources live with the service that owns their data.
            "fhir" => match parts.next() {
                Some("Practitioner" | "Schedule" | "Slot" | "Appointment") => &self.bookings,
                Some("Device") => &self.devices,
                _ => &self.records,
            },
            "care-teams" | "audit" | "records" => &self.records,
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

/// Whether `path` reaches the upstream unchanged: no `.`/`..` segment (also percent-encoded, in
/// any case), no backslash (the URL parser treats it as `/`), no encoded slash.
fn is_plain_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains('\\') || lower.contains("%5c") || lower.contains("%2f") {
        return false;
    }
    lower.split('/').all(|segment| {
        let decoded = segment.replace("%2e", ".");
        decoded != "." && decoded != ".."
    })
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

/// Client-supplied forwarding headers are dropped: the gateway is the edge and states the
/// client address itself.
fn forwarding(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "x-forwarded-for" | "x-real-ip" | "forwarded" | "x-forwarded-host" | "x-forwarded-proto"
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
        if !hop_by_hop(name) && !forwarding(name) {
            outbound = outbound.header(name, value);
        }
    }
    outbound = outbound
        .header("x-forwarded-for", peer.ip().to_string())
        .header("x-forwarded-proto", "http");
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
            // The path only: a query string may carry identifiers, logs must not.
            tracing::warn!(%upstream, %path, error = %error.without_url(), "gateway: upstream unreachable");
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
            ("/api/v1/fhir/metadata", Some("R")),
            ("/api/v1/fhir/Observation", Some("R")),
            ("/api/v1/fhir/Appointment", Some("B")),
            ("/api/v1/fhir/Slot", Some("B")),
            ("/api/v1/fhir/Practitioner/1", Some("B")),
            ("/api/v1/fhir/Schedule", Some("B")),
            ("/api/v1/fhir/Device/hub1", Some("D")),
            ("/api/v1/fhir/Devices", Some("R")),
            ("/api/v1/alerts/stream", Some("L")),
            ("/api/v1/devices", Some("D")),
            ("/api/v1/slots", Some("B")),
            ("/api/v1/appointments/1/cancel", Some("B")),
            ("/api/v1/unknown", None),
            ("/v1/patients", None),
            ("/.well-known/other", None),
            ("/api/v1/patients/search", Some("R")),
            // Dot segments would be normalised by the client into another service path.
            ("/api/v1/auth/../../metrics", None),
            ("/api/v1/auth/%2e%2E/%2E./metrics", None),
            ("/api/v1/patients/./x", None),
            ("/.well-known/../metrics", None),
            ("/api/v1/auth/..\\..\\metrics", None),
            ("/api/v1/auth%2f..%2f..%2fmetrics", None),
            ("/api/v1/auth/%5c..%5cmetrics", None),
            ("/api/v1/patients/a..b", Some("R")),
        ] {
            assert_eq!(u.route(path), owner, "{path}");
        }
    }
}
