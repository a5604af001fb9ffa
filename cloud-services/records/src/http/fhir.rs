//! FHIR R4 export: `Patient` from the encrypted record, `Observation` (vital signs, LOINC coded,
//! UCUM units) from the alerts service's per-minute vitals history.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use episante_kit::fhir::{fhir_response as fhir, DateRange, OperationOutcome, SearchParams};
use episante_kit::{ApiError, ApiResult};
use episante_protocol::VitalKind;
use serde_json::{json, Value};
use uuid::Uuid;

use super::patients::visible_patient;
use super::{AppState, Caller};
use crate::peers::{VitalPoint, VitalsHistory};
use crate::store::Patient;

/// Identifier system of national health ids.
pub const NATIONAL_ID_SYSTEM: &str = "urn:episante:national-health-id";
/// Longest Observation search window.
const MAX_WINDOW_DAYS: i64 = 31;

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
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 404, body = OperationOutcome, content_type = "application/fhir+json")))]
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

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
/// LOINC code of the blood-pressure panel (vital-signs profile `bp`).
pub const BP_PANEL: &str = "85354-9";

fn loinc(code: &str, display: &str) -> Value {
    json!({ "system": LOINC, "code": code, "display": display })
}

/// `Observation.code` of a vital: its LOINC code, plus what the vital-signs profile requires
/// beside it (SpO2: `2708-6` first, then the pulse-oximetry `59408-5`).
fn vital_code(vital: VitalKind) -> Value {
    let mut coding = Vec::new();
    if vital == VitalKind::Spo2 {
        coding.push(loinc("2708-6", "Oxygen saturation in Arterial blood"));
    }
    coding.push(loinc(vital.loinc(), vital.display()));
    json!({ "coding": coding, "text": vital.display() })
}

fn quantity(vital: VitalKind, value: f64) -> Value {
    json!({
        "value": (value * 100.0).round() / 100.0,
        "unit": vital.unit(),
        "system": UCUM,
        "code": vital.unit(),
    })
}

fn summary(vital: VitalKind, point: &VitalPoint) -> String {
    format!(
        "{}: mean of {} readings in the minute; min {}, max {}",
        vital.display(),
        point.count,
        point.min,
        point.max
    )
}

/// A vital-signs Observation of the minute starting at `t` (`effectivePeriod`: the minute; the
/// value is the minute's mean, the note says how many readings and their range). Its id is
/// `{patient}-{code}-{minute since the epoch}`, within FHIR's `[A-Za-z0-9\-.]{1,64}`.
fn observation(patient: Uuid, code: Value, t: DateTime<Utc>, value: (&str, Value)) -> Value {
    let primary = code["coding"][0]["code"]
        .as_str()
        .unwrap_or("x")
        .to_string();
    let id = format!("{patient}-{primary}-{}", t.timestamp().div_euclid(60));
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut resource = json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs", "display": "Vital Signs" }] }],
        "code": code,
        "subject": { "reference": format!("Patient/{patient}") },
        "effectivePeriod": { "start": secs(t), "end": secs(t + Duration::minutes(1)) },
    });
    resource[value.0] = value.1;
    resource
}

/// A blood-pressure component: the value, or `dataAbsentReason` when that half was not measured
/// in the minute (the `bp` profile requires both components).
fn bp_component(vital: VitalKind, point: Option<&VitalPoint>) -> Value {
    let mut component = json!({ "code": { "coding": [loinc(vital.loinc(), vital.display())] } });
    match point {
        Some(p) => component["valueQuantity"] = quantity(vital, p.avg),
        None => {
            component["dataAbsentReason"] = json!({ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "unknown", "display": "Unknown" }] })
        }
    }
    component
}

