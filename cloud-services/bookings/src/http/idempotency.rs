//! `Idempotency-Key` handling for booking and rescheduling.
//!
//! A client that times out cannot know whether its booking went through; retrying with the same
//! key must not book twice. The key (per caller) is claimed inside the booking's own transaction,
//! so the key and the booking commit together; the answer is stored with it and replayed
//! verbatim to any retry with the same request. A concurrent retry waits on the key's row until
//! the first attempt ends. Client errors (409, 422, …) are remembered too, so a retry gets the
//! same answer even if the slot has since freed; server errors are not (retrying is the point).
//! The same key with a different request is refused with 422.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use episante_kit::problem::problem_response;
use episante_kit::{ApiError, ApiResult, AuthUser};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};

use crate::db;

pub const HEADER: &str = "idempotency-key";
/// Set on replayed answers.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The idempotency context of one request (empty when the client sent no key).
pub struct Idempotency {
    claim: Option<Claim>,
}

struct Claim {
    caller: String,
    key: String,
    digest: Vec<u8>,
}

/// What to do after claiming the key.
pub enum Started {
    /// First time: do the work in this transaction, then call [`Idempotency::finish`].
    Proceed(Transaction<'static, Postgres>),
    /// Seen before: send this stored answer.
    Replay(Response),
}

impl Idempotency {
    /// Reads the header; the digest covers the operation and the parsed (canonical) body, so
    /// whitespace or key order do not make a retry "different".
    pub fn from_request(
        caller: &AuthUser,
        headers: &HeaderMap,
        operation: &str,
        body: &impl Serialize,
    ) -> ApiResult<Self> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(Idempotency { claim: None });
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
                )
            })?;
        let mut hasher = Sha256::new();
        hasher.update(operation.as_bytes());
        hasher.update([0]);
        hasher
            .update(serde_json::to_vec(body).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?);
        Ok(Idempotency {
            claim: Some(Claim {
                caller: caller.subject().to_string(),
                key: key.to_string(),
                digest: hasher.finalize().to_vec(),
            }),
        })
    }

    /// Whether the client sent a key.
    pub fn is_keyed(&self) -> bool {
        self.claim.is_some()
    }

    /// Opens the work's transaction and claims the key in it.
    pub async fn begin(&self, pool: &PgPool) -> ApiResult<Started> {
        let mut tx = pool.begin().await?;
        let Some(claim) = &self.claim else {
            return Ok(Started::Proceed(tx));
        };
        let Some(stored) =
            db::idempotency::claim(&mut tx, &claim.caller, &claim.key, &claim.digest).await?
        else {
            return Ok(Started::Proceed(tx));
        };
        if stored.request_digest != claim.digest {
            return Err(ApiError::Invalid(
                "this Idempotency-Key was already used with a different request".into(),
            ));
        }
        match (stored.status_code, stored.response) {
            (Some(status), Some(body)) => Ok(Started::Replay(replay(status, body))),
            // Claimed and committed without an answer cannot happen (both are written in one
            // transaction); treat it as "still in progress".
            _ => Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress".into(),
            )),
        }
    }

    /// Stores the answer with the key, commits, and returns the response.
    pub async fn finish<T: Serialize>(
        &self,
        mut tx: Transaction<'static, Postgres>,
        status: StatusCode,
        body: &T,
    ) -> ApiResult<Response> {
        let json = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.into()))?;
        if let Some(claim) = &self.claim {
            db::idempotency::store(
                &mut *tx,
                &claim.caller,
                &claim.key,
                &claim.digest,
                status.as_u16(),
                &json,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(json_response(status, json))
    }

    /// Remembers a client error under the key (the work's transaction has rolled back).
    pub async fn remember_error(&self, pool: &PgPool, error: &ApiError) {
        let Some(claim) = &self.claim else { return };
        let remembered = matches!(
            error,
            ApiError::Conflict(_) | ApiError::Invalid(_) | ApiError::NotFound(_)
        );
        if !remembered {
            return;
        }
        let problem = episante_kit::Problem {
            kind: String::new(),
            title: String::new(),
            status: error.status().as_u16(),
            detail: error.to_string(),
        };
        let body = serde_json::to_string(&problem).unwrap_or_default();
        if let Err(e) = db::idempotency::store(
            pool,
            &claim.caller,
            &claim.key,
            &claim.digest,
            error.status().as_u16(),
            &body,
        )
        .await
        {
            tracing::warn!(error = %e, "could not remember an idempotent request's error");
        }
    }
}

fn json_response(status: StatusCode, json: String) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// Rebuilds a stored answer: success bodies verbatim, errors as the same problem JSON.
fn replay(status: i16, body: String) -> Response {
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let mut response = if status.is_success() {
        json_response(status, body)
    } else {
        let detail = serde_json::from_str::<episante_kit::Problem>(&body)
            .map(|p| p.detail)
            .unwrap_or_default();
        problem_response(status, detail)
    };
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
