//! Practitioner profiles (admin creates them for clinician users; anyone signed in reads them)
//! and their availability (the admin or the practitioner themselves replaces it).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{next_offset, AppState, Listed, PageParams, READERS};
use crate::db::practitioners::{
    ExceptionRow, NewException, NewPractitioner, PractitionerFilter, PractitionerRow,
};
use crate::db::{self, CONSTRAINTS};
use crate::domain::practitioner::{parse_languages, Label, TimeZone};
use crate::domain::schedule::{check_windows, days_span, Span, WeeklyWindow};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Practitioner {
    pub id: Uuid,
    /// The clinician's auth user id.
    pub user_id: Uuid,
    pub display_name: String,
    /// Lowercase, e.g. `cardiology`.
    pub specialty: String,
    /// Lowercase, e.g. `paris`.
    pub location: String,
    pub languages: Vec<String>,
    /// IANA zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

impl From<PractitionerRow> for Practitioner {
    fn from(r: PractitionerRow) -> Self {
        Practitioner {
            id: r.id,
            user_id: r.user_id,
            display_name: r.display_name,
            specialty: r.specialty,
            location: r.location,
            languages: r.languages,
            time_zone: r.time_zone.to_string(),
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatePractitioner {
    /// The clinician's auth user id.
    pub user_id: Uuid,
    #[schema(min_length = 1, max_length = 200, format = "single-line")]
    pub display_name: String,
    #[schema(min_length = 1, max_length = 200, format = "single-line")]
    pub specialty: String,
    #[schema(min_length = 1, max_length = 200, format = "single-line")]
    pub location: String,
    /// Language tags, e.g. `fr`, `pt-br` (at most 20).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub languages: Vec<String>,
    pub time_zone: String,
}

/// Creates a practitioner profile for a clinician user.
#[utoipa::path(operation_id = "create_practitioners", post, path = "/v1/practitioners", tag = "practitioners", security(("bearer" = [])),
    request_body = CreatePractitioner,
    responses(
        (status = 201, body = Practitioner),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "User already has a profile", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<CreatePractitioner>,
) -> ApiResult<(StatusCode, Json<Practitioner>)> {
    caller.require(&[Role::Admin])?;
    let name = Label::parse("display_name", &body.display_name)?;
    let specialty = Label::parse_lowercase("specialty", &body.specialty)?;
    let location = Label::parse_lowercase("location", &body.location)?;
    let languages = parse_languages(&body.languages)?;
    let tz = TimeZone::parse(&body.time_zone)?;
    let row = db::practitioners::insert(
        &state.pool,
        &NewPractitioner {
            user_id: body.user_id,
            display_name: name.as_str(),
            specialty: specialty.as_str(),
            location: location.as_str(),
            languages: &languages,
            time_zone: tz,
        },
    )
    .await
    .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    tracing::info!(admin = %caller.subject(), practitioner = %row.id, "practitioner created");
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub specialty: Option<String>,
    pub location: Option<String>,
    pub language: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PractitionerPage {
    pub items: Vec<Practitioner>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// Lists practitioners, by name, optionally filtered.
#[utoipa::path(operation_id = "list_practitioners", get, path = "/v1/practitioners", tag = "practitioners", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = PractitionerPage), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<PractitionerPage>> {
    let filter = practitioner_filter(None, params.specialty, params.location, params.language);
    let page = PageParams {
        limit: params.limit,
        offset: params.offset,
    };
    let listed = select(&state, &caller, &filter, &page, false).await?;
    Ok(Json(PractitionerPage {
        next_offset: next_offset(listed.items.len(), listed.limit, listed.offset),
        items: listed.items,
        limit: listed.limit,
        offset: listed.offset,
    }))
}

/// A practitioner search's filter, normalised as stored (specialties, locations and languages
/// are lowercase).
pub fn practitioner_filter(
    id: Option<Uuid>,
    specialty: Option<String>,
    location: Option<String>,
    language: Option<String>,
) -> PractitionerFilter {
    PractitionerFilter {
        id,
        specialty: specialty.map(|s| s.trim().to_lowercase()),
        location: location.map(|s| s.trim().to_lowercase()),
        language: language.map(|s| s.trim().to_ascii_lowercase()),
    }
}

/// The practitioners `filter` selects, one `page` of them by name, and with `count` how many in
/// all: the JSON list and the FHIR `Practitioner` and `Schedule` searches (one Schedule per
/// practitioner) share it, access rule included.
pub async fn select(
    state: &AppState,
    caller: &AuthUser,
    filter: &PractitionerFilter,
    page: &PageParams,
    count: bool,
) -> ApiResult<Listed<Practitioner>> {
    caller.require(READERS)?;
    caller.require_service_scope(Scope::ScheduleRead)?;
    let (limit, offset) = page.resolve()?;
    let rows = db::practitioners::list(&state.pool, filter, limit, offset).await?;
    let total = if count {
        Some(db::practitioners::count(&state.pool, filter).await?)
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

pub async fn find(state: &AppState, id: Uuid) -> ApiResult<PractitionerRow> {
    db::practitioners::by_id(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no practitioner {id}")))
}

/// One practitioner.
#[utoipa::path(operation_id = "get_practitioners", get, path = "/v1/practitioners/{id}", tag = "practitioners", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Practitioner id")),
    responses((status = 200, body = Practitioner), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Practitioner>> {
    caller.require(READERS)?;
    caller.require_service_scope(Scope::ScheduleRead)?;
    Ok(Json(find(&state, id).await?.into()))
}

/// A weekly window, wall-clock time in the practitioner's zone.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WindowDto {
    /// `mon` … `sun`.
    #[schema(pattern = "^(mon|tue|wed|thu|fri|sat|sun)$")]
    pub weekday: String,
    /// `HH:MM`.
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]
    pub start: String,
    /// `HH:MM`, after `start` (windows do not cross midnight).
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]
    pub end: String,
}

/// An absence: either whole local days (`start_date` … `end_date`, inclusive) or an instant
/// range (`starts_at` … `ends_at`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExceptionInput {
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExceptionDto {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

impl From<ExceptionRow> for ExceptionDto {
    fn from(r: ExceptionRow) -> Self {
        ExceptionDto {
            id: r.id,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            reason: r.reason,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityInput {
    #[serde(default)]
    pub weekly: Vec<WindowDto>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionInput>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Availability {
    pub practitioner_id: Uuid,
    pub time_zone: String,
    pub weekly: Vec<WindowDto>,
    pub exceptions: Vec<ExceptionDto>,
}

fn window_dto(w: &WeeklyWindow) -> WindowDto {
    WindowDto {
        weekday: w.weekday.to_string().to_lowercase(),
        start: w.start.format("%H:%M").to_string(),
        end: w.end.format("%H:%M").to_string(),
    }
}

async fn availability(state: &AppState, p: &PractitionerRow) -> ApiResult<Availability> {
    let windows = db::practitioners::windows(&state.pool, &[p.id]).await?;
    let exceptions = db::practitioners::exceptions(&state.pool, &[p.id], None).await?;
    Ok(Availability {
        practitioner_id: p.id,
        time_zone: p.time_zone.to_string(),
        weekly: windows.iter().map(|w| window_dto(&w.to_window())).collect(),
        exceptions: exceptions.into_iter().map(Into::into).collect(),
    })
}

/// The practitioner's weekly template and exceptions.
#[utoipa::path(get, path = "/v1/practitioners/{id}/availability", tag = "practitioners",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Practitioner id")),
    responses((status = 200, body = Availability), (status = 404, body = Problem)))]
pub async fn get_availability(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Availability>> {
    caller.require(READERS)?;
    caller.require_service_scope(Scope::ScheduleRead)?;
    let p = find(&state, id).await?;
    Ok(Json(availability(&state, &p).await?))
}

/// Replaces the weekly template and exceptions (admin, or the practitioner themselves).
/// Existing appointments are kept even if they fall outside the new template.
#[utoipa::path(put, path = "/v1/practitioners/{id}/availability", tag = "practitioners",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "Practitioner id")),
    request_body = AvailabilityInput,
    responses((status = 200, body = Availability), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_availability(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AvailabilityInput>,
) -> ApiResult<Json<Availability>> {
    caller.require(&[Role::Admin, Role::Clinician])?;
    let p = find(&state, id).await?;
    if caller.role() == Role::Clinician && caller.user_id()? != p.user_id {
        return Err(ApiError::Forbidden(
            "clinicians may change only their own availability".into(),
        ));
    }
    let tz = p.time_zone;
    let windows = body
        .weekly
        .iter()
        .map(|w| WeeklyWindow::parse(&w.weekday, &w.start, &w.end))
        .collect::<Result<Vec<_>, _>>()?;
    check_windows(&windows)?;
    if body.exceptions.len() > 500 {
        return Err(ApiError::Invalid("at most 500 exceptions".into()));
    }
    let mut exceptions = Vec::with_capacity(body.exceptions.len());
    for x in &body.exceptions {
        let span = match (x.start_date, x.end_date, x.starts_at, x.ends_at) {
            (Some(from), Some(to), None, None) if to >= from => days_span(tz.0, from, to),
            (None, None, Some(start), Some(end)) if end > start => Span { start, end },
            _ => {
                return Err(ApiError::Invalid(
                    "each exception needs start_date ≤ end_date, or starts_at < ends_at".into(),
                ))
            }
        };
        if x.reason.chars().count() > 500 {
            return Err(ApiError::Invalid("reason: at most 500 characters".into()));
        }
        exceptions.push(NewException {
            span,
            reason: x.reason.trim(),
        });
    }
    let mut tx = state.pool.begin().await?;
    db::practitioners::replace_availability(&mut tx, p.id, &windows, &exceptions).await?;
    tx.commit().await?;
    tracing::info!(by = %caller.subject(), practitioner = %p.id, "availability replaced");
    Ok(Json(availability(&state, &p).await?))
}