/// The vitals history as FHIR `Observation`s conforming to the R4 vital-signs profiles: one per
/// vital and minute, except blood pressure, which is one `85354-9` panel per minute with systolic
/// and diastolic components. `code` keeps only Observations with that code (e.g. `8867-4`, or
/// `85354-9` for blood pressure).
pub fn observation_bundle(history: &VitalsHistory, code: Option<&str>) -> Value {
    let patient = history.patient_id;
    let mut resources = Vec::new();
    type Pressures<'a> = (Option<&'a VitalPoint>, Option<&'a VitalPoint>);
    let mut pressures: BTreeMap<DateTime<Utc>, Pressures> = BTreeMap::new();
    for series in &history.series {
        for point in &series.points {
            match series.vital {
                VitalKind::SystolicBp => pressures.entry(point.t).or_default().0 = Some(point),
                VitalKind::DiastolicBp => pressures.entry(point.t).or_default().1 = Some(point),
                vital => {
                    let mut o = observation(
                        patient,
                        vital_code(vital),
                        point.t,
                        ("valueQuantity", quantity(vital, point.avg)),
                    );
                    o["note"] = json!([{ "text": summary(vital, point) }]);
                    resources.push(o);
                }
            }
        }
    }
    for (t, (systolic, diastolic)) in pressures {
        let panel = json!({ "coding": [loinc(BP_PANEL, "Blood pressure panel with all children optional")],
                            "text": "Blood pressure" });
        let components = json!([
            bp_component(VitalKind::SystolicBp, systolic),
            bp_component(VitalKind::DiastolicBp, diastolic),
        ]);
        let mut o = observation(patient, panel, t, ("component", components));
        let notes: Vec<Value> = [
            (VitalKind::SystolicBp, systolic),
            (VitalKind::DiastolicBp, diastolic),
        ]
        .into_iter()
        .filter_map(|(v, p)| p.map(|p| json!({ "text": summary(v, p) })))
        .collect();
        o["note"] = Value::Array(notes);
        resources.push(o);
    }
    let entries: Vec<Value> = resources
        .into_iter()
        .filter(|o| {
            code.is_none_or(|c| {
                o["code"]["coding"]
                    .as_array()
                    .is_some_and(|codings| codings.iter().any(|k| k["code"] == c))
            })
        })
        .map(|o| {
            let id = o["id"].as_str().unwrap_or_default();
            json!({
                "fullUrl": format!("urn:uuid:{}", Uuid::new_v5(&Uuid::NAMESPACE_OID, id.as_bytes())),
                "resource": o,
                "search": { "mode": "match" },
            })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "entry": entries,
    })
}

/// `GET /fhir/Observation?patient=…`: vital signs as a FHIR searchset `Bundle`.
#[utoipa::path(get, path = "/v1/fhir/Observation", tag = "fhir", security(("bearer" = [])),
    params(
        ("patient" = String, Query, description = "The patient: `{id}` or `Patient/{id}`"),
        ("date" = Option<Vec<String>>, Query, description = "When measured, with a prefix (`ge`, `gt`, `le`, `lt`, `eq`), repeatable: `date=ge2026-12-01&date=lt2026-12-02T12:00Z`. Default: the 24 hours before the upper bound (or now); at most 31 days"),
        ("code" = Option<String>, Query, description = "Only this LOINC code, e.g. `8867-4`; `85354-9` for blood pressure"),
    ),
    responses((status = 200, description = "FHIR R4 Bundle of Observations", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 404, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 422, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 503, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn observations(
    State(state): State<AppState>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let mut params = SearchParams::new(pairs);
    let id = params
        .take_reference("patient", "Patient", |v| v.parse::<Uuid>().ok())?
        .ok_or_else(|| ApiError::BadRequest("search parameter patient is required".into()))?;
    let dates = params.take_dates("date")?;
    let code = params.take("code")?;
    params.finish()?;
    let (from, to) = observation_window(dates)?;
    caller.scope()?.check(&state.pool, id).await?;
    let history = state.peers.vitals(id, from, to).await?;
    let bundle = observation_bundle(&history, code.as_deref());
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

/// The window an Observation search reads: the `date` range, its open ends filled with "now"
/// and "24 hours before the end"; empty or longer than [`MAX_WINDOW_DAYS`] is refused.
fn observation_window(dates: DateRange) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let to = dates.to.unwrap_or_else(Utc::now);
    let from = dates.from.unwrap_or(to - Duration::hours(24));
    if from >= to || to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::Invalid(format!(
            "the date range must be non-empty and at most {MAX_WINDOW_DAYS} days long"
        )));
    }
    Ok((from, to))
}

