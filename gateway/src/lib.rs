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
//!
//! It also keeps browser sessions (`session`: the portal holds a cookie, never a token) and serves
//! the web portal's built files at every other path (`web/dist`, with `index.html` for the
//! portal's own routes), under a strict Content-Security-Policy.

pub mod config;
pub mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use episante_kit::problem::problem_response;
use episante_kit::Shutdown;
use serde_json::json;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::session::{Access, SessionStore, TokenAnswer};

/// Base URLs of the services (no trailing slash); `None` for one that is not running.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Upstreams {
    pub auth: Option<String>,
    pub records: Option<String>,
    pub bookings: Option<String>,
    pub alerts: Option<String>,
    pub devices: Option<String>,
    pub notify: Option<String>,
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
            "notifications" => &self.notify,
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
    sessions: SessionStore,
    /// Whether the portal is served over TLS (cookies get `Secure`).
    secure_cookies: bool,
}

/// What the gateway serves besides the API.
#[derive(Debug, Clone, Default)]
pub struct Portal {
    /// The portal's built files (`web/dist`); `None`: API only.
    pub dir: Option<PathBuf>,
    /// The gateway sits behind TLS: session cookies are `Secure`.
    pub behind_tls: bool,
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
    let (mut parts, body) = request.into_parts();
    if let Err(refused) = bearer_from_session(&gw, &mut parts.method, &mut parts.headers).await {
        return refused;
    }
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

/// For a request carrying the session cookie (and no `Authorization` of its own): checks the
/// CSRF token of a state-changing request and puts the session's access token in
/// `Authorization`. The cookie never reaches a service.
async fn bearer_from_session(
    gw: &Gateway,
    method: &mut Method,
    headers: &mut HeaderMap,
) -> Result<(), Response> {
    let id = session::cookie_of(headers);
    session::strip_cookie(headers);
    let Some(id) = id else { return Ok(()) };
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(());
    }
    let Some(current) = gw.sessions.get(&id) else {
        return Err(session_ended(gw));
    };
    if session::changes_state(method) && !current.csrf_ok(headers) {
        return Err(problem_response(
            StatusCode::FORBIDDEN,
            "a state-changing request of a browser session needs its X-CSRF-Token",
        ));
    }
    match gw.sessions.access(&id, &current, |r| refresh(gw, r)).await {
        Access::Bearer(token) => {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| problem_response(StatusCode::BAD_GATEWAY, "unusable token"))?;
            headers.insert(header::AUTHORIZATION, value);
            Ok(())
        }
        Access::Ended => Err(session_ended(gw)),
        Access::Unavailable => Err(problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the session could not be renewed: auth is unavailable, try again shortly",
        )),
    }
}

/// 401 that also expires the browser's cookie.
fn session_ended(gw: &Gateway) -> Response {
    let mut response = problem_response(
        StatusCode::UNAUTHORIZED,
        "no session: log in again (it ended or expired)",
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(None, gw.secure_cookies),
    );
    response
}

