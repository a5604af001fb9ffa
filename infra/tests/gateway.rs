//! The nginx gateway (infra/nginx/*.template), run with Debian's real nginx in front of real
//! servers on loopback (echo servers for the routing table, and every EpiSante service in-process): routing of every public path, TLS, body limit, login rate limit, problem
//! JSON for nginx's own errors, and unbuffered server-sent events.

use episante_kit::service::Service;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use episante_infra::template;
use episante_kit::events::EventBus;
use episante_kit::{Secret, Shutdown};
use episante_test_auth::TestAuth;
use episante_testkit::process::ServerProcess;
use episante_testkit::TestDb;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SERVICES: [&str; 5] = ["auth", "records", "bookings", "alerts", "broker"];

fn nginx_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("EPISANTE_NGINX") {
        return PathBuf::from(p);
    }
    let debian = PathBuf::from("/usr/sbin/nginx");
    if debian.is_file() {
        return debian;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("nginx"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("nginx not found: run infra/dev/install-tools.sh"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A port that nothing listens on (bound, then released).
fn closed_port() -> String {
    let port = episante_testkit::net::free_port();
    format!("127.0.0.1:{port}")
}

/// Where the gateway sends each service's traffic.
struct Upstreams(BTreeMap<&'static str, String>);

impl Upstreams {
    /// Every service at an address where nothing listens (→ 502).
    fn closed() -> Self {
        Upstreams(SERVICES.iter().map(|s| (*s, closed_port())).collect())
    }
    fn set(&mut self, service: &'static str, addr: impl Into<String>) {
        assert!(SERVICES.contains(&service), "unknown service {service}");
        self.0.insert(service, addr.into());
    }
}

/// Real nginx running the rendered templates, on free loopback ports.
struct Gateway {
    http: u16,
    https: u16,
    client: reqwest::Client,
    process: ServerProcess,
    dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(upstreams: &Upstreams) -> Gateway {
        Self::start_with(upstreams, "60s").await
    }

    async fn start_with(upstreams: &Upstreams, read_timeout: &str) -> Gateway {
        let nginx = nginx_binary();
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
            let cert_pem = cert.cert.pem();
            std::fs::write(dir.path().join("tls.crt"), &cert_pem).unwrap();
            std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
            let http = episante_testkit::net::free_port();
            let https = episante_testkit::net::free_port();
            let d = dir.path().display().to_string();
            let mut values: BTreeMap<&str, String> = BTreeMap::from([
                ("NGINX_RUN_DIR", d.clone()),
                ("NGINX_CONF_DIR", d.clone()),
                ("NGINX_ERROR_LOG", format!("{d}/error.log")),
                ("NGINX_ACCESS_LOG", format!("{d}/access.log")),
                ("GATEWAY_HTTP_LISTEN", format!("127.0.0.1:{http}")),
                ("GATEWAY_HTTPS_LISTEN", format!("127.0.0.1:{https}")),
                ("GATEWAY_HTTPS_PORT", https.to_string()),
                ("TLS_CERT", format!("{d}/tls.crt")),
                ("TLS_KEY", format!("{d}/tls.key")),
                ("PROXY_READ_TIMEOUT", read_timeout.to_string()),
            ]);
            for (service, addr) in &upstreams.0 {
                values.insert(upstream_var(service), addr.clone());
            }
            render_templates(dir.path(), &values);

            let mut command = Command::new(&nginx);
            let globals = if is_root() {
                "daemon off; master_process off; user root;"
            } else {
                "daemon off; master_process off;"
            };
            command.args([
                "-p",
                &d,
                "-c",
                &format!("{d}/nginx.conf"),
                "-e",
                &format!("{d}/error.log"),
                "-g",
                globals,
            ]);
            let mut process =
                ServerProcess::spawn("nginx", command, &dir.path().join("nginx.out")).unwrap();
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
                .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], https)))
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let up = client
                    .get(format!("http://127.0.0.1:{http}/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if up {
                    return Gateway {
                        http,
                        https,
                        client,
                        process,
                        dir,
                    };
                }
                if let Err(e) = process.ensure_running() {
                    last_error = format!(
                        "{e}\n{}",
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                    );
                    break;
                }
                if Instant::now() > deadline {
                    last_error = "nginx did not answer /health within 10 s".into();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    /// `https://localhost:PORT{path}` (TLS verified against the test certificate).
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https)
    }

    fn plain_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.process.kill();
    }
}

