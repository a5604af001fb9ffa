//! Patient identity: create (admin), read, search, update, archive; consents.
//!
//! Searches by name or national id are `POST /v1/patients/search` with the criteria in the body:
//! URLs end up in proxy access logs, browser histories and log pipelines (Loki), bodies do not.
//! `GET /v1/patients` keeps only non-identifying filters and refuses `name`/`national_id` with a
//! 400 that points to the POST.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use episante_kit::{ApiError, ApiResult, Problem, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access::not_found;
use super::{page, AppState, Caller};
use crate::crypto::blind_index::name_tokens;
use crate::db::patients::{ConsentRow, PatientFilter};
use crate::db::{self, CONSTRAINTS};
use crate::domain::access::PatientScope;
use crate::domain::patient::{
    double_option, parse_consent_scope, parse_consent_version, parse_national_id, IdentityPatch,
    PatientIdentity,
};
use crate::store::Patient;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatePatient {
    #[serde(flatten)]
    pub identity: PatientIdentity,
    /// The patient's own auth user (role `patient`), if they have an account.
    pub user_id: Option<Uuid>,
}

/// Creates a patient record (admin).
#[utoipa::path(operation_id = "create_patients", post, path = "/v1/patients", tag = "patients", security(("bearer" = [])),
    request_body = CreatePatient,
    responses((status = 201, body = Patient), (status = 403, body = Problem),
        (status = 409, description = "National id or user already used", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreatePatient>,
) -> ApiResult<(StatusCode, Json<Patient>)> {
    caller.user.require(&[Role::Admin])?;
    let identity = body.identity.validated()?;
    let patient = state
        .store
        .insert(&state.pool, body.user_id, &identity)
        .await?;
    state
        .audit
        .record(vec![caller.audit(
            "patient.create",
            Some(patient.id),
            json!({}),
        )])
        .await?;
    Ok((StatusCode::CREATED, Json(patient)))
}

/// A patient's own record, created at sign-up with their consent to the processing of their
/// health data.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterSelf {
    #[serde(flatten)]
    pub identity: PatientIdentity,
    /// The consent given at sign-up (e.g. scope `health-data-processing`, version `2026-12`):
    /// recorded as granted, with its version and time.
    pub consent: ConsentGiven,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentGiven {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub scope: String,
    #[schema(min_length = 1, max_length = 64, format = "single-line")]
    pub version: String,
}

/// Creates the caller's own record (a patient account without one: the portal's sign-up), bound
/// to their account, with the consent they gave, in one transaction. Without a national id.
#[utoipa::path(post, path = "/v1/patients/self", tag = "patients", security(("bearer" = [])),
    request_body = RegisterSelf,
    responses((status = 201, body = Patient), (status = 403, body = Problem),
        (status = 409, description = "The caller already has a record, or the national id is taken", body = Problem),
        (status = 422, body = Problem)))]
pub async fn register_self(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RegisterSelf>,
) -> ApiResult<(StatusCode, Json<Patient>)> {
    caller.user.require(&[Role::Patient])?;
    let user_id = caller.user.user_id()?;
    // A national id is recorded by staff: taken ids answer 409, which would let any account
    // probe which national ids the platform holds.
    if body.identity.national_id.is_some() {
        return Err(ApiError::Invalid(
            "national_id is recorded by the practice, not at sign-up".into(),
        ));
    }
    let identity = body.identity.validated()?;
    let scope = parse_consent_scope(&body.consent.scope)?;
    let version = parse_consent_version(&body.consent.version)?;
    let mut tx = state.pool.begin().await?;
    let patient = state
        .store
        .insert(&mut *tx, Some(user_id), &identity)
        .await?;
    db::patients::set_consent(
        &mut *tx,
        patient.id,
        &scope,
        true,
        Some(version),
        caller.id(),
    )
    .await?;
    tx.commit().await?;
    state
        .audit
        .record(vec![
            caller.audit("patient.create", Some(patient.id), json!({ "self": true })),
            caller.audit(
                "consent.update",
                Some(patient.id),
                json!({ "scope": scope, "granted": true, "version": version }),
            ),
        ])
        .await?;
    Ok((StatusCode::CREATED, Json(patient)))
}

/// `GET /v1/patients`: non-identifying filters only.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Include archived records.
    pub archived: Option<bool>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
    /// Refused here (400): search with `POST /v1/patients/search`.
    #[param(ignore)]
    pub name: Option<String>,
    /// Refused here (400): search with `POST /v1/patients/search`.
    #[param(ignore)]
    pub national_id: Option<String>,
}

