//! The built-in gateway against a real upstream on loopback: what it must not expose, forward or
//! log (issue 15). Requests are written as raw HTTP: an HTTP client would normalise the very paths
//! (`/../`) whose handling is under test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::routing::get;
use axum::Router;
use episante_gateway::Upstreams;
use episante_kit::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that echoes what reached it, and serves a `/metrics` that must stay internal.
async fn echo_upstream() -> String {
    let app = Router::new()
        .route("/metrics", get(|| async { "internal metrics" }))
        .route("/ready", get(|| async { "internal ready" }))
        .fallback(|request: Request| async move {
            let forwarded: Vec<String> = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_string())
                .collect();
            axum::Json(serde_json::json!({
                "path": request.uri().path(),
                "query": request.uri().query(),
                "x_forwarded_for": forwarded,
            }))
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn start_gateway(upstreams: Upstreams) -> (SocketAddr, Shutdown) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(episante_gateway::serve(
        listener,
        upstreams,
        shutdown.clone(),
    ));
    (addr, shutdown)
}

fn everything_at(url: &str) -> Upstreams {
    Upstreams {
        auth: Some(url.into()),
        records: Some(url.into()),
        bookings: Some(url.into()),
        alerts: Some(url.into()),
        devices: Some(url.into()),
        notify: Some(url.into()),
    }
}

/// Sends `GET path` with `headers` as written (HTTP/1.0: no chunked answer) and returns
/// (status, body).
async fn raw(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: gateway\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn internal_endpoints_are_not_reachable_through_dot_segments() {
    let upstream = echo_upstream().await;
    let (gateway, _stop) = start_gateway(everything_at(&upstream)).await;
    // The API itself works.
    let (status, body) = raw(gateway, "/api/v1/patients?archived=true", "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"path\":\"/v1/patients\""), "{body}");
    for path in [
        "/metrics",
        "/ready",
        "/api/v1/auth/../../metrics",
        "/api/v1/auth/%2e%2e/%2e%2e/metrics",
        "/api/v1/auth/%2E%2E/%2e./ready",
        "/api/v1/devices/.%2e/../metrics",
        "/.well-known/../metrics",
        "/.well-known/%2e%2e/metrics",
        "/api/v1/patients/1/vitals/../../../../metrics",
        "/api/v1/auth%2f..%2f..%2fmetrics",
    ] {
        let (status, body) = raw(gateway, path, "").await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("internal"), "{path}: {body}");
        assert!(
            body.contains("\"status\":404"),
            "{path}: problem JSON: {body}"
        );
    }
}

#[tokio::test]
async fn the_client_address_replaces_a_forwarded_for_sent_by_the_client() {
    let upstream = echo_upstream().await;
    let (gateway, _stop) = start_gateway(everything_at(&upstream)).await;
    let (status, body) = raw(
        gateway,
        "/api/v1/auth/login",
        "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 198.51.100.1\r\nForwarded: for=203.0.113.7\r\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        echo["x_forwarded_for"],
        serde_json::json!(["127.0.0.1"]),
        "{echo}"
    );
}

/// Captures everything logged on this (single-threaded) runtime.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_name_the_path_never_the_query_string() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Records is down: the gateway logs the failure.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (gateway, _stop) = start_gateway(everything_at(&closed)).await;
    let (status, _) = raw(
        gateway,
        "/api/v1/patients?name=Dupont&national_id=290017511",
        "",
    )
    .await;
    assert_eq!(status, 502);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("upstream unreachable"), "{logs}");
    assert!(logs.contains("/api/v1/patients"), "{logs}");
    assert!(!logs.contains("Dupont"), "{logs}");
    assert!(!logs.contains("290017511"), "{logs}");
}
