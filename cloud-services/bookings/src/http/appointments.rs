//! Booking, cancelling, rescheduling, agendas and the practitioner's status marks.
//!
//! A booking is a read that checks the slot against the practitioner's schedule (the schedule
//! rules are Rust: `domain::schedule`), the audit event published, then one statement that
//! commits on its own (`db::appointments::place`, migration 0003): the practitioner's and
//! patient's advisory locks, the same-specialty rule, the appointment with its outbox rows (the
//! exclusion constraint refuses any overlap, whoever wins the race), then waitlist holds in a
//! *later* statement: if a concurrent cancellation just committed a hold on this slot, our insert
//! waited for it and this fresh snapshot sees the hold. With `Idempotency-Key`, and when
//! rescheduling, the same statement runs inside the request's transaction, audited before the
//! commit. Every write is audited before it is made (`kit/src/audit.rs` says why not through the
//! outbox): at worst the trail shows an attempt that was then refused.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use episante_kit::audit::Purpose;
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role, Scope};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::idempotency::{Idempotency, Started};
use super::{next_offset, AppState, Listed, PageParams};
use crate::db::appointments::{AppointmentFilter, AppointmentRow, NewAppointment, PlaceError};
use crate::db::practitioners::ScheduleRow;
use crate::db::{self, CONSTRAINTS};
use crate::domain::appointment::Status;
use crate::domain::schedule::{Schedule, Span};
use crate::events;

/// What a booking of a taken slot is told (the same as the exclusion constraint's message).
const SLOT_TAKEN: &str = "this slot is already booked (or overlaps a booked appointment)";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Appointment {
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub specialty: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: Status,
    pub rescheduled_from: Option<Uuid>,
    pub rescheduled_to: Option<Uuid>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// `patient` or `practice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// The practice's reason, told to the patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AppointmentRow> for Appointment {
    fn from(r: AppointmentRow) -> Self {
        Appointment {
            id: r.id,
            practitioner_id: r.practitioner_id,
            patient_id: r.patient_id,
            appointment_type_id: r.appointment_type_id,
            status: r.status,
            specialty: r.specialty,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            rescheduled_from: r.rescheduled_from,
            rescheduled_to: r.rescheduled_to,
            cancelled_at: r.cancelled_at,
            cancelled_by: r.cancelled_by,
            cancellation_reason: r.cancellation_reason,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BookAppointment {
    pub practitioner_id: Uuid,
    pub appointment_type_id: Uuid,
    /// Must be the start of a free slot (see `GET /v1/slots`).
    pub starts_at: DateTime<Utc>,
    /// Admins must say for whom; patients may omit it (it must be themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
}

/// Who the appointment is for: patients book for themselves, admins for anyone.
fn patient_for(caller: &AuthUser, requested: Option<Uuid>) -> ApiResult<Uuid> {
    match caller.role() {
        Role::Patient => {
            let me = caller.user_id()?;
            match requested {
                Some(other) if other != me => Err(ApiError::Forbidden(
                    "patients may book only for themselves".into(),
                )),
                _ => Ok(me),
            }
        }
        Role::Admin => requested
            .ok_or_else(|| ApiError::Invalid("patient_id is required when an admin books".into())),
        other => Err(ApiError::Forbidden(format!("role {other} may not book"))),
    }
}

fn outcome_label(error: &ApiError) -> &'static str {
    match error {
        ApiError::Conflict(_) => "conflict",
        ApiError::Invalid(_) | ApiError::BadRequest(_) | ApiError::NotFound(_) => "invalid",
        ApiError::Forbidden(_) | ApiError::Unauthorized(_) => "forbidden",
        _ => "error",
    }
}

/// Books a slot. With `Idempotency-Key`, a retry of the same request gets the same answer
/// (header `Idempotent-Replayed: true`); the same key with another request gets 422.
#[utoipa::path(post, path = "/v1/appointments", tag = "appointments", security(("bearer" = [])),
    request_body = BookAppointment,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 201, body = Appointment),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "Slot taken or held, or a booking rule refuses it", body = Problem),
        (status = 422, description = "Not a slot, in the past, unknown practitioner or type, key reused", body = Problem)))]
