//! Reading and verifying the audit trail (admin).

use axum::extract::{Query, State};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use episante_kit::{ApiError, ApiResult, Problem, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AppState, Caller};
use crate::audit::Verification;
use crate::db::audit::AuditQuery;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    pub patient_id: Option<Uuid>,
    pub actor: Option<String>,
    /// Entries after this sequence number (for paging), default 0.
    pub after_seq: Option<i64>,
    /// 1 to 1000, default 100.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub patient_id: Option<Uuid>,
    pub action: String,
    pub purpose: String,
    pub detail: serde_json::Value,
    /// Base64 SHA-256 of this entry, chained to the previous one.
    pub hash: String,
}

/// Audit entries, oldest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, body = Vec<AuditEvent>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    caller.user.require(&[Role::Admin])?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid("limit must be 1 to 1000".into()));
    }
    let rows = crate::db::audit::list(
        &state.pool,
        &AuditQuery {
            patient_id: params.patient_id,
            actor: params.actor,
            after_seq: params.after_seq.unwrap_or(0),
            limit,
        },
    )
    .await?;
    // Reading the trail is itself an access worth recording.
    state
        .audit
        .record(vec![caller.audit(
            "audit.read",
            params.patient_id,
            json!({ "entries": rows.len() }),
        )])
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditEvent {
                seq: r.seq,
                at: r.at,
                actor: r.actor,
                actor_role: r.actor_role,
                patient_id: r.patient_id,
                action: r.action,
                purpose: r.purpose,
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
                hash: B64.encode(&r.hash),
            })
            .collect(),
    ))
}

/// Walks the whole hash chain and reports the first broken link, if any.
#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Verification), (status = 403, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Verification>> {
    caller.user.require(&[Role::Admin])?;
    let result = crate::audit::verify(&state.pool).await?;
    if !result.intact {
        tracing::error!(first_broken_seq = ?result.first_broken_seq, "AUDIT TRAIL TAMPERED");
    }
    Ok(Json(result))
}
