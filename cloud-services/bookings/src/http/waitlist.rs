//! The waitlist: a patient (or an admin for them) waits for any slot of a practitioner within
//! a range of local dates; a freed slot is offered to the first in line (see `crate::waitlist`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use episante_kit::audit::Purpose;
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{next_offset, practitioners, AppState, PageParams};
use crate::db;
use crate::db::waitlist::WaitlistRow;
use crate::domain::schedule::days_span;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WaitlistEntry {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// `waiting`, `offered`, `fulfilled`, `expired` or `left`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// While `offered`: the slot held for the patient until `expires_at`; they take it by booking
    /// it (`POST /v1/appointments`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offer: Option<Offer>,
}

/// A freed slot held for the first patient in line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub appointment_type_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

impl From<WaitlistRow> for WaitlistEntry {
    fn from(r: WaitlistRow) -> Self {
        WaitlistEntry {
            id: r.id,
            patient_id: r.patient_id,
            practitioner_id: r.practitioner_id,
            window_start: r.window_start,
            window_end: r.window_end,
            status: r.status,
            created_at: r.created_at,
            offer: match (
                r.offer_starts_at,
                r.offer_ends_at,
                r.offer_appointment_type_id,
                r.offer_expires_at,
            ) {
                (Some(starts_at), Some(ends_at), Some(appointment_type_id), Some(expires_at)) => {
                    Some(Offer {
                        starts_at,
                        ends_at,
                        appointment_type_id,
                        expires_at,
                    })
                }
                _ => None,
            },
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JoinWaitlist {
    pub practitioner_id: Uuid,
    /// First local date (practitioner's zone).
    pub from_date: NaiveDate,
    /// Last local date, inclusive.
    pub to_date: NaiveDate,
    /// Admins must say for whom; patients may omit it.
    #[serde(default)]
    pub patient_id: Option<Uuid>,
}

/// Joins the waitlist.
#[utoipa::path(post, path = "/v1/waitlist", tag = "waitlist", security(("bearer" = [])),
    request_body = JoinWaitlist,
    responses((status = 201, body = WaitlistEntry), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn join(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Json(body): Json<JoinWaitlist>,
) -> ApiResult<(StatusCode, Json<WaitlistEntry>)> {
    let patient_id = match caller.role() {
        Role::Patient => {
            let me = caller.user_id()?;
            if body.patient_id.is_some_and(|p| p != me) {
                return Err(ApiError::Forbidden(
                    "patients may join the waitlist only for themselves".into(),
                ));
            }
            me
        }
        Role::Admin => body.patient_id.ok_or_else(|| {
            ApiError::Invalid("patient_id is required when an admin adds to the waitlist".into())
        })?,
        other => {
            return Err(ApiError::Forbidden(format!(
                "role {other} may not join the waitlist"
            )))
        }
    };
    if body.to_date < body.from_date || (body.to_date - body.from_date).num_days() > 366 {
        return Err(ApiError::Invalid(
            "to_date must not be before from_date, and the range at most a year".into(),
        ));
    }
    let practitioner = practitioners::find(&state, body.practitioner_id)
        .await
        .map_err(|_| ApiError::Invalid(format!("no practitioner {}", body.practitioner_id)))?;
    let tz = practitioner.time_zone;
    let window = days_span(tz.0, body.from_date, body.to_date);
    if window.end <= Utc::now() {
        return Err(ApiError::Invalid("the date range is in the past".into()));
    }
    let mut tx = state.pool.begin().await?;
    let row = db::waitlist::insert(&mut *tx, patient_id, practitioner.id, window).await?;
    let detail = serde_json::json!({ "waitlist_entry_id": row.id });
    state
        .audit
        .record(&caller, &purpose, "waitlist.join", Some(patient_id), detail)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Admins only.
    pub patient_id: Option<Uuid>,
    pub practitioner_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WaitlistPage {
    pub items: Vec<WaitlistEntry>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// Waitlist entries in order of arrival (patients: their own).
#[utoipa::path(operation_id = "list_waitlist", get, path = "/v1/waitlist", tag = "waitlist", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = WaitlistPage), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<WaitlistPage>> {
    caller.require(&[Role::Admin, Role::Patient])?;
    let (limit, offset) = PageParams {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve()?;
    let patient_id = match caller.role() {
        Role::Patient => Some(caller.user_id()?),
        _ => q.patient_id,
    };
    let rows =
        db::waitlist::list(&state.pool, patient_id, q.practitioner_id, limit, offset).await?;
    // One audit event per patient shown (one for the query when nobody is).
    let mut patients: Vec<Uuid> = rows.iter().map(|r| r.patient_id).collect();
    patients.sort();
    patients.dedup();
    let detail = serde_json::json!({ "practitioner_id": q.practitioner_id });
    let mut events: Vec<_> = patients
        .iter()
        .map(|p| {
            let e = &state.audit;
            e.event(&caller, &purpose, "waitlist.read", Some(*p), detail.clone())
        })
        .collect();
    if events.is_empty() {
        let detail =
            serde_json::json!({ "patient_id": patient_id, "practitioner_id": q.practitioner_id });
        events.push(
            state
                .audit
                .event(&caller, &purpose, "waitlist.read", None, detail),
        );
    }
    state.audit.publish(events).await?;
    Ok(Json(WaitlistPage {
        next_offset: next_offset(rows.len(), limit, offset),
        items: rows.into_iter().map(Into::into).collect(),
        limit,
        offset,
    }))
}

/// Leaves the waitlist.
#[utoipa::path(delete, path = "/v1/waitlist/{id}", tag = "waitlist", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Waitlist entry id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn leave(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(&[Role::Admin, Role::Patient])?;
    let not_found = || ApiError::NotFound(format!("no waitlist entry {id}"));
    let row = db::waitlist::by_id(&state.pool, id)
        .await?
        .ok_or_else(not_found)?;
    if caller.role() == Role::Patient && caller.user_id()? != row.patient_id {
        return Err(not_found());
    }
    let mut tx = state.pool.begin().await?;
    db::waitlist::set_status(&mut *tx, id, "left").await?;
    // A slot held for this entry lapses now; the upkeep task hands it to the next in line.
    db::waitlist::lapse_holds_of_entry(&mut *tx, id).await?;
    let detail = serde_json::json!({ "waitlist_entry_id": id });
    state
        .audit
        .record(
            &caller,
            &purpose,
            "waitlist.leave",
            Some(row.patient_id),
            detail,
        )
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