/// `POST /v1/patients/search`: the criteria travel in the body, never in the URL.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientSearch {
    /// Name search: every word must match a given or family name (accents and case ignored).
    pub name: Option<String>,
    /// Exact national id.
    #[schema(pattern = r"^[ .-]*([A-Za-z0-9][ .-]*){5,32}$")]
    pub national_id: Option<String>,
    /// Include archived records.
    pub archived: Option<bool>,
    #[schema(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PatientPage {
    pub patients: Vec<Patient>,
    pub limit: i64,
    pub offset: i64,
}

/// Lists the patients the caller may see (no identifying filters: see `search`).
#[utoipa::path(operation_id = "list_patients", get, path = "/v1/patients", tag = "patients", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = PatientPage),
        (status = 400, description = "name or national_id in the URL: use POST /v1/patients/search", body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListParams>,
) -> ApiResult<Json<PatientPage>> {
    if query.name.is_some() || query.national_id.is_some() {
        return Err(ApiError::BadRequest(
            "searching by name or national_id in the URL is not allowed (URLs are logged): \
             POST /v1/patients/search with {\"name\": …} or {\"national_id\": …} in the body"
                .into(),
        ));
    }
    let params = PatientSearch {
        archived: query.archived,
        limit: query.limit,
        offset: query.offset,
        ..PatientSearch::default()
    };
    find(state, caller, params).await
}

