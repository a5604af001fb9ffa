//! FHIR R4 at the HTTP edge, shared by the services that speak it (records: `Patient`,
//! `Observation`, the `CapabilityStatement`; bookings: `Practitioner`, `Schedule`, `Slot`,
//! `Appointment`; the broker's registry: `Device`).
//!
//! A FHIR client expects FHIR errors: every error answer under a service's `/v1/fhir` routes,
//! whatever produced it (a handler, an extractor refusing a query, the token check, an unknown
//! route), leaves as an `OperationOutcome` with the same status instead of our usual problem
//! JSON. One layer ([`operation_outcomes`], outermost in `server::service_router`) does it for
//! every service, so no FHIR route or handler has to remember.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

// FHIR search: query parameters, `date` prefixes, searchset Bundles.
mod search;
pub use search::{name_uuid, parse_date_param, searchset, DateRange, SearchParams};

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// Characters a FHIR id may hold: `[A-Za-z0-9\-.]{1,64}`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A FHIR resource (or Bundle) as a response.
pub fn fhir_response(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// The `OperationOutcome.issue.code` (value set `issue-type`) for an HTTP error status.
fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 415 => "structure",
        401 => "login",
        403 => "forbidden",
        404 | 405 => "not-found",
        409 => "conflict",
        422 => "invalid",
        429 => "throttled",
        503 | 504 => "transient",
        _ => "exception",
    }
}

/// A FHIR R4 `OperationOutcome`: how FHIR routes answer errors (`application/fhir+json`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    #[serde(rename = "resourceType")]
    pub resource_type: String,
    pub issue: Vec<OutcomeIssue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutcomeIssue {
    /// `error` for every failed request.
    pub severity: String,
    /// FHIR `issue-type`: `structure`, `login`, `forbidden`, `not-found`, `conflict`, `invalid`,
    /// `throttled`, `transient` or `exception`.
    pub code: String,
    /// What went wrong, in words.
    pub diagnostics: String,
}

/// An `OperationOutcome` with one error issue.
pub fn operation_outcome(status: StatusCode, diagnostics: &str) -> Value {
    json!(OperationOutcome {
        resource_type: "OperationOutcome".into(),
        issue: vec![OutcomeIssue {
            severity: "error".into(),
            code: issue_code(status).into(),
            diagnostics: diagnostics.into(),
        }],
    })
}

/// Whether `path` is under a service's FHIR base (`/v1/fhir/`), where errors are
/// `OperationOutcome`s.
pub fn is_fhir_path(path: &str) -> bool {
    path.starts_with("/v1/fhir/")
}

/// Middleware, outermost in every service (`server::service_router`): an error answer to a
/// request for a FHIR path becomes an `OperationOutcome` (same status, headers such as
/// `WWW-Authenticate` and `Retry-After` kept), whatever produced it — a handler, an extractor,
/// the token check, the input checks, the body limit, an unknown route. Everything else passes
/// untouched.
pub async fn operation_outcomes(request: Request, next: Next) -> Response {
    let fhir = is_fhir_path(request.uri().path());
    let response = next.run(request).await;
    if !fhir {
        return response;
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Problem bodies are small; anything else is summarised by its status.
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let outcome = serde_json::to_vec(&operation_outcome(status, &detail)).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_fhir_id_rule() {
        assert!(is_valid_id("0b1c-8867-4.29123"));
        assert!(!is_valid_id("patient-body_temperature-1"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id(&"a".repeat(65)));
    }

    #[test]
    fn errors_map_to_issue_types() {
        let o = operation_outcome(StatusCode::NOT_FOUND, "no patient");
        assert_eq!(o["issue"][0]["code"], "not-found");
        assert_eq!(o["issue"][0]["diagnostics"], "no patient");
        assert_eq!(issue_code(StatusCode::UNAUTHORIZED), "login");
        assert_eq!(issue_code(StatusCode::INTERNAL_SERVER_ERROR), "exception");
    }
}
