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

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Whether a JSON body carries a NUL in any string or key.
pub fn json_has_nul(body: &[u8]) -> bool {
    // Fast path: a NUL can only be written `\u0000` (or be a raw byte, which is invalid JSON).
    if !body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) && !body.contains(&0) {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(body).map_or(body.contains(&0), |v| has_nul(&v))
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
    if json_has_nul(&bytes) {
        return problem_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text must not contain NUL characters (\\u0000)",
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
        assert!(json_has_nul(br#"{"name":"Ward\u00003"}"#));
        assert!(json_has_nul(br#"{"a":[{"b":"\u0000"}]}"#));
        assert!(json_has_nul(br#"{"k\u0000":1}"#));
        assert!(!json_has_nul(
            br#"{"name":"Ward 3","text":"\\u0000 is how you write it"}"#
        ));
        assert!(!json_has_nul(br#"{"name":"Ward 3"}"#));
        assert!(uri_has_nul("/v1/patients?name=a%00b"));
        assert!(!uri_has_nul("/v1/patients?name=a%200"));
    }
}