/// Searches the patients the caller may see by name and/or national id (criteria in the body).
#[utoipa::path(post, path = "/v1/patients/search", tag = "patients", security(("bearer" = [])),
    request_body = PatientSearch,
    responses((status = 200, body = PatientPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Json(params): Json<PatientSearch>,
) -> ApiResult<Json<PatientPage>> {
    find(state, caller, params).await
}

/// The one search behind `list` and `search`.
async fn find(
    state: AppState,
    caller: Caller,
    params: PatientSearch,
) -> ApiResult<Json<PatientPage>> {
    let scope = caller.scope()?;
    let (limit, offset) = page(params.limit, params.offset)?;
    let name_tokens = match params.name.as_deref() {
        None => None,
        Some(name) => {
            let tokens = name_tokens(name);
            if tokens.is_empty() || tokens.len() > 8 {
                return Err(ApiError::Invalid("name must hold 1 to 8 words".into()));
            }
            Some(
                state
                    .store
                    .index
                    .name_tokens(tokens.iter().map(String::as_str)),
            )
        }
    };
    let national_id = params
        .national_id
        .as_deref()
        .map(parse_national_id)
        .transpose()?
        .map(|n| state.store.index.national_id(&n));
    let rows = db::patients::list(
        &state.pool,
        &PatientFilter {
            scope,
            name_tokens,
            national_id,
            include_archived: params.archived.unwrap_or(false),
            limit,
            offset,
        },
    )
    .await?;
    let mut patients = Vec::with_capacity(rows.len());
    for row in rows {
        patients.push(state.store.open(row).await?);
    }
    let searched = params.name.is_some() || params.national_id.is_some();
    let mut entries: Vec<_> = patients
        .iter()
        .map(|p| caller.audit("patient.list", Some(p.id), json!({ "search": searched })))
        .collect();
    if entries.is_empty() {
        // A search that found nobody is still a probe of identities: who, when, why.
        let action = if searched {
            "patient.search"
        } else {
            "patient.list"
        };
        entries.push(caller.audit(action, None, json!({ "search": searched, "hits": 0 })));
    }
    state.audit.record(entries).await?;
    Ok(Json(PatientPage {
        patients,
        limit,
        offset,
    }))
}

/// Loads a patient the caller may see, or 404.
pub async fn visible_patient(
    state: &AppState,
    scope: &PatientScope,
    id: Uuid,
) -> Result<Patient, ApiError> {
    scope.check(&state.pool, id).await?;
    state
        .store
        .get(&state.pool, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// One patient.
#[utoipa::path(operation_id = "get_patients", get, path = "/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = Patient), (status = 404, description = "No such patient, or not yours", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Patient>> {
    let patient = visible_patient(&state, &caller.scope()?, id).await?;
    state
        .audit
        .record(vec![caller.audit("patient.read", Some(id), json!({}))])
        .await?;
    Ok(Json(patient))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdatePatient {
    #[serde(flatten)]
    pub identity: IdentityPatch,
    /// Link (or with `null`, unlink) the patient's auth user. Admin only.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub user_id: Option<Option<Uuid>>,
}

/// Changes identity fields (admin, or a clinician in the patient's care team); a patient may
/// change the contact details (email, phone, address) of their own record.
#[utoipa::path(patch, path = "/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")), request_body = UpdatePatient,
    responses((status = 200, body = Patient), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdatePatient>,
) -> ApiResult<Json<Patient>> {
    caller
        .user
        .require(&[Role::Admin, Role::Clinician, Role::Patient])?;
    caller.scope()?.check(&state.pool, id).await?;
    if caller.user.role() == Role::Patient && !body.identity.contact_details_only() {
        return Err(ApiError::Forbidden(
            "patients may change their contact details (email, phone, address) only".into(),
        ));
    }
    if body.user_id.is_some() {
        caller.user.require(&[Role::Admin])?;
    }
    let mut tx = state.pool.begin().await?;
    let row = db::patients::by_id_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let current = state.store.open(row).await?;
    let fields: Vec<String> = serde_json::to_value(&body.identity)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|o| {
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect()
        })
        .unwrap_or_default();
    let identity = body.identity.apply(current.identity).validated()?;
    let mut patient = state.store.update(&mut *tx, id, &identity).await?;
    if let Some(user_id) = body.user_id {
        let row = db::patients::set_user(&mut *tx, id, user_id)
            .await
            .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?
            .ok_or_else(|| not_found(id))?;
        patient.user_id = row.user_id;
    }
    state
        .audit
        .record(vec![caller.audit(
            "patient.update",
            Some(id),
            json!({ "fields": fields, "user_link_changed": body.user_id.is_some() }),
        )])
        .await?;
    tx.commit().await?;
    Ok(Json(patient))
}

/// Archives a record (admin): it leaves default lists and its devices are unassigned. Records
/// are never deleted (retention rules).
#[utoipa::path(post, path = "/v1/patients/{id}/archive", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = Patient), (status = 404, body = Problem)))]
pub async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Patient>> {
    caller.user.require(&[Role::Admin])?;
    let mut tx = state.pool.begin().await?;
    let row = db::patients::set_status(&mut *tx, id, "archived")
        .await?
        .ok_or_else(|| not_found(id))?;
    for device in db::devices::for_patient(&mut *tx, id).await? {
        db::devices::delete(&mut *tx, &device.device_id, id).await?;
        crate::events::device_assignment(&mut tx, &device.device_id, None).await?;
    }
    state
        .audit
        .record(vec![caller.audit("patient.archive", Some(id), json!({}))])
        .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(Json(state.store.open(row).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Consent {
    pub scope: String,
    pub granted: bool,
    /// The version of the consent text agreed to, when the client said.
    pub version: Option<String>,
    pub recorded_by: String,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

impl From<ConsentRow> for Consent {
    fn from(r: ConsentRow) -> Self {
        Consent {
            scope: r.scope,
            granted: r.granted,
            version: r.version,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        }
    }
}

/// The patient's consents.
#[utoipa::path(get, path = "/v1/patients/{id}/consents", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = Vec<Consent>), (status = 404, body = Problem)))]
pub async fn consents(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<Consent>>> {
    caller.scope()?.check(&state.pool, id).await?;
    let rows = db::patients::consents(&state.pool, id).await?;
    state
        .audit
        .record(vec![caller.audit("consent.read", Some(id), json!({}))])
        .await?;
    Ok(Json(rows.into_iter().map(Consent::from).collect()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConsent {
    pub granted: bool,
    /// The version of the consent text shown, e.g. `2026-12`.
    #[schema(min_length = 1, max_length = 64, format = "single-line")]
    pub version: Option<String>,
}

/// Grants or withdraws a consent (the patient themself, or an admin on their behalf).
#[utoipa::path(put, path = "/v1/patients/{id}/consents/{scope}", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("scope" = String, Path, description = "e.g. remote-monitoring")),
    request_body = SetConsent,
    responses((status = 200, body = Consent), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_consent(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, scope)): Path<(Uuid, String)>,
    Json(body): Json<SetConsent>,
) -> ApiResult<Json<Consent>> {
    caller.user.require(&[Role::Admin, Role::Patient])?;
    caller.scope()?.check(&state.pool, id).await?;
    let scope = parse_consent_scope(&scope)?;
    let version = body
        .version
        .as_deref()
        .map(parse_consent_version)
        .transpose()?;
    let row =
        db::patients::set_consent(&state.pool, id, &scope, body.granted, version, caller.id())
            .await?;
    state
        .audit
        .record(vec![caller.audit(
            "consent.update",
            Some(id),
            json!({ "scope": scope, "granted": body.granted }),
        )])
        .await?;
    Ok(Json(row.into()))
}
