//! `GET`/`PUT /v1/notifications/preferences/me`: a person's channels per message kind, phone,
//! quiet hours and on-call flag (rules: `domain/preferences.rs`). Admins read and set anyone's at
//! `/v1/notifications/preferences/{user_id}` (putting a clinician on call). A refused value is a
//! 422 naming its field; nothing is stored then.

use axum::extract::{Path, State};
use axum::Json;
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use uuid::Uuid;

use super::AppState;
use crate::db;
use crate::domain::preferences::{Preferences, PreferencesForm};

/// The caller's preferences (the defaults until they change them).
#[utoipa::path(get, path = "/v1/notifications/preferences/me", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = PreferencesForm), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn get_mine(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<Json<PreferencesForm>> {
    caller.require(&[Role::Admin, Role::Clinician, Role::Patient])?;
    let me = caller.user_id()?;
    Ok(Json(db::preferences::get(&state.pool, me).await?.to_form()))
}

/// Replaces the caller's preferences.
#[utoipa::path(put, path = "/v1/notifications/preferences/me", tag = "notifications",
    security(("bearer" = [])), request_body = PreferencesForm,
    responses((status = 200, body = PreferencesForm), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_mine(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(form): Json<PreferencesForm>,
) -> ApiResult<Json<PreferencesForm>> {
    caller.require(&[Role::Admin, Role::Clinician, Role::Patient])?;
    let me = caller.user_id()?;
    let may_be_on_call = matches!(caller.role(), Role::Admin | Role::Clinician);
    store(&state, me, &form, may_be_on_call).await
}

/// A user's preferences (admins).
#[utoipa::path(get, path = "/v1/notifications/preferences/{user_id}", tag = "notifications",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)),
    responses((status = 200, body = PreferencesForm), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(user): Path<Uuid>,
) -> ApiResult<Json<PreferencesForm>> {
    caller.require(&[Role::Admin])?;
    Ok(Json(
        db::preferences::get(&state.pool, user).await?.to_form(),
    ))
}

/// Replaces a user's preferences (admins). Only a clinician's or admin's account can be put on
/// call; auth is asked for the role.
#[utoipa::path(put, path = "/v1/notifications/preferences/{user_id}", tag = "notifications",
    security(("bearer" = [])), params(("user_id" = Uuid, Path)), request_body = PreferencesForm,
    responses((status = 200, body = PreferencesForm), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(user): Path<Uuid>,
    Json(form): Json<PreferencesForm>,
) -> ApiResult<Json<PreferencesForm>> {
    caller.require(&[Role::Admin])?;
    let contact = state.directory.contact(user).await.map_err(|e| match e {
        crate::directory::LookupError::NotFound(_) => ApiError::NotFound(format!("no user {user}")),
        crate::directory::LookupError::Unavailable(e) => ApiError::Unavailable(e),
    })?;
    let may_be_on_call = matches!(contact.role.as_str(), "admin" | "clinician");
    store(&state, user, &form, may_be_on_call).await
}

async fn store(
    state: &AppState,
    user: Uuid,
    form: &PreferencesForm,
    may_be_on_call: bool,
) -> ApiResult<Json<PreferencesForm>> {
    let preferences =
        Preferences::parse(form, may_be_on_call).map_err(|e| ApiError::Invalid(e.to_string()))?;
    db::preferences::put(&state.pool, user, &preferences).await?;
    Ok(Json(preferences.to_form()))
}