pub async fn book(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    headers: HeaderMap,
    Json(body): Json<BookAppointment>,
) -> ApiResult<Response> {
    let patient_id = patient_for(&caller, body.patient_id)?;
    let idempotency = Idempotency::from_request(&caller, &headers, "book", &body)?;
    let placement = Placement {
        id: Uuid::new_v4(),
        practitioner_id: body.practitioner_id,
        appointment_type_id: body.appointment_type_id,
        starts_at: body.starts_at,
        patient_id,
        booked_by: caller.subject(),
        previous: None,
    };
    // Without a key, validate first (under contention most attempts end here with a 409 at the
    // cost of one query), audit, then book in one statement committed on its own: one more round
    // trip.
    // With a key, a stored answer must win, so everything happens in a transaction after the
    // claim.
    if !idempotency.is_keyed() {
        let placed = async {
            let (schedule, slot) = load_slot(&state.pool, &placement).await?;
            // Audited before the write is made: a write the trail cannot take is not made (at
            // worst the trail shows an attempt that was then refused).
            let audit = Audited::booking(&placement);
            audit_write(&state, &caller, &purpose, "appointment.book", &audit).await?;
            place(&state, &state.pool, &placement, &schedule, slot).await
        }
        .await;
        return match placed {
            Ok(row) => {
                state.outbox.wake();
                state.count_outcome("booked");
                Ok((StatusCode::CREATED, Json(Appointment::from(row))).into_response())
            }
            Err(e) => {
                state.count_outcome(outcome_label(&e));
                Err(e)
            }
        };
    }
    let mut tx = match idempotency.begin(&state.pool).await? {
        Started::Proceed(tx) => tx,
        Started::Replay(response) => return Ok(response),
    };
    let placed = async {
        let (schedule, slot) = load_slot(&mut *tx, &placement).await?;
        let row = place(&state, &mut *tx, &placement, &schedule, slot).await?;
        // Audited before the commit: a write the trail cannot take is not made.
        audit_write(
            &state,
            &caller,
            &purpose,
            "appointment.book",
            &Audited::of(&row, None),
        )
        .await?;
        Ok(row)
    }
    .await;
    match placed {
        Ok(row) => {
            let response = idempotency
                .finish(tx, StatusCode::CREATED, &Appointment::from(row))
                .await?;
            state.outbox.wake();
            state.count_outcome("booked");
            Ok(response)
        }
        Err(e) => {
            tx.rollback().await?;
            state.count_outcome(outcome_label(&e));
            idempotency.remember_error(&state.pool, &e).await;
            Err(e)
        }
    }
}

struct Placement<'a> {
    /// The new appointment's id.
    id: Uuid,
    practitioner_id: Uuid,
    appointment_type_id: Uuid,
    starts_at: DateTime<Utc>,
    patient_id: Uuid,
    booked_by: &'a str,
    /// Set when rescheduling: the appointment this one replaces (already cancelled in `tx`).
    previous: Option<&'a AppointmentRow>,
}

/// Checks that the requested start is a free slot of the practitioner for the appointment type;
/// returns the practitioner's schedule row and the slot.
async fn load_slot(
    db: impl sqlx::PgExecutor<'_>,
    p: &Placement<'_>,
) -> ApiResult<(ScheduleRow, Span)> {
    if p.starts_at <= Utc::now() {
        return Err(ApiError::Invalid("starts_at is in the past".into()));
    }
    let around = Span {
        start: p.starts_at - Duration::days(2),
        end: p.starts_at + Duration::days(2),
    };
    let schedule = db::practitioners::schedule_for_booking(
        db,
        p.practitioner_id,
        p.appointment_type_id,
        p.starts_at,
        around,
    )
    .await?
    .ok_or_else(|| ApiError::Invalid(format!("no practitioner {}", p.practitioner_id)))?;
    let minutes = schedule.duration_minutes.ok_or_else(|| {
        ApiError::Invalid(format!("no appointment type {}", p.appointment_type_id))
    })?;
    let generator = Schedule {
        tz: schedule.time_zone.0,
        windows: schedule.windows(),
        exceptions: schedule.exceptions(),
    };
    let slot = generator
        .slot_at(Duration::minutes(minutes as i64), p.starts_at)
        .ok_or_else(|| {
            ApiError::Invalid(format!(
                "{} is not the start of a slot this practitioner offers for this appointment type",
                p.starts_at.to_rfc3339()
            ))
        })?;
    if schedule.taken {
        return Err(ApiError::Conflict(SLOT_TAKEN.into()));
    }
    Ok((schedule, slot))
}

