//! Patient-scoped endpoints: vitals history (per-minute rollups, re-bucketed) and alert rule
//! overrides.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use episante_kit::audit::Purpose;
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role, Scope};
use episante_protocol::VitalKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AlertScope, AppState};
use crate::domain::rules::{effective_rules, validate_overrides, AlertRule};

/// Vitals may be read by clinicians in care, admins, and services holding `vitals:read`
/// (records' FHIR export).
async fn check_vitals_access(
    state: &AppState,
    caller: &AuthUser,
    patient: Uuid,
) -> Result<(), ApiError> {
    if caller.role() == Role::Service {
        return caller.require_service_scope(Scope::VitalsRead);
    }
    AlertScope::of(caller)?.check(&state.pool, patient).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VitalsParams {
    /// Start (RFC 3339); default 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// `1m` (default), `5m`, `15m`, `1h` or `1d`.
    #[param(pattern = "^(1m|5m|15m|1h|1d)$")]
    pub resolution: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VitalPoint {
    pub t: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VitalSeries {
    #[schema(value_type = String)]
    pub vital: VitalKind,
    /// UCUM unit.
    pub unit: String,
    pub points: Vec<VitalPoint>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VitalsHistory {
    pub patient_id: Uuid,
    pub resolution: String,
    pub series: Vec<VitalSeries>,
}

/// Vitals of a patient: min/max/avg/count per bucket and vital.
#[utoipa::path(get, path = "/v1/patients/{id}/vitals", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), VitalsParams),
    responses((status = 200, body = VitalsHistory), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 403, body = Problem)))]
pub async fn vitals(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
    Query(p): Query<VitalsParams>,
) -> ApiResult<Json<VitalsHistory>> {
    check_vitals_access(&state, &caller, id).await?;
    let resolution = p.resolution.unwrap_or_else(|| "1m".into());
    let bucket_secs = match resolution.as_str() {
        "1m" => 60,
        "5m" => 300,
        "15m" => 900,
        "1h" => 3600,
        "1d" => 86_400,
        _ => {
            return Err(ApiError::Invalid(
                "resolution must be 1m, 5m, 15m, 1h or 1d".into(),
            ))
        }
    };
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or(to - Duration::hours(24));
    if from >= to {
        return Err(ApiError::Invalid("from must be before to".into()));
    }
    if (to - from).num_seconds() / bucket_secs > 10_000 {
        return Err(ApiError::Invalid(
            "too many points: narrow the range or coarsen the resolution".into(),
        ));
    }
    let buckets = crate::db::telemetry::history(&state.pool, id, from, to, bucket_secs).await?;
    state
        .audit
        .record(
            &caller,
            &purpose,
            "vitals.read",
            Some(id),
            json!({ "from": from, "to": to, "resolution": resolution }),
        )
        .await?;
    let mut series: Vec<VitalSeries> = Vec::new();
    for b in buckets {
        let Some(vital) = VitalKind::ALL.into_iter().find(|k| k.as_str() == b.vital) else {
            continue;
        };
        if series.last().is_none_or(|s| s.vital != vital) {
            series.push(VitalSeries {
                vital,
                unit: vital.unit().into(),
                points: Vec::new(),
            });
        }
        series.last_mut().expect("pushed").points.push(VitalPoint {
            t: b.t,
            min: b.min,
            max: b.max,
            avg: (b.avg * 100.0).round() / 100.0,
            count: b.count,
        });
    }
    Ok(Json(VitalsHistory {
        patient_id: id,
        resolution,
        series,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PatientRules {
    /// The clinician's overrides as stored.
    pub overrides: Vec<AlertRule>,
    /// What the engine applies: defaults with overrides.
    pub effective: Vec<AlertRule>,
}

/// A patient's alert rules.
#[utoipa::path(get, path = "/v1/patients/{id}/alert-rules", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = PatientRules), (status = 404, body = Problem)))]
pub async fn rules(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<PatientRules>> {
    AlertScope::of(&caller)?.check(&state.pool, id).await?;
    let overrides = crate::db::rules::overrides(&state.pool, id).await?;
    state
        .audit
        .record(&caller, &purpose, "alert_rules.read", Some(id), json!({}))
        .await?;
    Ok(Json(PatientRules {
        effective: effective_rules(&overrides),
        overrides,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SetRules {
    /// Replaces the patient's overrides (an empty list restores the defaults).
    pub overrides: Vec<AlertRule>,
}

/// Sets a patient's rule overrides (clinicians in care, admins); validated.
#[utoipa::path(put, path = "/v1/patients/{id}/alert-rules", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")), request_body = SetRules,
    responses((status = 200, body = PatientRules), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_rules(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
    Json(body): Json<SetRules>,
) -> ApiResult<Json<PatientRules>> {
    AlertScope::of(&caller)?.check(&state.pool, id).await?;
    validate_overrides(&body.overrides)?;
    state
        .audit
        .record(
            &caller,
            &purpose,
            "alert_rules.update",
            Some(id),
            json!({ "overrides": body.overrides.len() }),
        )
        .await?;
    crate::db::rules::set_overrides(&state.pool, id, &body.overrides, caller.subject()).await?;
    state.rules.invalidate(id);
    tracing::info!(patient = %id, by = %caller.subject(), rules = body.overrides.len(), "alert rules overridden");
    Ok(Json(PatientRules {
        effective: effective_rules(&body.overrides),
        overrides: body.overrides,
    }))
}
