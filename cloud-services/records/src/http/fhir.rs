//! FHIR R4 export: `Patient` from the encrypted record, `Observation` (vital signs, LOINC coded,
//! UCUM units) from the alerts service's per-minute vitals history.

use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use episante_kit::{ApiError, ApiResult, Problem};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use uuid::Uuid;

use super::patients::visible_patient;
use super::{AppState, Caller};
use crate::peers::VitalsHistory;
use crate::store::Patient;

pub const FHIR_JSON: &str = "application/fhir+json";
/// Identifier system of national health ids.
pub const NATIONAL_ID_SYSTEM: &str = "urn:episante:national-health-id";
/// Longest Observation search window.
const MAX_WINDOW_DAYS: i64 = 31;

fn fhir(body: Value) -> Response {
    ([(CONTENT_TYPE, FHIR_JSON)], body.to_string()).into_response()
}

/// A record as a FHIR R4 `Patient` resource.
pub fn patient_resource(p: &Patient) -> Value {
    let mut resource = json!({
        "resourceType": "Patient",
        "id": p.id,
        "meta": { "lastUpdated": p.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true) },
        "active": p.status == "active",
        "name": [{
            "use": "official",
            "family": p.identity.family_name,
            "given": p.identity.given_names,
        }],
        "gender": p.identity.sex.as_fhir(),
        "birthDate": p.identity.birth_date.to_string(),
    });
    let obj = resource.as_object_mut().expect("object");
    if let Some(id) = &p.identity.national_id {
        obj.insert(
            "identifier".into(),
            json!([{ "use": "official", "system": NATIONAL_ID_SYSTEM, "value": id }]),
        );
    }
    let mut telecom = Vec::new();
    if let Some(phone) = &p.identity.phone {
        telecom.push(json!({ "system": "phone", "value": phone, "use": "mobile" }));
    }
    if let Some(email) = &p.identity.email {
        telecom.push(json!({ "system": "email", "value": email }));
    }
    if !telecom.is_empty() {
        obj.insert("telecom".into(), Value::Array(telecom));
    }
    if let Some(a) = &p.identity.address {
        obj.insert(
            "address".into(),
            json!([{ "use": "home", "line": a.lines, "city": a.city,
                     "postalCode": a.postal_code, "country": a.country }]),
        );
    }
    resource
}

/// `GET /fhir/Patient/{id}`.
#[utoipa::path(get, path = "/v1/fhir/Patient/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, description = "FHIR R4 Patient", content_type = "application/fhir+json"),
        (status = 404, body = Problem)))]
pub async fn patient(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let patient = visible_patient(&state, &caller.scope()?, id).await?;
    state
        .audit
        .record(vec![caller.audit("fhir.patient.read", Some(id), json!({}))])
        .await?;
    Ok(fhir(patient_resource(&patient)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ObservationParams {
    /// `{id}` or `Patient/{id}`.
    pub patient: String,
    /// Start of the window (RFC 3339), default 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End of the window (RFC 3339), default now.
    pub to: Option<DateTime<Utc>>,
    /// Only this LOINC code, e.g. `8867-4`.
    pub code: Option<String>,
}

/// The vitals history as FHIR `Observation`s, one per vital and minute (value: the minute's mean).
pub fn observation_bundle(history: &VitalsHistory, code: Option<&str>) -> Value {
    let patient = history.patient_id;
    let mut entries = Vec::new();
    for series in &history.series {
        let vital = series.vital;
        if code.is_some_and(|c| c != vital.loinc()) {
            continue;
        }
        for point in &series.points {
            let id = format!("{patient}-{}-{}", vital.as_str(), point.t.timestamp() / 60);
            let end = point.t + Duration::minutes(1);
            let resource = json!({
                "resourceType": "Observation",
                "id": id,
                "status": "final",
                "category": [{ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs", "display": "Vital Signs" }] }],
                "code": {
                    "coding": [{ "system": "http://loinc.org", "code": vital.loinc(), "display": vital.display() }],
                    "text": vital.display(),
                },
                "subject": { "reference": format!("Patient/{patient}") },
                "effectivePeriod": {
                    "start": point.t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "end": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                },
                "valueQuantity": {
                    "value": (point.avg * 100.0).round() / 100.0,
                    "unit": vital.unit(),
                    "system": "http://unitsofmeasure.org",
                    "code": vital.unit(),
                },
                "note": [{ "text": format!(
                    "mean of {} readings in the minute; min {}, max {}",
                    point.count, point.min, point.max) }],
            });
            entries.push(json!({
                "fullUrl": format!("urn:uuid:{}", Uuid::new_v5(&Uuid::NAMESPACE_OID, id.as_bytes())),
                "resource": resource,
                "search": { "mode": "match" },
            }));
        }
    }
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "entry": entries,
    })
}

/// `GET /fhir/Observation?patient=…`: vital signs as a FHIR searchset `Bundle`.
#[utoipa::path(get, path = "/v1/fhir/Observation", tag = "fhir", security(("bearer" = [])),
    params(ObservationParams),
    responses((status = 200, description = "FHIR R4 Bundle of Observations", content_type = "application/fhir+json"),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn observations(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ObservationParams>,
) -> ApiResult<Response> {
    let id: Uuid = params
        .patient
        .strip_prefix("Patient/")
        .unwrap_or(&params.patient)
        .parse()
        .map_err(|_| ApiError::Invalid("patient must be a patient id or Patient/{id}".into()))?;
    let to = params.to.unwrap_or_else(Utc::now);
    let from = params.from.unwrap_or(to - Duration::hours(24));
    if from >= to || to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::Invalid(format!(
            "from must be before to, at most {MAX_WINDOW_DAYS} days apart"
        )));
    }
    caller.scope()?.check(&state.pool, id).await?;
    let history = state.peers.vitals(id, from, to).await?;
    let bundle = observation_bundle(&history, params.code.as_deref());
    state
        .audit
        .record(vec![caller.audit(
            "fhir.observation.search",
            Some(id),
            json!({ "from": from, "to": to, "total": bundle["total"] }),
        )])
        .await?;
    Ok(fhir(bundle))
}
