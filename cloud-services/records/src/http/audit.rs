//! Reading and verifying the audit trail: admins read and verify it all; a patient reads who
//! accessed their own record (`?patient_id=` their record, others answer 404 like any record they
//! may not see).

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
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub patient_id: Option<Uuid>,
    pub actor: Option<String>,
    /// Entries after this sequence number (for paging), default 0.
    pub after_seq: Option<i64>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The service that served the access: `records`, `alerts`, `bookings`.
    pub service: String,
    pub actor: String,
    pub actor_role: String,
    pub patient_id: Option<Uuid>,
    pub action: String,
    pub purpose: String,
    pub detail: serde_json::Value,
    /// Base64 HMAC-SHA-256 of this entry, chained to the previous one.
    pub hash: String,
}

/// Audit entries, oldest first: every access in records, alerts and bookings. Admins see all; a
/// patient must name their own record (`patient_id`) and sees who accessed it.
#[utoipa::path(operation_id = "list_audit", get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, body = Vec<AuditEvent>), (status = 403, body = Problem),
        (status = 404, description = "Not the patient's own record", body = Problem),
        (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    caller.user.require(&[Role::Admin, Role::Patient])?;
    if caller.user.role() == Role::Patient {
        let Some(patient) = params.patient_id else {
            return Err(ApiError::Forbidden(
                "patients may read only their own record's trail: ?patient_id=<your record>".into(),
            ));
        };
        caller.scope()?.check(&state.pool, patient).await?;
    }
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
                service: r.service,
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

/// Walks the whole keyed chain and compares it with its checkpoint (kept outside the database):
/// reports the first broken link, or that the newest entries were removed (`truncated`).
#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = Verification), (status = 403, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Verification>> {
    caller.user.require(&[Role::Admin])?;
    let result = state.audit.verify().await?;
    if !result.intact {
        tracing::error!(
            first_broken_seq = ?result.first_broken_seq,
            truncated = result.truncated,
            problem = ?result.problem,
            "AUDIT TRAIL TAMPERED"
        );
    }
    Ok(Json(result))
}
