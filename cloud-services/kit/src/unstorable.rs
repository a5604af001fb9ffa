//! Refuses, at the request edge, input that PostgreSQL cannot store.
//!
//! PostgreSQL `text` cannot hold NUL (U+0000): a JSON string `"Ward\u00003"` or a query parameter
//! `%00` would otherwise travel down to the database and come back as a server error. Every
//! service router runs this check first (`server::service_router`), so no handler has to
//! remember it; `ApiError::from_db` maps any other data exception the database raises to 422 as
//! a second line.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::problem::problem_response;
use crate::server::DEFAULT_BODY_LIMIT;

/// The JSON pointer (RFC 6901) of the first string or key holding a NUL, under `at`.
fn nul_at(value: &serde_json::Value, at: &str) -> Option<String> {
    let escape = |key: &str| {
        key.replace('~', "~0")
            .replace('/', "~1")
            .replace('\0', "\\u0000")
    };
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| at.to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v, &format!("{at}/{i}"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let here = format!("{at}/{}", escape(k));
            if k.contains('\0') {
                Some(here)
            } else {
                nul_at(v, &here)
            }
        }),
        _ => None,
    }
}

/// Where a JSON body carries a NUL in a string or key: its JSON pointer (`""` for the whole
/// body, or for a body that is not JSON but holds a raw NUL byte).
pub fn json_nul_field(body: &[u8]) -> Option<String> {
    // Fast path: a NUL can only be written `\u0000` (or be a raw byte, which is invalid JSON).
    if !body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) && !body.contains(&0) {
        return None;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => nul_at(&v, ""),
        Err(_) => body.contains(&0).then(String::new),
    }
}

/// Whether a URI path or query carries a percent-encoded NUL.
pub fn uri_has_nul(path_and_query: &str) -> bool {
    path_and_query
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%00"))
}

pub async fn refuse_unstorable_input(request: Request, next: Next) -> Response {
    let uri = request.uri().path_and_query().map_or("", |pq| pq.as_str());
    if uri_has_nul(uri) {
        return problem_response(
            StatusCode::BAD_REQUEST,
            "the URL contains a NUL character (%00)",
        );
    }
    let has_body = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    );
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(has_body && json) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, DEFAULT_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return problem_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request bodies are limited to {DEFAULT_BODY_LIMIT} bytes"),
            )
        }
    };
    if let Some(field) = json_nul_field(&bytes) {
        let field = if field.is_empty() {
            "/"
        } else {
            field.as_str()
        };
        return problem_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field}: text must not contain NUL characters (\\u0000)"),
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_anywhere_and_only_nul() {
        let at = |body: &[u8]| json_nul_field(body);
        assert_eq!(at(br#"{"name":"Ward\u00003"}"#).as_deref(), Some("/name"));
        assert_eq!(at(br#"{"a":[{"b":"\u0000"}]}"#).as_deref(), Some("/a/0/b"));
        assert_eq!(at(br#"{"k/\u0000":1}"#).as_deref(), Some("/k~1\\u0000"));
        assert_eq!(at(br#""\u0000""#).as_deref(), Some(""));
        assert_eq!(
            at(br#"{"name":"Ward 3","text":"\\u0000 is how you write it"}"#),
            None
        );
        assert_eq!(at(br#"{"name":"Ward 3"}"#), None);
        assert!(uri_has_nul("/v1/patients?name=a%00b"));
        assert!(!uri_has_nul("/v1/patients?name=a%200"));
    }
}