fn upstream_var(service: &str) -> &'static str {
    match service {
        "auth" => "AUTH_UPSTREAM",
        "records" => "RECORDS_UPSTREAM",
        "bookings" => "BOOKINGS_UPSTREAM",
        "alerts" => "ALERTS_UPSTREAM",
        "broker" => "BROKER_UPSTREAM",
        other => panic!("unknown service {other}"),
    }
}

/// Renders both templates into `dir` exactly as compose does (and strictly: a placeholder without
/// a value, or a value without a placeholder, fails).
fn render_templates(dir: &Path, values: &BTreeMap<&str, String>) {
    let nginx_dir = episante_infra::infra_dir().join("nginx");
    let main = std::fs::read_to_string(nginx_dir.join("nginx.conf.template")).unwrap();
    let gateway = std::fs::read_to_string(nginx_dir.join("gateway.conf.template")).unwrap();
    let main_names = template::placeholders(&main);
    let pick = |names: &[String]| -> BTreeMap<&str, String> {
        values
            .iter()
            .filter(|(k, _)| names.iter().any(|n| n == *k))
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    };
    let gateway_names = template::placeholders(&gateway);
    for key in values.keys() {
        assert!(
            main_names.iter().chain(&gateway_names).any(|n| n == key),
            "{key} is used by neither template"
        );
    }
    std::fs::write(
        dir.join("nginx.conf"),
        template::render(&main, &pick(&main_names)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("gateway.conf"),
        template::render(&gateway, &pick(&gateway_names)).unwrap(),
    )
    .unwrap();
}

/// An upstream that answers every request with what it received, as JSON.
async fn echo_upstream(service: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = axum::Router::new()
        .fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                axum::Json(json!({
                    "service": service,
                    "method": method.as_str(),
                    "path": uri.to_string(),
                    "body_len": body.len(),
                    "x_forwarded_for": header("x-forwarded-for"),
                    "x_forwarded_proto": header("x-forwarded-proto"),
                    "x_request_id": header("x-request-id"),
                }))
            },
        )
        .layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn echo_upstreams() -> Upstreams {
    let mut upstreams = Upstreams::closed();
    for service in SERVICES {
        upstreams.set(service, echo_upstream(service).await);
    }
    upstreams
}

async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json", "content type");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    body
}

