//! Free slot search: generated from each matching practitioner's weekly template in their own
//! time zone, minus exceptions, booked appointments, slots held for someone else on the
//! waitlist, and the past.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::practitioners::practitioner_filter;
use super::{next_offset, AppState, PageParams, READERS};
use crate::db;
use crate::db::practitioners::PractitionerFilter;
use crate::domain::schedule::{days_span, Schedule, Span};

/// At most this many practitioners are searched at once; narrow the filters beyond that.
pub const MAX_PRACTITIONERS: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    pub appointment_type_id: Uuid,
    /// First local date (practitioner's zone), `YYYY-MM-DD`.
    pub from: NaiveDate,
    /// Last local date, inclusive.
    pub to: NaiveDate,
    pub specialty: Option<String>,
    pub location: Option<String>,
    pub language: Option<String>,
    pub practitioner_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Slot {
    pub practitioner_id: Uuid,
    pub appointment_type_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The start in the practitioner's zone, with its offset (e.g. `2026-03-30T09:00:00+02:00`).
    pub local_start: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SlotPage {
    pub items: Vec<Slot>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// Free slots, earliest first (ties by practitioner id).
#[utoipa::path(get, path = "/v1/slots", tag = "slots", security(("bearer" = [])),
    params(SlotQuery),
    responses((status = 200, body = SlotPage), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn search(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(q): Query<SlotQuery>,
) -> ApiResult<Json<SlotPage>> {
    caller.require(READERS)?;
    caller.require_service_scope(Scope::ScheduleRead)?;
    let (limit, offset) = PageParams {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve()?;
    let days = (q.to - q.from).num_days() + 1;
    if days < 1 || days > state.config.max_search_days as i64 {
        return Err(ApiError::Invalid(format!(
            "to must not be before from, and the range at most {} days",
            state.config.max_search_days
        )));
    }
    let filter = practitioner_filter(q.practitioner_id, q.specialty, q.location, q.language);
    let slots = free(
        &state,
        &caller,
        q.appointment_type_id,
        &filter,
        q.from,
        q.to,
    )
    .await?;
    let items: Vec<Slot> = slots
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(Json(SlotPage {
        next_offset: next_offset(items.len(), limit, offset),
        items,
        limit,
        offset,
    }))
}

/// The free slots of the practitioners `filter` selects (at most [`MAX_PRACTITIONERS`]) for
/// appointment type `kind`, on the local dates `from..=to` of each one's zone, earliest first
/// (ties by practitioner id). The caller bounds the range. `GET /v1/slots` pages them; the FHIR
/// `Slot` search filters them by instant first.
pub async fn free(
    state: &AppState,
    caller: &AuthUser,
    kind: Uuid,
    filter: &PractitionerFilter,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<Slot>> {
    caller.require(READERS)?;
    caller.require_service_scope(Scope::ScheduleRead)?;
    let kind = db::appointment_types::by_id(&state.pool, kind)
        .await?
        .ok_or_else(|| ApiError::Invalid(format!("no appointment type {kind}")))?;
    let practitioners = db::practitioners::list(&state.pool, filter, MAX_PRACTITIONERS, 0).await?;
    if practitioners.is_empty() {
        return Ok(vec![]);
    }
    let mut zones = HashMap::new();
    let mut overall: Option<Span> = None;
    for p in &practitioners {
        let tz = p.time_zone.0;
        let span = days_span(tz, from, to);
        overall = Some(match overall {
            None => span,
            Some(o) => Span {
                start: o.start.min(span.start),
                end: o.end.max(span.end),
            },
        });
        zones.insert(p.id, tz);
    }
    let Some(overall) = overall else {
        return Err(ApiError::Internal(anyhow::anyhow!("no search span")));
    };
    let ids: Vec<Uuid> = practitioners.iter().map(|p| p.id).collect();
    let windows = db::practitioners::windows(&state.pool, &ids).await?;
    let exceptions = db::practitioners::exceptions(&state.pool, &ids, Some(overall)).await?;
    let busy = db::appointments::busy(&state.pool, &ids, overall).await?;
    let holds = db::waitlist::active_holds(&state.pool, &ids, overall).await?;
    let me = match caller.role() {
        Role::Patient => caller.user_id().ok(),
        _ => None,
    };
    let now = Utc::now();

    let mut slots = Vec::new();
    for p in &practitioners {
        let tz = zones[&p.id];
        let schedule = Schedule {
            tz,
            windows: windows
                .iter()
                .filter(|w| w.practitioner_id == p.id)
                .map(|w| w.to_window())
                .collect(),
            exceptions: exceptions
                .iter()
                .filter(|x| x.practitioner_id == p.id)
                .map(|x| x.span())
                .collect(),
        };
        let taken: Vec<Span> = busy
            .iter()
            .filter(|(pid, _, _)| *pid == p.id)
            .map(|&(_, start, end)| Span { start, end })
            .chain(
                holds
                    .iter()
                    .filter(|h| h.practitioner_id == p.id && Some(h.patient_id) != me)
                    .map(|h| h.span()),
            )
            .collect();
        for slot in schedule.slots(kind.duration(), from, to) {
            if slot.start > now && !taken.iter().any(|t| t.overlaps(&slot)) {
                slots.push(Slot {
                    practitioner_id: p.id,
                    appointment_type_id: kind.id,
                    starts_at: slot.start,
                    ends_at: slot.end,
                    local_start: slot.start.with_timezone(&tz).to_rfc3339(),
                });
            }
        }
    }
    slots.sort_by_key(|s| (s.starts_at, s.practitioner_id));
    Ok(slots)
}