/// Applies the rules and books the slot with its outbox rows — the booking event and reminders —
/// in one statement (`db::appointments::place`), on `db`: the pool (committed on its own) or a
/// transaction.
async fn place(
    state: &AppState,
    db: impl sqlx::PgExecutor<'_>,
    p: &Placement<'_>,
    schedule: &ScheduleRow,
    slot: Span,
) -> ApiResult<AppointmentRow> {
    let now = Utc::now();
    let new = NewAppointment {
        id: p.id,
        practitioner_id: p.practitioner_id,
        patient_id: p.patient_id,
        appointment_type_id: p.appointment_type_id,
        specialty: &schedule.specialty,
        slot,
        booked_by: p.booked_by,
        rescheduled_from: p.previous.map(|a| a.id),
    };
    let preview = AppointmentRow {
        id: new.id,
        practitioner_id: new.practitioner_id,
        patient_id: new.patient_id,
        appointment_type_id: new.appointment_type_id,
        specialty: schedule.specialty.clone(),
        starts_at: slot.start,
        ends_at: slot.end,
        status: Status::Booked,
        booked_by: p.booked_by.into(),
        rescheduled_from: new.rescheduled_from,
        rescheduled_to: None,
        cancelled_at: None,
        cancelled_by: None,
        cancellation_reason: None,
        created_at: now,
        updated_at: now,
    };
    let outbox = events::booked_rows(&preview, p.previous);
    let exclusion = state.rules.same_specialty_exclusion(slot.start);
    db::appointments::place(db, &new, exclusion, &outbox)
        .await
        .map_err(|e| match e {
            PlaceError::SameSpecialty(other) => ApiError::Conflict(format!(
                "the patient already has a {} appointment at {}; two must be at least {} days apart",
                schedule.specialty,
                other.to_rfc3339(),
                state.rules.same_specialty_min.num_days()
            )),
            PlaceError::Held(until) => ApiError::Conflict(format!(
                "this slot is held for a patient from the waitlist until {}",
                until.to_rfc3339()
            )),
            PlaceError::Db(e) => ApiError::from_db(e, CONSTRAINTS),
        })
}

/// What an appointment write's audit event says: the appointment, its patient and status, and
/// the appointment it replaced.
struct Audited {
    appointment_id: Uuid,
    patient_id: Uuid,
    status: Status,
    from: Option<Uuid>,
}

impl Audited {
    fn of(row: &AppointmentRow, from: Option<Uuid>) -> Audited {
        Audited {
            appointment_id: row.id,
            patient_id: row.patient_id,
            status: row.status,
            from,
        }
    }

    /// A booking about to be made.
    fn booking(p: &Placement<'_>) -> Audited {
        Audited {
            appointment_id: p.id,
            patient_id: p.patient_id,
            status: Status::Booked,
            from: None,
        }
    }
}

/// Publishes the audit event of a write, before the write commits (`kit/src/audit.rs` says why).
async fn audit_write(
    state: &AppState,
    caller: &AuthUser,
    purpose: &Purpose,
    action: &str,
    audited: &Audited,
) -> ApiResult<()> {
    let mut detail =
        serde_json::json!({ "appointment_id": audited.appointment_id, "status": audited.status });
    if let Some(from) = audited.from {
        detail["rescheduled_from"] = serde_json::json!(from);
    }
    state
        .audit
        .record(caller, purpose, action, Some(audited.patient_id), detail)
        .await
}

