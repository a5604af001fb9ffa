//! FHIR R4 views of bookings: `Practitioner`, `Schedule` (one per practitioner), `Slot` (free
//! slots, computed as `GET /v1/slots` computes them) and `Appointment`.
//!
//! Each search runs the same function as its JSON list (`practitioners::select`,
//! `slots::free`, `appointments::visible`), so the FHIR API has the same access rules and audit
//! trail by construction; this module only parses FHIR search parameters and shapes resources.
//! Errors leave as `OperationOutcome`s (`episante_kit::fhir::operation_outcomes`, applied to
//! every service's `/v1/fhir/` paths by the kit's server).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use episante_kit::audit::Purpose;
use episante_kit::fhir::{fhir_response, name_uuid, searchset, OperationOutcome, SearchParams};
use episante_kit::{ApiError, ApiResult, AuthUser};
use serde_json::{json, Value};
use uuid::Uuid;

use super::appointments::{self, Appointment};
use super::practitioners::{self, practitioner_filter, Practitioner};
use super::slots::{self, Slot};
use super::{AppState, PageParams};
use crate::domain::appointment::Status;

/// Coding system of appointment types (`Slot.serviceType`, `Appointment.serviceType`).
pub const APPOINTMENT_TYPE_SYSTEM: &str = "urn:episante:appointment-type";

/// Query string pairs, repeated keys kept (FHIR ANDs repeated parameters).
type Pairs = Query<Vec<(String, String)>>;

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A resource id from the path: a UUID (anything else cannot exist here: 404).
fn uuid_id(kind: &str, id: &str) -> ApiResult<Uuid> {
    id.parse()
        .map_err(|_| ApiError::NotFound(format!("no {kind} {id}")))
}

fn uuid_param(v: &str) -> Option<Uuid> {
    v.parse().ok()
}

/// `_count`/`_offset` as a page (checked like `limit`/`offset`).
fn page(params: &mut SearchParams) -> ApiResult<PageParams> {
    let (limit, offset) = params.take_page()?;
    Ok(PageParams { limit, offset })
}

fn bundle(resources: Vec<Value>, total: Option<i64>) -> Response {
    let total = total.map_or(resources.len(), |t| t.max(0) as usize);
    fhir_response(searchset(resources, total))
}

pub fn practitioner_resource(p: &Practitioner) -> Value {
    json!({
        "resourceType": "Practitioner",
        "id": p.id,
        "active": true,
        "name": [{ "text": p.display_name }],
        "address": [{ "city": p.location }],
        "qualification": [{ "code": { "text": p.specialty } }],
        "communication": p.languages.iter().map(|l| json!({
            "coding": [{ "system": "urn:ietf:bcp:47", "code": l }]
        })).collect::<Vec<_>>(),
    })
}

pub fn schedule_resource(p: &Practitioner) -> Value {
    json!({
        "resourceType": "Schedule",
        "id": p.id,
        "active": true,
        "serviceType": [{ "text": p.specialty }],
        "actor": [{ "reference": format!("Practitioner/{}", p.id), "display": p.display_name }],
        "comment": format!("Working hours in {}", p.time_zone),
    })
}

/// A free slot. Slots are computed, not stored: the id is a name-based UUID of practitioner,
/// appointment type and start, the same in every search.
pub fn slot_resource(s: &Slot) -> Value {
    let name = format!(
        "{}/{}/{}",
        s.practitioner_id,
        s.appointment_type_id,
        s.starts_at.timestamp()
    );
    json!({
        "resourceType": "Slot",
        "id": name_uuid(&name),
        "serviceType": [{ "coding": [{
            "system": APPOINTMENT_TYPE_SYSTEM, "code": s.appointment_type_id
        }] }],
        "schedule": { "reference": format!("Schedule/{}", s.practitioner_id) },
        "status": "free",
        "start": instant(s.starts_at),
        "end": instant(s.ends_at),
    })
}

pub fn appointment_resource(a: &Appointment) -> Value {
    let mut resource = json!({
        "resourceType": "Appointment",
        "id": a.id,
        "status": a.status.as_str(),
        "serviceType": [{ "coding": [{
            "system": APPOINTMENT_TYPE_SYSTEM, "code": a.appointment_type_id
        }] }],
        "specialty": [{ "text": a.specialty }],
        "start": instant(a.starts_at),
        "end": instant(a.ends_at),
        "minutesDuration": (a.ends_at - a.starts_at).num_minutes(),
        "created": instant(a.created_at),
        "participant": [
            { "actor": { "reference": format!("Patient/{}", a.patient_id) },
              "required": "required", "status": "accepted" },
            { "actor": { "reference": format!("Practitioner/{}", a.practitioner_id) },
              "required": "required", "status": "accepted" },
        ],
    });
    if let Some(from) = a.rescheduled_from {
        resource["comment"] = json!(format!("Rescheduled from Appointment/{from}"));
    }
    if a.status == Status::Cancelled {
        let reason = if a.rescheduled_to.is_some() {
            "Rescheduled"
        } else {
            "Cancelled"
        };
        resource["cancelationReason"] = json!({ "text": reason });
    }
    resource
}