/// (public path, service, path the service receives). Every public route of the platform.
const ROUTES: &[(&str, &str, &str)] = &[
    ("/api/v1/auth/me", "auth", "/v1/auth/me"),
    (
        "/api/v1/auth/users?role=admin&limit=5",
        "auth",
        "/v1/auth/users?role=admin&limit=5",
    ),
    (
        "/api/v1/auth/users/42/deactivate",
        "auth",
        "/v1/auth/users/42/deactivate",
    ),
    ("/.well-known/jwks.json", "auth", "/.well-known/jwks.json"),
    ("/api/v1/patients", "records", "/v1/patients"),
    (
        "/api/v1/patients?search=dupont",
        "records",
        "/v1/patients?search=dupont",
    ),
    ("/api/v1/patients/p1", "records", "/v1/patients/p1"),
    (
        "/api/v1/patients/p1/care-team",
        "records",
        "/v1/patients/p1/care-team",
    ),
    (
        "/api/v1/patients/p1/vitalsigns",
        "records",
        "/v1/patients/p1/vitalsigns",
    ),
    (
        "/api/v1/care-teams/t1/members",
        "records",
        "/v1/care-teams/t1/members",
    ),
    (
        "/api/v1/audit?patient=p1",
        "records",
        "/v1/audit?patient=p1",
    ),
    ("/api/v1/fhir/Patient/p1", "records", "/v1/fhir/Patient/p1"),
    (
        "/api/v1/records/keys/rotate",
        "records",
        "/v1/records/keys/rotate",
    ),
    (
        "/api/v1/patients/p1/vitals",
        "alerts",
        "/v1/patients/p1/vitals",
    ),
    (
        "/api/v1/patients/p1/vitals?kind=spo2&from=1",
        "alerts",
        "/v1/patients/p1/vitals?kind=spo2&from=1",
    ),
    (
        "/api/v1/patients/p1/alert-rules",
        "alerts",
        "/v1/patients/p1/alert-rules",
    ),
    (
        "/api/v1/patients/p1/alert-rules/r7",
        "alerts",
        "/v1/patients/p1/alert-rules/r7",
    ),
    ("/api/v1/alerts", "alerts", "/v1/alerts"),
    (
        "/api/v1/alerts/a1/acknowledge",
        "alerts",
        "/v1/alerts/a1/acknowledge",
    ),
    ("/api/v1/alerts/stream", "alerts", "/v1/alerts/stream"),
    ("/api/v1/appointments", "bookings", "/v1/appointments"),
    (
        "/api/v1/appointments/b1/cancel",
        "bookings",
        "/v1/appointments/b1/cancel",
    ),
    (
        "/api/v1/appointment-types",
        "bookings",
        "/v1/appointment-types",
    ),
    (
        "/api/v1/practitioners/d1/schedule",
        "bookings",
        "/v1/practitioners/d1/schedule",
    ),
    (
        "/api/v1/slots?practitioner=d1",
        "bookings",
        "/v1/slots?practitioner=d1",
    ),
    ("/api/v1/waitlist/w1", "bookings", "/v1/waitlist/w1"),
    ("/api/v1/devices", "broker", "/v1/devices"),
    (
        "/api/v1/devices/hub1/rotate",
        "broker",
        "/v1/devices/hub1/rotate",
    ),
    ("/api/openapi/auth.json", "auth", "/openapi.json"),
    ("/api/openapi/records.json", "records", "/openapi.json"),
    ("/api/openapi/bookings.json", "bookings", "/openapi.json"),
    ("/api/openapi/alerts.json", "alerts", "/openapi.json"),
    ("/api/openapi/devices.json", "broker", "/openapi.json"),
];