/// Auth's refresh: `Ok(Some)` new tokens, `Ok(None)` refused, `Err` auth unreachable or failing.
async fn refresh(gw: &Gateway, refresh_token: String) -> Result<Option<TokenAnswer>, ()> {
    let auth = gw.upstreams.auth.as_deref().ok_or(())?;
    let answer = gw
        .http
        .post(format!("{auth}/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .map_err(|_| ())?;
    match answer.status() {
        s if s.is_success() => answer.json().await.map(Some).map_err(|_| ()),
        s if s.is_client_error() => Ok(None),
        _ => Err(()),
    }
}

/// Who is logged in, as auth's `/v1/auth/me` says, with the session's CSRF token.
async fn session_body(
    gw: &Gateway,
    auth: &str,
    token: &str,
    csrf: &str,
) -> Result<Response, Response> {
    let me = gw
        .http
        .get(format!("{auth}/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|_| unavailable())?;
    if !me.status().is_success() {
        return Err(passthrough(me).await);
    }
    let me: serde_json::Value = me.json().await.map_err(|_| unavailable())?;
    Ok(axum::Json(json!({ "csrf_token": csrf, "me": me })).into_response())
}

fn unavailable() -> Response {
    problem_response(StatusCode::BAD_GATEWAY, "auth is unavailable")
}

/// An upstream answer (a problem, usually) passed on with its status and body.
async fn passthrough(answer: reqwest::Response) -> Response {
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = (status, body).into_response();
    if let Some(value) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// `POST /api/v1/session`: logs in through auth (same body as `/v1/auth/login`) and opens a
/// browser session; an earlier session of this browser is closed (no fixation).
async fn login(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(auth) = gw.upstreams.auth.clone() else {
        return unavailable();
    };
    // Login CSRF: another site's form can post here (a `text/plain` body shaped like JSON) and
    // log the browser into the attacker's account. Forms cannot send `application/json` without
    // a CORS preflight, which this gateway never grants.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json {
        return problem_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "log in with a JSON body (Content-Type: application/json)",
        );
    }
    if let Some(old) = session::cookie_of(&headers) {
        gw.sessions.close(&old).await;
    }
    let answer = gw
        .http
        .post(format!("{auth}/v1/auth/login"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", peer.ip().to_string())
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(a) if a.status().is_success() => a,
        Ok(refused) => return passthrough(refused).await,
        Err(_) => return unavailable(),
    };
    let Ok(tokens) = answer.json::<TokenAnswer>().await else {
        return unavailable();
    };
    let access = tokens.access_token.clone();
    let Some((id, opened)) = gw.sessions.open(tokens) else {
        return unavailable();
    };
    match session_body(&gw, &auth, &access, &opened.csrf).await {
        Ok(mut response) => {
            response.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(Some(&id), gw.secure_cookies),
            );
            response
        }
        Err(e) => e,
    }
}

/// `GET /api/v1/session`: who this browser is logged in as, and its CSRF token.
async fn current(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let (Some(auth), Some(id)) = (gw.upstreams.auth.clone(), session::cookie_of(&headers)) else {
        return session_ended(&gw);
    };
    let Some(current) = gw.sessions.get(&id) else {
        return session_ended(&gw);
    };
    match gw.sessions.access(&id, &current, |r| refresh(&gw, r)).await {
        Access::Bearer(token) => session_body(&gw, &auth, &token, &current.csrf)
            .await
            .unwrap_or_else(|e| e),
        Access::Ended => session_ended(&gw),
        Access::Unavailable => unavailable(),
    }
}

/// `DELETE /api/v1/session`: ends the session at auth (everywhere) and here.
async fn logout(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let mut done = StatusCode::NO_CONTENT.into_response();
    done.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(None, gw.secure_cookies),
    );
    let Some(id) = session::cookie_of(&headers) else {
        return done;
    };
    let Some(current) = gw.sessions.get(&id) else {
        return done;
    };
    if !current.csrf_ok(&headers) {
        return problem_response(
            StatusCode::FORBIDDEN,
            "logging out of a browser session needs its X-CSRF-Token",
        );
    }
    if let (Some(refresh), Some(auth)) = (gw.sessions.close(&id).await, &gw.upstreams.auth) {
        let revoked = gw
            .http
            .post(format!("{auth}/v1/auth/logout"))
            .json(&json!({ "refresh_token": refresh }))
            .send()
            .await;
        if let Err(error) = revoked {
            tracing::warn!(error = %error.without_url(), "gateway: logout not confirmed by auth");
        }
    }
    done
}

/// Served with every portal file: scripts and styles from this origin only, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The gateway's routes: the session endpoints, the API, and the portal at every other path.
fn app(upstreams: Upstreams, portal: Portal) -> Router {
    let gateway = Arc::new(Gateway {
        upstreams,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client"),
        sessions: SessionStore::default(),
        secure_cookies: portal.behind_tls,
    });
    let api = Router::new()
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/api/v1/session", post(login).get(current).delete(logout))
        .route("/api/{*rest}", axum::routing::any(proxy))
        .route("/.well-known/{*rest}", axum::routing::any(proxy));
    let site = match portal.dir {
        Some(dir) => {
            let files = ServeDir::new(&dir).fallback(ServeFile::new(dir.join("index.html")));
            Router::new()
                .fallback_service(files)
                .layer(SetResponseHeaderLayer::overriding(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
        }
        None => Router::new().fallback(|request: Request| async move {
            problem_response(
                StatusCode::NOT_FOUND,
                format!("no API at {}", request.uri().path()),
            )
        }),
    };
    api.with_state(gateway).merge(site)
}

/// Serves the gateway (API only) on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    upstreams: Upstreams,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    serve_with_portal(listener, upstreams, Portal::default(), shutdown).await
}

/// Serves the gateway and the web portal on `listener` until `shutdown`.
pub async fn serve_with_portal(
    listener: tokio::net::TcpListener,
    upstreams: Upstreams,
    portal: Portal,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(upstreams, portal).into_make_service_with_connect_info::<SocketAddr>(),
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
            notify: Some("N".into()),
        };
        for (path, owner) in [
            ("/api/v1/notifications/deliveries", Some("N")),
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