/// The practitioners a Practitioner or Schedule search selects.
async fn practitioner_search(
    state: &AppState,
    caller: &AuthUser,
    params: &mut SearchParams,
    actor_param: Option<&str>,
) -> ApiResult<(Vec<Practitioner>, Option<i64>)> {
    let mut id = params.take_parsed("_id", "a practitioner id", uuid_param)?;
    if let Some(name) = actor_param {
        if let Some(actor) = params.take_reference(name, "Practitioner", uuid_param)? {
            if id.is_some_and(|i| i != actor) {
                return Ok((vec![], Some(0)));
            }
            id = Some(actor);
        }
    }
    let language = params.take("communication")?;
    let city = params.take("address-city")?;
    let page = page(params)?;
    let filter = practitioner_filter(id, None, city, language);
    let listed = practitioners::select(state, caller, &filter, &page, true).await?;
    Ok((listed.items, listed.total))
}

/// `GET /v1/fhir/Practitioner/{id}`.
#[utoipa::path(get, path = "/v1/fhir/Practitioner/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "Practitioner id")),
    responses((status = 200, description = "Practitioner", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 404, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn practitioner(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_id("Practitioner", &id)?;
    let found = practitioner_by_id(&state, &caller, id).await?;
    Ok(fhir_response(practitioner_resource(&found)))
}

/// `GET /v1/fhir/Schedule/{id}` (a practitioner's id).
#[utoipa::path(get, path = "/v1/fhir/Schedule/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "Practitioner id")),
    responses((status = 200, description = "Schedule (one per practitioner)", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 404, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn schedule(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_id("Schedule", &id)?;
    let found = practitioner_by_id(&state, &caller, id).await?;
    Ok(fhir_response(schedule_resource(&found)))
}

/// Practitioner `id` through the search (same access rule); 404 if there is none.
async fn practitioner_by_id(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
) -> ApiResult<Practitioner> {
    let filter = practitioner_filter(Some(id), None, None, None);
    let page = PageParams::default();
    let listed = practitioners::select(state, caller, &filter, &page, false).await?;
    listed
        .items
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("no practitioner {id}")))
}

/// `GET /v1/fhir/Practitioner?_id&communication&address-city&_count&_offset`.
#[utoipa::path(get, path = "/v1/fhir/Practitioner", tag = "fhir", security(("bearer" = [])),
    params(("_id" = Option<String>, Query, description = "Practitioner id"), ("communication" = Option<String>, Query, description = "Language (BCP 47), e.g. fr"), ("address-city" = Option<String>, Query, description = "City"), ("_count" = Option<String>, Query, description = "Page size, 1 to 500 (default 50)"), ("_offset" = Option<String>, Query, description = "Matches to skip")),
    responses((status = 200, description = "searchset Bundle of Practitioner", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn practitioners(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(pairs): Pairs,
) -> ApiResult<Response> {
    let mut params = SearchParams::new(pairs);
    let (items, total) = practitioner_search(&state, &caller, &mut params, None).await?;
    params.finish()?;
    Ok(bundle(
        items.iter().map(practitioner_resource).collect(),
        total,
    ))
}

/// `GET /v1/fhir/Schedule?_id&actor&communication&address-city&_count&_offset`.
#[utoipa::path(get, path = "/v1/fhir/Schedule", tag = "fhir", security(("bearer" = [])),
    params(("_id" = Option<String>, Query, description = "Practitioner id"), ("actor" = Option<String>, Query, description = "Practitioner/{id}"), ("communication" = Option<String>, Query, description = "Language (BCP 47)"), ("address-city" = Option<String>, Query, description = "City"), ("_count" = Option<String>, Query, description = "Page size, 1 to 500 (default 50)"), ("_offset" = Option<String>, Query, description = "Matches to skip")),
    responses((status = 200, description = "searchset Bundle of Schedule", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn schedules(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(pairs): Pairs,
) -> ApiResult<Response> {
    let mut params = SearchParams::new(pairs);
    let (items, total) = practitioner_search(&state, &caller, &mut params, Some("actor")).await?;
    params.finish()?;
    Ok(bundle(items.iter().map(schedule_resource).collect(), total))
}

/// `GET /v1/fhir/Slot?service-type&schedule&start&status=free&_count&_offset`.
///
/// `service-type` (an appointment type id, which sets the slot length) is required; `start`
/// defaults to the next 7 days and may span at most the service's slot search range.
#[utoipa::path(get, path = "/v1/fhir/Slot", tag = "fhir", security(("bearer" = [])),
    params(("service-type" = String, Query, description = "Appointment type id (sets the slot length); required"), ("schedule" = Option<String>, Query, description = "Schedule/{practitioner id}"), ("start" = Option<String>, Query, description = "Date with prefix (ge, gt, le, lt, eq), repeatable; default the next 7 days"), ("status" = Option<String>, Query, description = "free (the only searchable status)"), ("_count" = Option<String>, Query, description = "Page size, 1 to 500 (default 50)"), ("_offset" = Option<String>, Query, description = "Matches to skip")),
    responses((status = 200, description = "searchset Bundle of free Slot", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn slots(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(pairs): Pairs,
) -> ApiResult<Response> {
    let mut params = SearchParams::new(pairs);
    let kind = params
        .take_parsed("service-type", "an appointment type id", |v| {
            uuid_param(
                v.strip_prefix(&format!("{APPOINTMENT_TYPE_SYSTEM}|"))
                    .unwrap_or(v),
            )
        })?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "a Slot search needs service-type (an appointment type id: it sets the length)"
                    .into(),
            )
        })?;
    let practitioner = params.take_reference("schedule", "Schedule", uuid_param)?;
    if let Some(status) = params.take("status")? {
        if status != "free" {
            return Err(ApiError::BadRequest(
                "only free slots are searchable (status=free)".into(),
            ));
        }
    }
    let mut range = params.take_dates("start")?;
    let page = page(&mut params)?;
    params.finish()?;
    let (limit, offset) = page.resolve()?;

    let now = Utc::now();
    let from = range.from.unwrap_or(now).max(now - Duration::days(1));
    range.from = Some(from);
    let max_days = i64::from(state.config.max_search_days);
    let to = range.to.unwrap_or(from + Duration::days(7));
    if to <= from || to - from > Duration::days(max_days) {
        return Err(ApiError::BadRequest(format!(
            "search parameter start: the range must be non-empty and at most {max_days} days"
        )));
    }
    range.to = Some(to);
    // Local dates around the instants (zones are within a day of UTC), then the exact range.
    let filter = practitioner_filter(practitioner, None, None, None);
    let free = slots::free(
        &state,
        &caller,
        kind,
        &filter,
        (from - Duration::days(1)).date_naive(),
        (to + Duration::days(1)).date_naive(),
    )
    .await?;
    let matching: Vec<&Slot> = free
        .iter()
        .filter(|s| range.contains(s.starts_at))
        .collect();
    let total = matching.len() as i64;
    let resources = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(slot_resource)
        .collect();
    Ok(bundle(resources, Some(total)))
}

/// `GET /v1/fhir/Appointment/{id}`.
#[utoipa::path(get, path = "/v1/fhir/Appointment/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, description = "Appointment", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 404, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn appointment(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_id("Appointment", &id)?;
    let found = appointments::read(&state, &caller, &purpose, id).await?;
    Ok(fhir_response(appointment_resource(&found)))
}

/// `GET /v1/fhir/Appointment?patient&practitioner&date&status&_count&_offset`.
#[utoipa::path(get, path = "/v1/fhir/Appointment", tag = "fhir", security(("bearer" = [])),
    params(("patient" = Option<String>, Query, description = "Patient/{id}"), ("practitioner" = Option<String>, Query, description = "Practitioner/{id}"), ("date" = Option<String>, Query, description = "Start date with prefix (ge, gt, le, lt, eq), repeatable"), ("status" = Option<String>, Query, description = "booked, arrived, fulfilled, cancelled or noshow"), ("_count" = Option<String>, Query, description = "Page size, 1 to 500 (default 50)"), ("_offset" = Option<String>, Query, description = "Matches to skip")),
    responses((status = 200, description = "searchset Bundle of Appointment", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn appointments(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Query(pairs): Pairs,
) -> ApiResult<Response> {
    let mut params = SearchParams::new(pairs);
    let patient_id = params.take_reference("patient", "Patient", uuid_param)?;
    let practitioner_id = params.take_reference("practitioner", "Practitioner", uuid_param)?;
    let status = params.take_parsed("status", "an appointment status", |v| {
        Status::ALL.into_iter().find(|s| s.as_str() == v)
    })?;
    let dates = params.take_dates("date")?;
    let (limit, offset) = params.take_page()?;
    params.finish()?;
    let query = appointments::ListParams {
        from: dates.from,
        to: dates.to,
        status,
        practitioner_id,
        patient_id,
        limit,
        offset,
    };
    let listed = appointments::visible(&state, &caller, &purpose, query, true).await?;
    Ok(bundle(
        listed.items.iter().map(appointment_resource).collect(),
        listed.total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use episante_kit::fhir::is_valid_id;

    #[test]
    fn slot_ids_are_valid_fhir_ids_and_stable() {
        let slot = Slot {
            practitioner_id: Uuid::nil(),
            appointment_type_id: Uuid::max(),
            starts_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            ends_at: DateTime::from_timestamp(1_800_001_800, 0).unwrap(),
            local_start: String::new(),
        };
        let a = slot_resource(&slot);
        assert!(is_valid_id(a["id"].as_str().unwrap()));
        assert_eq!(a["id"], slot_resource(&slot)["id"]);
        assert_eq!(
            a["schedule"]["reference"],
            format!("Schedule/{}", Uuid::nil())
        );
    }
}