#[tokio::test]
async fn every_public_route_reaches_its_service_with_the_api_prefix_stripped() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    for (public, service, internal) in ROUTES {
        let response = gateway
            .client
            .get(gateway.url(public))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{public}");
        let echo: Value = response.json().await.unwrap();
        assert_eq!(echo["service"], *service, "{public} → {echo}");
        assert_eq!(echo["path"], *internal, "{public} → {echo}");
    }
    // Plain HTTP serves no route: it redirects to HTTPS (see plain_http_only_redirects_to_https).
    let redirected = no_redirects()
        .post(gateway.plain_url("/api/v1/devices"))
        .json(&json!({"device_id": "hub1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), 308);

    // Internal endpoints and unknown paths are not exposed.
    for path in [
        "/metrics",
        "/v1/auth/me",
        "/ready",
        "/api/v2/patients",
        "/api/v1/unknown",
        "/",
    ] {
        let body = assert_problem(
            gateway.client.get(gateway.url(path)).send().await.unwrap(),
            404,
        )
        .await;
        assert_eq!(body["title"], "Not Found", "{path}");
    }
}

#[tokio::test]
async fn forwarding_headers_are_set_by_the_gateway() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    // A client cannot choose the address auth throttles by.
    let response = gateway
        .client
        .get(gateway.url("/api/v1/auth/me"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc.123");
    let hsts = response.headers().get("strict-transport-security").cloned();
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["x_forwarded_for"], "127.0.0.1");
    assert_eq!(echo["x_forwarded_proto"], "https");
    assert_eq!(echo["x_request_id"], "trace-abc.123");
    assert!(hsts.is_some(), "HSTS on TLS");

    // No id, or an unsafe one: the gateway makes one, passes it on and returns it.
    for given in [None, Some("bad id\u{7f}with spaces")] {
        let mut request = gateway.client.get(gateway.url("/api/v1/patients"));
        if let Some(id) = given {
            request = request.header("x-request-id", id.replace('\u{7f}', ""));
        }
        let response = request.send().await.unwrap();
        let returned = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let echo: Value = response.json().await.unwrap();
        assert_eq!(returned.len(), 32, "{returned}");
        assert!(
            returned.chars().all(|c| c.is_ascii_hexdigit()),
            "{returned}"
        );
        assert_eq!(echo["x_request_id"], returned.as_str());
    }
    let plain = no_redirects()
        .get(gateway.plain_url("/api/v1/patients"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("strict-transport-security").is_none());
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Issue 15: the API is served over TLS only. Plain HTTP answers the container healthcheck and
/// redirects everything else to the same path on HTTPS, keeping the method (308).
#[tokio::test]
async fn plain_http_only_redirects_to_https() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    let http = no_redirects();
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/patients?archived=true"),
        (reqwest::Method::POST, "/api/v1/auth/login"),
        (reqwest::Method::GET, "/.well-known/jwks.json"),
        (reqwest::Method::GET, "/metrics"),
    ] {
        let answer = http
            .request(method.clone(), gateway.plain_url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 308, "{method} {path}");
        assert_eq!(
            answer.headers()["location"],
            format!("https://127.0.0.1:{}{path}", gateway.https).as_str(),
            "{method} {path}"
        );
        let body = answer.text().await.unwrap();
        assert!(
            !body.contains("\"service\""),
            "{path}: no upstream answered: {body}"
        );
    }
    let health = http.get(gateway.plain_url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Following the redirect lands on the TLS API.
    let echo: Value = gateway
        .client
        .get(format!("http://localhost:{}/api/v1/slots", gateway.http))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["service"], "bookings");
    assert_eq!(echo["x_forwarded_proto"], "https");
}

/// Issue 15: the access log (shipped to Loki) keeps paths, never query strings.
#[tokio::test]
async fn the_access_log_has_no_query_strings() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    for path in [
        "/api/v1/patients?name=Dupont&national_id=290017511",
        "/api/v1/alerts?patient_id=5b0c0f6e-0000-4000-8000-00000000beef",
        "/api/v1/nothing?name=Dupont",
    ] {
        gateway.client.get(gateway.url(path)).send().await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = gateway.access_log();
        if log.lines().count() >= 3 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let uris: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["uri"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        uris,
        ["/api/v1/patients", "/api/v1/alerts", "/api/v1/nothing"],
        "{log}"
    );
    for secret in [
        "Dupont",
        "290017511",
        "5b0c0f6e-0000-4000-8000-00000000beef",
    ] {
        assert!(!log.contains(secret), "{secret} in the access log: {log}");
    }
}

/// Issue 15: no spelling of a path reaches a service's /metrics or /ready through the gateway
/// (nginx resolves dot segments before it matches routes; curl --path-as-is sends them as is).
#[tokio::test]
async fn internal_endpoints_are_not_reachable_by_any_spelling() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    for path in [
        "/metrics",
        "/api/v1/auth/../../metrics",
        "/api/v1/auth/%2e%2e/%2e%2e/metrics",
        "/api/v1/patients/x/vitals/../../../../ready",
        "/.well-known/../metrics",
        "/api/v1/devices/..%2f..%2fmetrics",
    ] {
        let output = Command::new("curl")
            .args([
                "-sk",
                "--path-as-is",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "--resolve",
                &format!("localhost:{}:127.0.0.1", gateway.https),
                &gateway.url(path),
            ])
            .output()
            .expect("curl runs");
        let out = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, status) = out.rsplit_once('\n').unwrap();
        assert!(
            status == "404" || status == "400",
            "{path}: {status} {body}"
        );
        assert!(
            !body.contains("\"service\""),
            "{path} reached a service: {body}"
        );
    }
}

