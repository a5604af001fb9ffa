//! One error type for every HTTP API, rendered as an RFC 9457 problem body.
//!
//! Handlers return `ApiResult<T>`; whatever goes wrong becomes `application/problem+json` with
//! `type`, `title`, `status` and `detail`. Client faults get a 4xx and a useful detail; internal
//! faults are logged with their cause and answered with a bare 500 that reveals nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub type ApiResult<T> = Result<T, ApiError>;

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but semantically invalid input (422).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps a database error, turning violations of the named constraints into 409 with the given
    /// message, and an exhausted connection pool into 503 (overload: the client may retry);
    /// anything else is internal. `constraints` is `(constraint name, client message)`.
    pub fn from_db(err: sqlx::Error, constraints: &[(&str, &str)]) -> ApiError {
        if matches!(err, sqlx::Error::PoolTimedOut) {
            tracing::warn!("database pool exhausted: answering 503");
            return ApiError::Unavailable("the service is overloaded; retry shortly".into());
        }
        if let sqlx::Error::Database(db) = &err {
            if let Some(name) = db.constraint() {
                if let Some((_, message)) = constraints.iter().find(|(c, _)| *c == name) {
                    return ApiError::Conflict((*message).to_string());
                }
            }
            // Data the database cannot store is the client's input, never a server fault (the
            // request edge refuses most of it first: see `server::refuse_unstorable_input`).
            if let Some(message) = db.code().as_deref().and_then(unstorable_input) {
                return ApiError::Invalid(message.to_string());
            }
        }
        ApiError::Internal(err.into())
    }
}

/// PostgreSQL error codes (class 22, data exception) that only bad input causes.
fn unstorable_input(code: &str) -> Option<&'static str> {
    Some(match code {
        "22021" | "22P05" => "text contains a character that cannot be stored (e.g. NUL)",
        "22001" => "a value is too long",
        "22003" => "a number is out of range",
        "22007" | "22008" => "a date or time is out of range",
        "22P02" => "a value has an invalid format",
        _ => return None,
    })
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::from_db(err, &[])
    }
}

/// Builds a problem response; also used to rewrite framework errors (see `server`).
pub fn problem_response(status: StatusCode, detail: impl Into<String>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_string();
    let slug = title.to_ascii_lowercase().replace([' ', '\''], "-");
    let body = Problem {
        kind: format!("/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail: detail.into(),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "an internal error occurred".to_string()
            }
            other => other.to_string(),
        };
        let mut response = problem_response(status, detail);
        match &self {
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}