/// Loads an appointment the caller may act on as patient or admin (404 for other patients').
async fn load_for_update(
    tx: &mut Transaction<'static, Postgres>,
    caller: &AuthUser,
    id: Uuid,
) -> ApiResult<AppointmentRow> {
    caller.require(&[Role::Admin, Role::Patient])?;
    let row = db::appointments::by_id_for_update(tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no appointment {id}")))?;
    if caller.role() == Role::Patient && caller.user_id()? != row.patient_id {
        return Err(ApiError::NotFound(format!("no appointment {id}")));
    }
    if row.status != Status::Booked {
        return Err(ApiError::Conflict(format!(
            "only booked appointments can change (this one is {})",
            row.status
        )));
    }
    Ok(row)
}

/// Why an appointment is cancelled (optional; the practice's reason is told to the patient).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelAppointment {
    /// Up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// Cancels an appointment. Patients may cancel their own until the cancellation window closes
/// (`cancellation_window_hours` before the start); admins any time, with a reason the patient is
/// told. Withdraws its reminders and offers the slot to the waitlist.
#[utoipa::path(post, path = "/v1/appointments/{id}/cancel", tag = "appointments",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Appointment id")),
    request_body(content = Option<CancelAppointment>, description = "Optional: the reason"),
    responses((status = 200, body = Appointment), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "Not booked, or the cancellation window has closed", body = Problem),
        (status = 422, description = "Reason too long", body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Appointment>> {
    // The body is optional: none (or an empty one, whatever its content type) cancels without
    // a reason, as before reasons existed.
    let body: CancelAppointment = if body.iter().all(u8::is_ascii_whitespace) {
        CancelAppointment::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Invalid(format!("the body must be {{\"reason\": …}}: {e}")))?
    };
    let reason = body
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::Invalid("reason: at most 500 characters".into()));
    }
    let by = if caller.role() == Role::Patient {
        "patient"
    } else {
        "practice"
    };
    let mut tx = state.pool.begin().await?;
    let row = load_for_update(&mut tx, &caller, id).await?;
    if caller.role() == Role::Patient {
        state
            .rules
            .check_patient_may_cancel(row.starts_at, Utc::now())?;
    }
    let cancelled = db::appointments::cancel(&mut *tx, id, by, reason.as_deref())
        .await?
        .ok_or_else(|| ApiError::Conflict("the appointment changed meanwhile".into()))?;
    db::outbox::withdraw_reminders(&mut *tx, id).await?;
    db::outbox::insert(&mut *tx, &[events::cancelled_row(&cancelled)]).await?;
    crate::waitlist::offer_freed_slot(
        &mut tx,
        &state.rules,
        row.practitioner_id,
        row.appointment_type_id,
        row.span(),
        row.patient_id,
    )
    .await?;
    let audited = Audited::of(&cancelled, None);
    audit_write(&state, &caller, &purpose, "appointment.cancel", &audited).await?;
    tx.commit().await?;
    state.outbox.wake();
    tracing::info!(by = %caller.subject(), appointment = %id, "appointment cancelled");
    Ok(Json(cancelled.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Reschedule {
    /// Start of the new slot (same practitioner).
    pub starts_at: DateTime<Utc>,
    /// Defaults to the current appointment's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_type_id: Option<Uuid>,
}

/// Moves an appointment to another slot of the same practitioner: the old one is cancelled
/// (with `rescheduled_to`), a new one booked (with `rescheduled_from`), atomically. Same rules
/// as cancelling; honours `Idempotency-Key` like booking.
#[utoipa::path(post, path = "/v1/appointments/{id}/reschedule", tag = "appointments",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Appointment id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe", pattern = "^[!-~]{1,255}$")),
    request_body = Reschedule,
    responses((status = 201, description = "The new appointment", body = Appointment),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reschedule(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<Reschedule>,
) -> ApiResult<Response> {
    caller.require(&[Role::Admin, Role::Patient])?;
    let idempotency =
        Idempotency::from_request(&caller, &headers, &format!("reschedule {id}"), &body)?;
    let mut tx = match idempotency.begin(&state.pool).await? {
        Started::Proceed(tx) => tx,
        Started::Replay(response) => return Ok(response),
    };
    let result = reschedule_in(&state, &mut tx, &caller, &purpose, id, &body).await;
    match result {
        Ok(row) => {
            let response = idempotency
                .finish(tx, StatusCode::CREATED, &Appointment::from(row))
                .await?;
            state.outbox.wake();
            state.count_outcome("rescheduled");
            Ok(response)
        }
        Err(e) => {
            tx.rollback().await?;
            state.count_outcome(outcome_label(&e));
            idempotency.remember_error(&state.pool, &e).await;
            Err(e)
        }
    }
}

async fn reschedule_in(
    state: &AppState,
    tx: &mut Transaction<'static, Postgres>,
    caller: &AuthUser,
    purpose: &Purpose,
    id: Uuid,
    body: &Reschedule,
) -> ApiResult<AppointmentRow> {
    let old = load_for_update(tx, caller, id).await?;
    if caller.role() == Role::Patient {
        state
            .rules
            .check_patient_may_cancel(old.starts_at, Utc::now())?;
    }
    db::appointments::transition(&mut **tx, id, Status::Cancelled, &[Status::Booked])
        .await?
        .ok_or_else(|| ApiError::Conflict("the appointment changed meanwhile".into()))?;
    db::outbox::withdraw_reminders(&mut **tx, id).await?;
    let placement = Placement {
        id: Uuid::new_v4(),
        practitioner_id: old.practitioner_id,
        appointment_type_id: body.appointment_type_id.unwrap_or(old.appointment_type_id),
        starts_at: body.starts_at,
        patient_id: old.patient_id,
        booked_by: caller.subject(),
        previous: Some(&old),
    };
    let (schedule, slot) = load_slot(&mut **tx, &placement).await?;
    let new = place(state, &mut **tx, &placement, &schedule, slot).await?;
    db::appointments::set_rescheduled_to(&mut **tx, old.id, new.id).await?;
    if !new.span().overlaps(&old.span()) {
        crate::waitlist::offer_freed_slot(
            tx,
            &state.rules,
            old.practitioner_id,
            old.appointment_type_id,
            old.span(),
            old.patient_id,
        )
        .await?;
    }
    let audited = Audited::of(&new, Some(old.id));
    audit_write(state, caller, purpose, "appointment.reschedule", &audited).await?;
    tracing::info!(by = %caller.subject(), from = %old.id, to = %new.id, "appointment rescheduled");
    Ok(new)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Appointments starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// …and before this one.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<Status>,
    /// Admins and services only (clinicians see their own agenda, patients their own).
    pub practitioner_id: Option<Uuid>,
    /// Admins and services only.
    pub patient_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppointmentPage {
    pub items: Vec<Appointment>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// Appointments by start time: a patient's own, a clinician's agenda, or (admins, services)
/// anyone's.
#[utoipa::path(operation_id = "list_appointments", get, path = "/v1/appointments", tag = "appointments", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = AppointmentPage), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<AppointmentPage>> {
    let listed = visible(&state, &caller, &purpose, q, false).await?;
    Ok(Json(AppointmentPage {
        next_offset: next_offset(listed.items.len(), listed.limit, listed.offset),
        items: listed.items,
        limit: listed.limit,
        offset: listed.offset,
    }))
}

/// The appointments `q` selects among those the caller may see, one page by start time, each
/// patient shown audited; with `count`, how many match in all. The JSON list and the FHIR
/// `Appointment` search share it, so they share the access rules and the audit trail.
pub async fn visible(
    state: &AppState,
    caller: &AuthUser,
    purpose: &Purpose,
    q: ListParams,
    count: bool,
) -> ApiResult<Listed<Appointment>> {
    caller.require(&[Role::Admin, Role::Service, Role::Clinician, Role::Patient])?;
    caller.require_service_scope(Scope::AppointmentsRead)?;
    let (limit, offset) = PageParams {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve()?;
    let mut filter = AppointmentFilter {
        patient_id: q.patient_id,
        practitioner_id: q.practitioner_id,
        status: q.status,
        from: q.from,
        to: q.to,
    };
    match caller.role() {
        Role::Patient => {
            let me = caller.user_id()?;
            if q.patient_id.is_some_and(|p| p != me) {
                return Err(ApiError::Forbidden(
                    "patients see only their own appointments".into(),
                ));
            }
            filter.patient_id = Some(me);
        }
        Role::Clinician => {
            let mine = own_practitioner(state, caller).await?;
            if q.practitioner_id.is_some_and(|p| p != mine) {
                return Err(ApiError::Forbidden(
                    "clinicians see only their own agenda".into(),
                ));
            }
            filter.practitioner_id = Some(mine);
        }
        _ => {}
    }
    let rows = db::appointments::list(&state.pool, &filter, limit, offset).await?;
    // One audit event per patient whose appointments are shown (one for the query when none).
    let mut shown: Vec<(Uuid, usize)> = Vec::new();
    for r in &rows {
        match shown.iter_mut().find(|(p, _)| *p == r.patient_id) {
            Some((_, n)) => *n += 1,
            None => shown.push((r.patient_id, 1)),
        }
    }
    let mut events: Vec<_> = shown
        .iter()
        .map(|(patient, n)| {
            state.audit.event(
                caller,
                purpose,
                "appointment.list",
                Some(*patient),
                serde_json::json!({ "appointments": n }),
            )
        })
        .collect();
    if events.is_empty() {
        events.push(state.audit.event(
            caller,
            purpose,
            "appointment.list",
            filter.patient_id,
            serde_json::json!({ "appointments": 0 }),
        ));
    }
    state.audit.publish(events).await?;
    let total = if count {
        Some(db::appointments::count(&state.pool, &filter).await?)
    } else {
        None
    };
    Ok(Listed {
        items: rows.into_iter().map(Into::into).collect(),
        limit,
        offset,
        total,
    })
}

/// The practitioner id of a clinician caller (403 without a profile).
async fn own_practitioner(state: &AppState, caller: &AuthUser) -> ApiResult<Uuid> {
    let me = caller.user_id()?;
    db::practitioners::by_user_id(&state.pool, me)
        .await?
        .map(|p| p.id)
        .ok_or_else(|| ApiError::Forbidden("you have no practitioner profile".into()))
}

/// One appointment (patients: their own; clinicians: their agenda's).
#[utoipa::path(operation_id = "get_appointments", get, path = "/v1/appointments/{id}", tag = "appointments",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Appointment id")),
    responses((status = 200, body = Appointment), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Appointment>> {
    Ok(Json(read(&state, &caller, &purpose, id).await?))
}

/// Appointment `id` if the caller may see it (404 otherwise), the read audited: the JSON and
/// FHIR reads share it.
pub async fn read(
    state: &AppState,
    caller: &AuthUser,
    purpose: &Purpose,
    id: Uuid,
) -> ApiResult<Appointment> {
    caller.require(&[Role::Admin, Role::Service, Role::Clinician, Role::Patient])?;
    caller.require_service_scope(Scope::AppointmentsRead)?;
    let not_found = || ApiError::NotFound(format!("no appointment {id}"));
    let row = db::appointments::by_id(&state.pool, id)
        .await?
        .ok_or_else(not_found)?;
    let visible = match caller.role() {
        Role::Patient => caller.user_id()? == row.patient_id,
        Role::Clinician => own_practitioner(state, caller).await? == row.practitioner_id,
        _ => true,
    };
    if !visible {
        return Err(not_found());
    }
    state
        .audit
        .record(
            caller,
            purpose,
            "appointment.read",
            Some(row.patient_id),
            serde_json::json!({ "appointment_id": id }),
        )
        .await?;
    Ok(row.into())
}

/// A practitioner's (or an admin's) status mark.
async fn mark(
    state: &AppState,
    caller: &AuthUser,
    purpose: &Purpose,
    id: Uuid,
    to: Status,
) -> ApiResult<Json<Appointment>> {
    caller.require(&[Role::Admin, Role::Clinician])?;
    let row = db::appointments::by_id(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no appointment {id}")))?;
    if caller.role() == Role::Clinician
        && own_practitioner(state, caller).await? != row.practitioner_id
    {
        return Err(ApiError::Forbidden(
            "clinicians may mark only their own appointments".into(),
        ));
    }
    state
        .audit
        .record(
            caller,
            purpose,
            "appointment.mark",
            Some(row.patient_id),
            serde_json::json!({ "appointment_id": id, "status": to }),
        )
        .await?;
    let updated = db::appointments::transition(&state.pool, id, to, to.allowed_from())
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("cannot mark a {} appointment {to}", row.status))
        })?;
    tracing::info!(by = %caller.subject(), appointment = %id, status = %to, "appointment marked");
    Ok(Json(updated.into()))
}

/// The patient has arrived (from `booked`).
#[utoipa::path(post, path = "/v1/appointments/{id}/arrived", tag = "appointments",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Appointment id")),
    responses((status = 200, body = Appointment), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn mark_arrived(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Appointment>> {
    mark(&state, &caller, &purpose, id, Status::Arrived).await
}

/// The patient did not come (from `booked`).
#[utoipa::path(post, path = "/v1/appointments/{id}/noshow", tag = "appointments",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Appointment id")),
    responses((status = 200, body = Appointment), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn mark_noshow(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Appointment>> {
    mark(&state, &caller, &purpose, id, Status::Noshow).await
}

/// The appointment took place (from `booked` or `arrived`).
#[utoipa::path(post, path = "/v1/appointments/{id}/fulfilled", tag = "appointments",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Appointment id")),
    responses((status = 200, body = Appointment), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn mark_fulfilled(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Appointment>> {
    mark(&state, &caller, &purpose, id, Status::Fulfilled).await
}