#[tokio::test]
async fn tls_is_terminated_with_the_configured_certificate() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    // Verified against the test CA by name.
    let response = gateway
        .client
        .get(gateway.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A client that does not trust the certificate refuses the connection.
    let strict = reqwest::Client::builder()
        .resolve(
            "localhost",
            SocketAddr::from(([127, 0, 0, 1], gateway.https)),
        )
        .build()
        .unwrap();
    let err = strict.get(gateway.url("/health")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // TLS on the plain port is not accepted either (no accidental plaintext on 443).
    let plain_on_tls = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/health", gateway.https))
        .send()
        .await
        .unwrap();
    assert_eq!(plain_on_tls.status(), 400);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_get_a_413_problem() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    let small = vec![b'x'; 1000 * 1024];
    let echo: Value = gateway
        .client
        .post(gateway.url("/api/v1/devices"))
        .body(small)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["body_len"], 1000 * 1024);

    let big = vec![b'x'; 2 * 1024 * 1024];
    let response = gateway
        .client
        .post(gateway.url("/api/v1/devices"))
        .body(big)
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 413).await;
    assert_eq!(body["title"], "Payload Too Large");
}

#[tokio::test]
async fn a_login_flood_gets_429_problems_and_other_routes_do_not() {
    let gateway = Gateway::start(&echo_upstreams().await).await;
    let mut statuses = vec![];
    let mut limited = None;
    for _ in 0..12 {
        let response = gateway
            .client
            .post(gateway.url("/api/v1/auth/login"))
            .json(&json!({"email": "a@b.c", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 && limited.is_none() {
            assert_eq!(response.headers()["retry-after"], "6");
            assert!(response.headers().get("x-request-id").is_some());
            limited = Some(assert_problem(response, 429).await);
        }
    }
    // 1 + burst 5 pass, the rest are refused.
    assert_eq!(&statuses[..6], &[200; 6], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(limited.unwrap()["title"], "Too Many Requests");
    // The client-credentials endpoint shares the budget.
    let token = gateway
        .client
        .post(gateway.url("/api/v1/auth/token"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 429);
    // Other auth routes are not limited.
    for _ in 0..20 {
        let r = gateway
            .client
            .get(gateway.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(
        gateway.error_log().contains("limiting requests"),
        "nginx logs the limiting"
    );
}

/// Accepts connections and never answers.
async fn silent_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

#[tokio::test]
async fn an_unreachable_or_silent_service_gets_502_and_504_problems() {
    let mut upstreams = Upstreams::closed();
    upstreams.set("auth", echo_upstream("auth").await);
    upstreams.set("bookings", silent_upstream().await);
    let gateway = Gateway::start_with(&upstreams, "2s").await;

    let body = assert_problem(
        gateway
            .client
            .get(gateway.url("/api/v1/patients"))
            .send()
            .await
            .unwrap(),
        502,
    )
    .await;
    assert_eq!(body["title"], "Bad Gateway");
    assert_problem(
        gateway
            .client
            .post(gateway.url("/api/v1/devices"))
            .send()
            .await
            .unwrap(),
        502,
    )
    .await;

    let started = Instant::now();
    let body = assert_problem(
        gateway
            .client
            .get(gateway.url("/api/v1/slots"))
            .send()
            .await
            .unwrap(),
        504,
    )
    .await;
    assert_eq!(body["title"], "Gateway Timeout");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The live service still answers.
    let ok = gateway
        .client
        .get(gateway.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// An SSE upstream that sends one event, then holds the stream open until the test says the
/// event arrived through the gateway (or 10 s pass), then sends a second one and ends.
/// Returns its address and a channel telling whether the client saw the first event in time.
async fn slow_sse_upstream() -> (
    String,
    tokio::sync::mpsc::Sender<()>,
    tokio::sync::oneshot::Receiver<bool>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (result_tx, result_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![];
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "request ended early");
            request.extend_from_slice(&buf[..n]);
        }
        let chunk = |s: &str| format!("{:x}\r\n{s}\r\n", s.len());
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        socket
            .write_all(
                chunk("id: 1\nevent: alert\ndata: {\"severity\":\"critical\"}\n\n").as_bytes(),
            )
            .await
            .unwrap();
        socket.flush().await.unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
            .await
            .is_ok();
        socket
            .write_all(chunk("id: 2\nevent: alert\ndata: {\"severity\":\"low\"}\n\n").as_bytes())
            .await
            .unwrap();
        socket.write_all(b"0\r\n\r\n").await.unwrap();
        socket.flush().await.unwrap();
        let _ = result_tx.send(seen);
    });
    (addr, seen_tx, result_rx)
}

#[tokio::test]
async fn server_sent_events_pass_through_unbuffered() {
    let mut upstreams = echo_upstreams().await;
    let (sse, seen, result) = slow_sse_upstream().await;
    upstreams.set("alerts", sse);
    let gateway = Gateway::start(&upstreams).await;

    let started = Instant::now();
    let mut response = gateway
        .client
        .get(gateway.url("/api/v1/alerts/stream"))
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(
        response.headers().get("content-encoding").is_none(),
        "no gzip on SSE"
    );
    let mut received = String::new();
    while !received.contains("id: 1") {
        let chunk = tokio::time::timeout(Duration::from_secs(8), response.chunk())
            .await
            .expect("the first event must arrive while the upstream still holds the stream open")
            .unwrap()
            .expect("stream ended before the first event");
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let first_after = started.elapsed();
    seen.send(()).await.unwrap();
    while let Some(chunk) = response.chunk().await.unwrap() {
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        result.await.unwrap(),
        "the upstream was still waiting when the first event arrived"
    );
    assert!(
        first_after < Duration::from_secs(5),
        "first event after {first_after:?}"
    );
    assert!(received.contains("id: 2"), "{received}");
    assert!(received.contains("\"severity\":\"critical\""), "{received}");
}

// --- the real services behind the gateway ---------------------------------------------------

/// A service running in-process on a loopback port with its own database; stops when dropped.
struct InProcess {
    addr: String,
    shutdown: Shutdown,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn loopback() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// The broker (registry API + MQTT listener, in-memory event bus).
async fn start_broker(auth: &TestAuth) -> InProcess {
    let (db, dir, shutdown) = (TestDb::new(), tempfile::tempdir().unwrap(), Shutdown::new());
    let settings = episante_broker::config::Settings {
        broker: episante_broker::config::BrokerConfig {
            mqtt_bind: "127.0.0.1:0".into(),
            database: db.service_database(),
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        kafka: Default::default(),
        database: db.config(),
        tokens: auth.token_config(),
        vault: Default::default(),
        log: Default::default(),
    };
    let (listener, addr) = loopback().await;
    let service = episante_broker::build(settings, shutdown.clone())
        .await
        .expect("broker builds");
    tokio::spawn(episante_broker::serve(service, listener, shutdown.clone()));
    InProcess {
        addr,
        shutdown,
        _db: db,
        _dir: dir,
    }
}

/// Records with local keys (no Vault), calling auth and the broker registry directly.
async fn start_records(auth: &TestAuth, registry: &str, bus: Arc<dyn EventBus>) -> InProcess {
    let (db, dir, shutdown) = (TestDb::new(), tempfile::tempdir().unwrap(), Shutdown::new());
    let (client_id, client_secret) = auth
        .create_service_client_with_scopes("records-gw", &[episante_kit::Scope::DevicesRead])
        .await;
    let settings = episante_records::config::Settings {
        records: episante_records::config::RecordsConfig {
            database: db.service_database(),
            data_dir: dir.path().to_path_buf(),
            auth_url: auth.base.clone(),
            registry_url: format!("http://{registry}"),
            alerts_url: None,
            client_id,
            client_secret: Some(Secret::new(client_secret)),
            ..Default::default()
        },
        database: db.config(),
        tokens: auth.token_config(),
        vault: Default::default(),
        kafka: Default::default(),
        log: Default::default(),
    };
    let (listener, addr) = loopback().await;
    let service = episante_records::RecordsService::build(settings, bus, shutdown.clone())
        .await
        .expect("records builds");
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    InProcess {
        addr,
        shutdown,
        _db: db,
        _dir: dir,
    }
}

async fn start_bookings(auth: &TestAuth, bus: Arc<dyn EventBus>) -> InProcess {
    let (db, dir, shutdown) = (TestDb::new(), tempfile::tempdir().unwrap(), Shutdown::new());
    let settings = episante_bookings::config::Settings {
        bookings: episante_bookings::config::BookingsConfig {
            database: db.service_database(),
            ..Default::default()
        },
        database: db.config(),
        tokens: auth.token_config(),
        kafka: Default::default(),
        log: Default::default(),
    };
    let (listener, addr) = loopback().await;
    let service = episante_bookings::BookingsService::build(settings, bus, shutdown.clone())
        .await
        .expect("bookings builds");
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    InProcess {
        addr,
        shutdown,
        _db: db,
        _dir: dir,
    }
}

async fn start_alerts(auth: &TestAuth, bus: Arc<dyn EventBus>) -> InProcess {
    let (db, dir, shutdown) = (TestDb::new(), tempfile::tempdir().unwrap(), Shutdown::new());
    let settings = episante_alerts::config::Settings {
        alerts: episante_alerts::config::AlertsConfig {
            database: db.service_database(),
            ..Default::default()
        },
        database: db.config(),
        tokens: auth.token_config(),
        vault: Default::default(),
        kafka: Default::default(),
        log: Default::default(),
    };
    let (listener, addr) = loopback().await;
    let service = episante_alerts::AlertsService::build(settings, bus, shutdown.clone())
        .await
        .expect("alerts builds");
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    InProcess {
        addr,
        shutdown,
        _db: db,
        _dir: dir,
    }
}

#[tokio::test]
async fn login_and_the_device_registry_work_through_the_gateway() {
    let auth = TestAuth::start().await;
    let bus = episante_kit::events::connect(&Default::default()).expect("in-memory event bus");
    let broker = start_broker(&auth).await;
    let records = start_records(&auth, &broker.addr, bus.clone()).await;
    let bookings = start_bookings(&auth, bus.clone()).await;
    let alerts = start_alerts(&auth, bus.clone()).await;
    let mut upstreams = Upstreams::closed();
    upstreams.set("auth", auth.base.trim_start_matches("http://"));
    upstreams.set("broker", broker.addr.clone());
    upstreams.set("records", records.addr.clone());
    upstreams.set("bookings", bookings.addr.clone());
    upstreams.set("alerts", alerts.addr.clone());
    let gateway = Gateway::start(&upstreams).await;
    let http = &gateway.client;

    let login: Value = http
        .post(gateway.url("/api/v1/auth/login"))
        .json(&json!({
            "email": episante_test_auth::ADMIN_EMAIL,
            "password": episante_test_auth::ADMIN_PASSWORD,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"));

    let me = http
        .get(gateway.url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], episante_test_auth::ADMIN_EMAIL, "{me}");

    // Auth's own problem JSON passes through untouched.
    let anonymous = http
        .get(gateway.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401).await;

    let jwks: Value = http
        .get(gateway.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty(), "{jwks}");

    let created = http
        .post(gateway.url("/api/v1/devices"))
        .bearer_auth(token)
        .json(&json!({"device_id": "gatewayhub1", "label": "through nginx"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert!(created["certificate_pem"].is_string(), "{created}");
    let devices: Value = http
        .get(gateway.url("/api/v1/devices"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(devices.to_string().contains("gatewayhub1"), "{devices}");
    let one = http
        .get(gateway.url("/api/v1/devices/gatewayhub1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);

    let openapi: Value = http
        .get(gateway.url("/api/openapi/auth.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["openapi"].is_string());

    // Every service answers its own routes through the gateway, with the admin's token.
    for (path, service) in [
        ("/api/v1/patients", "records"),
        ("/api/v1/care-teams", "records"),
        ("/api/v1/appointment-types", "bookings"),
        ("/api/v1/practitioners", "bookings"),
        ("/api/v1/alerts", "alerts"),
        ("/api/openapi/records.json", "records"),
        ("/api/openapi/bookings.json", "bookings"),
        ("/api/openapi/alerts.json", "alerts"),
        ("/api/openapi/devices.json", "broker"),
    ] {
        let response = http
            .get(gateway.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{path} ({service}): {body}");
    }
    // Without a token, the services' own 401 problem comes back through the gateway.
    for path in [
        "/api/v1/patients",
        "/api/v1/appointments",
        "/api/v1/alerts",
        "/api/v1/devices",
    ] {
        assert_problem(http.get(gateway.url(path)).send().await.unwrap(), 401).await;
    }
}
