//! Key rotation (admin): rotate the transit key, then re-wrap every stored data key under the new
//! version. Vault's `rewrap` works on ciphertext only, so no data key plaintext is handled here and
//! no patient data is re-encrypted.

use axum::extract::State;
use axum::Json;
use episante_kit::{ApiError, ApiResult, Problem, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{AppState, Caller};
use crate::crypto::key_wrapper::WrapError;
use crate::crypto::KeyWrapper;

impl From<WrapError> for ApiError {
    fn from(e: WrapError) -> Self {
        match e {
            WrapError::Unsupported(what) => ApiError::Conflict(what.into()),
            WrapError::Unavailable(detail) => {
                tracing::error!(%detail, "key service unavailable");
                ApiError::Unavailable("the key service is unavailable; try again later".into())
            }
            e => ApiError::Internal(anyhow::anyhow!(e)),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyStatus {
    pub latest_version: u32,
}

/// Adds a key version; new records use it at once.
#[utoipa::path(post, path = "/v1/records/keys/rotate", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyStatus), (status = 409, description = "No Vault (local dev key)", body = Problem)))]
pub async fn rotate(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<KeyStatus>> {
    caller.user.require(&[Role::Admin])?;
    let wrapper = state.store.cipher.wrapper();
    wrapper.rotate().await?;
    state.store.cipher.forget_keys().await;
    let latest_version = wrapper.latest_version().await?;
    state
        .audit
        .record(vec![caller.audit(
            "keys.rotate",
            None,
            json!({ "latest_version": latest_version }),
        )])
        .await?;
    tracing::info!(latest_version, "PII key rotated");
    Ok(Json(KeyStatus { latest_version }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RewrapReport {
    pub latest_version: u32,
    /// Distinct data keys re-wrapped.
    pub keys_rewrapped: u64,
    /// Rows whose wrapped key changed.
    pub rows_updated: u64,
}

/// Re-wraps every stored data key not yet under the newest key version.
#[utoipa::path(post, path = "/v1/records/keys/rewrap", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = RewrapReport), (status = 503, body = Problem)))]
pub async fn rewrap(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<RewrapReport>> {
    caller.user.require(&[Role::Admin])?;
    let wrapper = state.store.cipher.wrapper();
    let latest_version = wrapper.latest_version().await?;
    let mut report = RewrapReport {
        latest_version,
        keys_rewrapped: 0,
        rows_updated: 0,
    };
    for old in crate::db::patients::wrapped_keys(&state.pool).await? {
        if KeyWrapper::version_of(&old).is_none_or(|v| v >= latest_version) {
            continue;
        }
        let new = wrapper.rewrap(&old).await?;
        report.rows_updated +=
            crate::db::patients::replace_wrapped_key(&state.pool, &old, &new).await?;
        report.keys_rewrapped += 1;
    }
    state
        .audit
        .record(vec![caller.audit(
            "keys.rewrap",
            None,
            json!({ "keys": report.keys_rewrapped, "rows": report.rows_updated }),
        )])
        .await?;
    Ok(Json(report))
}