/// What the platform's FHIR base (`/api/v1/fhir` at the gateway) serves, and which service
/// serves it: records (`Patient`, `Observation`), bookings (`Practitioner`, `Schedule`, `Slot`,
/// `Appointment`), the broker's registry (`Device`). `(type, interactions, search parameters)`.
/// A FHIR search parameter: `(name, type, documentation)`.
pub type SearchParam = (&'static str, &'static str, &'static str);

pub const FHIR_RESOURCES: &[(&str, &[&str], &[SearchParam])] = &[
    ("Patient", &["read"], &[]),
    (
        "Observation",
        &["search-type"],
        &[
            (
                "patient",
                "reference",
                "The patient (`{id}` or `Patient/{id}`); required",
            ),
            (
                "code",
                "token",
                "A LOINC code, e.g. `8867-4`; `85354-9` for blood pressure",
            ),
            (
                "date",
                "date",
                "When measured, with a prefix (ge, gt, le, lt, eq), repeatable; default the last 24 h, at most 31 days",
            ),
        ],
    ),
    (
        "Practitioner",
        &["read", "search-type"],
        &[
            ("_id", "token", "Practitioner id"),
            ("communication", "token", "A language (BCP 47), e.g. `fr`"),
            ("address-city", "string", "City"),
            ("_count", "number", "Page size"),
            ("_offset", "number", "Matches to skip"),
        ],
    ),
    (
        "Schedule",
        &["read", "search-type"],
        &[
            (
                "_id",
                "token",
                "Practitioner id (one Schedule per practitioner)",
            ),
            ("actor", "reference", "`Practitioner/{id}`"),
            ("_count", "number", "Page size"),
            ("_offset", "number", "Matches to skip"),
        ],
    ),
    (
        "Slot",
        &["search-type"],
        &[
            (
                "service-type",
                "token",
                "Appointment type id (sets the slot length); required",
            ),
            ("schedule", "reference", "`Schedule/{id}`"),
            (
                "start",
                "date",
                "Start, with prefixes; default the next 7 days",
            ),
            ("status", "token", "`free`, the only searchable status"),
            ("_count", "number", "Page size"),
            ("_offset", "number", "Matches to skip"),
        ],
    ),
    (
        "Appointment",
        &["read", "search-type"],
        &[
            ("patient", "reference", "`Patient/{id}`"),
            ("practitioner", "reference", "`Practitioner/{id}`"),
            (
                "date",
                "date",
                "Start, with prefixes (`ge`, `gt`, `le`, `lt`, `eq`)",
            ),
            (
                "status",
                "token",
                "`booked`, `arrived`, `fulfilled`, `cancelled`, `noshow`",
            ),
            ("_count", "number", "Page size"),
            ("_offset", "number", "Matches to skip"),
        ],
    ),
    (
        "Device",
        &["read", "search-type"],
        &[
            ("_id", "token", "Device id"),
            ("_count", "number", "Page size"),
            ("_offset", "number", "Matches to skip"),
        ],
    ),
];

/// The platform's `CapabilityStatement` (FHIR R4, JSON, vital-signs Observations).
pub fn capability_statement(software_version: &str) -> Value {
    let resources: Vec<Value> = FHIR_RESOURCES
        .iter()
        .map(|(kind, interactions, params)| {
            let mut r = json!({
                "type": kind,
                "interaction": interactions.iter().map(|i| json!({ "code": i })).collect::<Vec<_>>(),
            });
            if *kind == "Observation" {
                r["supportedProfile"] = json!(["http://hl7.org/fhir/StructureDefinition/vitalsigns"]);
            }
            if !params.is_empty() {
                r["searchParam"] = params
                    .iter()
                    .map(|(name, kind, doc)| json!({ "name": name, "type": kind, "documentation": doc }))
                    .collect();
            }
            r
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "publisher": "EpiSante",
        "kind": "instance",
        "software": { "name": "EpiSante", "version": software_version },
        "implementation": { "description": "EpiSante FHIR R4 API (read-only export)" },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": { "description": "OAuth2-style bearer tokens from /api/v1/auth (JWT, EdDSA)" },
            "resource": resources,
        }],
    })
}

/// `GET /fhir/metadata`: what the FHIR API serves. Public, like every FHIR server's.
#[utoipa::path(get, path = "/v1/fhir/metadata", tag = "fhir",
    responses((status = 200, description = "FHIR R4 CapabilityStatement", content_type = "application/fhir+json")))]
pub async fn metadata() -> Response {
    fhir(capability_statement(env!("CARGO_PKG_VERSION")))
}
