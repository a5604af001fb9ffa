//! A local HTTP endpoint that checks each request exactly as Twilio documents its Messages API
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth with the account SID
//! and auth token, an `application/x-www-form-urlencoded` body with `To`, `From` and `Body`) and
//! answers as Twilio does: `201` with the message resource, `400` with an error `code` for an
//! invalid number (21211), or whatever status the test scripts next. A request of any other shape
//! is answered `400` and recorded as malformed, which fails the test.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "test-auth-token";
pub const FROM: &str = "+15005550006";
/// Twilio's magic test number for "invalid `To`".
pub const INVALID: &str = "+15005550001";

#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub from: String,
    pub body: String,
}

#[derive(Default)]
struct Book {
    accepted: Vec<Sms>,
    malformed: Vec<String>,
    /// Statuses to answer next, before accepting again.
    scripted: VecDeque<u16>,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub url: String,
    book: Arc<Mutex<Book>>,
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let book = Arc::new(Mutex::new(Book::default()));
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
            .fallback(|uri: axum::http::Uri| async move {
                (StatusCode::NOT_FOUND, format!("no such resource {uri}"))
            })
            .with_state(book.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeTwilio { url, book }
    }

    /// Answer the next requests with these statuses (429, 503…) before accepting again.
    pub fn script(&self, statuses: &[u16]) {
        self.book.lock().unwrap().scripted.extend(statuses);
    }

    pub fn accepted(&self) -> Vec<Sms> {
        let book = self.book.lock().unwrap();
        assert!(
            book.malformed.is_empty(),
            "malformed requests: {:?}",
            book.malformed
        );
        book.accepted.clone()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Sms> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n {
                return accepted;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {} SMS: {accepted:?}",
                accepted.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn messages(
    State(book): State<Arc<Mutex<Book>>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut book = book.lock().unwrap();
    let mut problems = Vec::new();
    if sid != SID {
        problems.push(format!("account {sid} in the path"));
    }
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected_auth.as_str()) {
        problems.push("Basic auth with the account SID and token".into());
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        problems.push(format!("content type {:?}", headers.get("content-type")));
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    for field in ["To", "From", "Body"] {
        if form.get(field).is_none_or(|v| v.is_empty()) {
            problems.push(format!("form field {field}"));
        }
    }
    if form.len() != 3 {
        problems.push(format!("unexpected form fields {:?}", form.keys()));
    }
    if !problems.is_empty() {
        book.malformed.push(problems.join("; "));
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 20001, "message": "malformed"})),
        );
    }
    if form["To"] == INVALID {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.", "status": 400}),
            ),
        );
    }
    if let Some(status) = book.scripted.pop_front() {
        return (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({"code": 20429, "message": "scripted", "status": status})),
        );
    }
    book.accepted.push(Sms {
        to: form["To"].clone(),
        from: form["From"].clone(),
        body: form["Body"].clone(),
    });
    (
        StatusCode::CREATED,
        Json(
            json!({"sid": format!("SM{:032x}", book.accepted.len()), "status": "queued", "to": form["To"], "from": form["From"]}),
        ),
    )
}
