//! Browser sessions at the gateway against a real auth service: the cookie replaces the token,
//! CSRF guards state changes, logout ends the session, and nothing token-like reaches the page
//! or a service's cookie header. Plus the portal's files, served under a strict CSP.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::Router;
use episante_gateway::{Portal, Upstreams};
use episante_kit::{Role, Shutdown};
use episante_test_auth::{TestAuth, USER_PASSWORD};
use reqwest::header::{CONTENT_SECURITY_POLICY, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// An upstream that says which credentials reached it.
async fn echo_upstream() -> String {
    let app = Router::new().fallback(|request: Request| async move {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or_default().to_string())
        };
        axum::Json(json!({
            "method": request.method().as_str(),
            "authorization": header("authorization"),
            "cookie": header("cookie"),
        }))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

struct Site {
    base: String,
    http: reqwest::Client,
    _portal: tempfile::TempDir,
    _shutdown: Shutdown,
}

async fn start(auth: &TestAuth) -> Site {
    let echo = echo_upstream().await;
    let portal = tempfile::tempdir().unwrap();
    std::fs::write(
        portal.path().join("index.html"),
        "<!doctype html><title>portal</title>",
    )
    .unwrap();
    std::fs::create_dir(portal.path().join("assets")).unwrap();
    std::fs::write(portal.path().join("assets/app.js"), "console.log('portal')").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(episante_gateway::serve_with_portal(
        listener,
        Upstreams {
            auth: Some(auth.base.clone()),
            records: Some(echo.clone()),
            bookings: Some(echo.clone()),
            alerts: Some(echo.clone()),
            devices: Some(echo),
            notify: None,
        },
        Portal {
            dir: Some(portal.path().to_path_buf()),
            behind_tls: false,
        },
        shutdown.clone(),
    ));
    Site {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _portal: portal,
        _shutdown: shutdown,
    }
}

/// The session cookie (`name=value`) a response set.
fn cookie(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn a_browser_session_holds_a_cookie_never_a_token_and_logout_ends_it() {
    let auth = TestAuth::start().await;
    let clinician = auth.create_user(Role::Clinician, "Dr Cookie").await;
    let site = start(&auth).await;
    let session = format!("{}/api/v1/session", site.base);

    // A wrong password: auth's problem, no cookie.
    let refused = site
        .http
        .post(&session)
        .json(&json!({"email": clinician.email, "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get(SET_COOKIE).is_none());

    // Another site's form cannot log this browser into some account (login CSRF): a form can
    // send JSON-shaped text, not `application/json`.
    let forged = site
        .http
        .post(&session)
        .header("content-type", "text/plain")
        .body(json!({"email": clinician.email, "password": USER_PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(forged.headers().get(SET_COOKIE).is_none());

    let login = site
        .http
        .post(&session)
        .json(&json!({"email": clinician.email, "password": USER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = cookie(&login);
    let text = login.text().await.unwrap();
    assert!(
        !text.contains("access_token") && !text.contains("refresh_token") && !text.contains("eyJ"),
        "no token reaches the page: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["me"]["role"], "clinician");
    let csrf = body["csrf_token"].as_str().unwrap().to_string();

    // Reads with the cookie reach the service with a bearer token and without the cookie.
    let read: Value = site
        .http
        .get(format!("{}/api/v1/patients", site.base))
        .header("cookie", format!("theme=dark; {cookie}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(read["authorization"]
        .as_str()
        .unwrap()
        .starts_with("Bearer ey"));
    assert_eq!(
        read["cookie"], "theme=dark",
        "the session cookie stays at the gateway"
    );

    // Writes need the CSRF token.
    for header in [None, Some("not-the-token")] {
        let mut request = site
            .http
            .post(format!("{}/api/v1/patients", site.base))
            .header("cookie", &cookie)
            .json(&json!({}));
        if let Some(value) = header {
            request = request.header("x-csrf-token", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let problem: Value = response.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("X-CSRF-Token"));
    }
    let write = site
        .http
        .post(format!("{}/api/v1/patients", site.base))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::OK);
    let write: Value = write.json().await.unwrap();
    assert_eq!(write["method"], "POST");

    // A forged cookie is refused and cleared.
    let forged = site
        .http
        .get(format!("{}/api/v1/patients", site.base))
        .header("cookie", "episante_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(forged.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));

    // Logout: needs the CSRF token, ends the session here and at auth.
    let no_csrf = site
        .http
        .delete(&session)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let me = site
        .http
        .get(&session)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "still logged in");
    let logout = site
        .http
        .delete(&session)
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(logout.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    for path in ["/api/v1/session", "/api/v1/patients"] {
        let after = site
            .http
            .get(format!("{}{path}", site.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn the_portal_is_served_with_a_strict_policy_and_the_api_keeps_its_problems() {
    let auth = TestAuth::start().await;
    let site = start(&auth).await;
    for path in ["/", "/board", "/appointments/123"] {
        let page = site
            .http
            .get(format!("{}{path}", site.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let policy = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
        assert!(page.text().await.unwrap().contains("<title>portal</title>"));
    }
    let script = site
        .http
        .get(format!("{}/assets/app.js", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.text().await.unwrap(), "console.log('portal')");
    let unknown = site
        .http
        .get(format!("{}/api/v1/unknown", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    let escape = site
        .http
        .get(format!("{}/..%2f..%2fetc/passwd", site.base))
        .send()
        .await
        .unwrap();
    assert!(!escape.text().await.unwrap().contains("root:"));
}
