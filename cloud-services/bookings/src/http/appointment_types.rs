//! Appointment types: what can be booked and how long it lasts (admin writes, anyone reads).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{next_offset, AppState, PageParams, READERS};
use crate::db::appointment_types::AppointmentTypeRow;
use crate::db::{self, CONSTRAINTS};
use crate::domain::practitioner::Label;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppointmentType {
    pub id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub created_at: DateTime<Utc>,
}

impl From<AppointmentTypeRow> for AppointmentType {
    fn from(r: AppointmentTypeRow) -> Self {
        AppointmentType {
            id: r.id,
            name: r.name,
            duration_minutes: r.duration_minutes,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateAppointmentType {
    #[schema(min_length = 1, max_length = 200, format = "single-line")]
    pub name: String,
    /// 5 to 480.
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: i32,
}

/// Creates an appointment type.
#[utoipa::path(operation_id = "create_appointment_types", post, path = "/v1/appointment-types", tag = "appointment-types",
    security(("bearer" = [])), request_body = CreateAppointmentType,
    responses((status = 201, body = AppointmentType), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<CreateAppointmentType>,
) -> ApiResult<(StatusCode, Json<AppointmentType>)> {
    caller.require(&[Role::Admin])?;
    let name = Label::parse("name", &body.name)?;
    if !(5..=480).contains(&body.duration_minutes) {
        return Err(ApiError::Invalid(
            "duration_minutes must be 5 to 480".into(),
        ));
    }
    let row = db::appointment_types::insert(&state.pool, name.as_str(), body.duration_minutes)
        .await
        .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppointmentTypePage {
    pub items: Vec<AppointmentType>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// Lists appointment types by name.
#[utoipa::path(operation_id = "list_appointment_types", get, path = "/v1/appointment-types", tag = "appointment-types",
    security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = AppointmentTypePage), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<AppointmentTypePage>> {
    caller.require(READERS)?;
    caller.require_service_scope(Scope::ScheduleRead)?;
    let (limit, offset) = page.resolve()?;
    let rows = db::appointment_types::list(&state.pool, limit, offset).await?;
    Ok(Json(AppointmentTypePage {
        next_offset: next_offset(rows.len(), limit, offset),
        items: rows.into_iter().map(Into::into).collect(),
        limit,
        offset,
    }))
}
