//! User administration. Admin only: every handler starts with `require(&[Role::Admin])` — except
//! a user's contact (email, name, language), which services holding `contacts:read` (notify)
//! read to write to them, and each user's own language.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use episante_kit::{ApiError, ApiResult, AuthUser, Language, Problem, Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use crate::db::{self, CONSTRAINTS};
use crate::domain::credentials::{DisplayName, Email, NewPassword};
use crate::domain::user::User;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateUser {
    pub email: String,
    #[schema(min_length = 1, max_length = 100, format = "single-line")]
    pub display_name: String,
    pub role: Role,
    /// Initial password, 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// Creates a user.
#[utoipa::path(operation_id = "create_users", post, path = "/v1/auth/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, body = User),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "Email taken", body = Problem),
        (status = 422, description = "Invalid field", body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    caller.require(&[Role::Admin])?;
    person_role(body.role)?;
    let email = Email::parse(&body.email)?;
    let name = DisplayName::parse(&body.display_name)?;
    let password = NewPassword::parse(&body.password)?;
    let hash = state.hasher.hash(password.expose()).await?;
    let row = db::users::insert(&state.pool, email.as_str(), name.as_str(), body.role, &hash)
        .await
        .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    tracing::info!(admin = %caller.subject(), user = %row.id, role = %body.role, "user created");
    Ok((StatusCode::CREATED, Json(row.to_user())))
}

/// Users are people: the `service` role belongs to client-credentials clients
/// (`/v1/auth/service-clients`), which carry scopes; a password login with it would not.
fn person_role(role: Role) -> ApiResult<Role> {
    if role == Role::Service {
        return Err(ApiError::Invalid(
            "users are people (admin, clinician or patient); services are registered as \
             service clients at /v1/auth/service-clients"
                .into(),
        ));
    }
    Ok(role)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub role: Option<Role>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    pub users: Vec<User>,
    pub limit: i64,
    pub offset: i64,
}

/// Lists users, oldest first, optionally of one role.
#[utoipa::path(operation_id = "list_users", get, path = "/v1/auth/users", tag = "users", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = UserPage), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<UserPage>> {
    caller.require(&[Role::Admin])?;
    let (limit, offset) = episante_kit::paging::page(params.limit, params.offset, 100, 500)?;
    let rows = db::users::list(&state.pool, params.role, limit, offset).await?;
    Ok(Json(UserPage {
        users: rows.iter().map(|r| r.to_user()).collect(),
        limit,
        offset,
    }))
}

/// One user.
#[utoipa::path(get, path = "/v1/auth/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = Problem), (status = 403, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<User>> {
    caller.require(&[Role::Admin])?;
    db::users::by_id(&state.pool, id)
        .await?
        .map(|row| Json(row.to_user()))
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))
}

/// What it takes to write to a user (and whether they may be paged: the role), no security
/// settings.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Contact {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub language: Language,
    pub active: bool,
    pub role: Role,
}

/// A user's contact: how to write to them and in which language.
#[utoipa::path(get, path = "/v1/auth/users/{id}/contact", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = Contact), (status = 404, body = Problem), (status = 403, body = Problem)))]
pub async fn contact(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Contact>> {
    caller.require(&[Role::Admin, Role::Service])?;
    caller.require_service_scope(Scope::ContactsRead)?;
    let row = db::users::by_id(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    Ok(Json(Contact {
        id: row.id,
        language: row.language(),
        role: row.role(),
        email: row.email,
        display_name: row.display_name,
        active: row.active,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SetLanguage {
    /// `en` or `fr`.
    pub language: String,
}

/// Sets the language the platform writes to the caller in (the portal's language switch).
#[utoipa::path(put, path = "/v1/auth/me/language", tag = "users", security(("bearer" = [])),
    request_body = SetLanguage,
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, description = "Unknown language", body = Problem)))]
pub async fn set_language(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<SetLanguage>,
) -> ApiResult<StatusCode> {
    caller.require(&[Role::Admin, Role::Clinician, Role::Patient])?;
    let language: Language = body
        .language
        .parse()
        .map_err(|e: String| ApiError::Invalid(format!("language: {e}")))?;
    let id = caller
        .subject()
        .parse::<Uuid>()
        .map_err(|_| ApiError::Forbidden("only user accounts have a language".into()))?;
    if !db::users::set_language(&state.pool, id, language).await? {
        return Err(ApiError::NotFound(format!("no user {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// Changes a user's name, role or active flag. Deactivating or changing the role revokes every
/// session of the user, issued access tokens included; the last active admin cannot be demoted
/// or deactivated.
#[utoipa::path(patch, path = "/v1/auth/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")), request_body = UpdateUser,
    responses(
        (status = 200, body = User), (status = 404, body = Problem),
        (status = 409, description = "Would leave no active admin", body = Problem),
        (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateUser>,
) -> ApiResult<Json<User>> {
    caller.require(&[Role::Admin])?;
    body.role.map(person_role).transpose()?;
    let name = body
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()?;
    let mut tx = state.pool.begin().await?;
    let current = db::users::by_id(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    let loses_admin = current.role() == Role::Admin
        && current.active
        && (body.role.is_some_and(|r| r != Role::Admin) || body.active == Some(false));
    if loses_admin {
        // Serialise admin removals so two concurrent ones cannot both pass the check.
        db::users::lock_for_admin_change(&mut *tx).await?;
        if db::users::other_active_admins(&mut *tx, id).await? == 0 {
            return Err(ApiError::Conflict(
                "this is the last active admin; promote another user first".into(),
            ));
        }
    }
    let row = db::users::update(
        &mut *tx,
        id,
        name.as_ref().map(DisplayName::as_str),
        body.role,
        body.active,
    )
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    // Deactivation and role change end every session of the user, access tokens included
    // (every service refuses them within seconds).
    let role_changed = body.role.is_some_and(|r| r != current.role());
    let deactivated = body.active == Some(false) && current.active;
    let revoked = if role_changed || deactivated {
        Some(crate::sessions::revoke_all(&mut tx, id).await?)
    } else {
        None
    };
    tx.commit().await?;
    state.revoked(revoked.as_slice());
    tracing::info!(admin = %caller.subject(), user = %id, "user updated");
    Ok(Json(row.to_user()))
}

/// Deactivates a user: no more logins or refreshes, and issued access tokens are refused by
/// every service within seconds.
#[utoipa::path(operation_id = "deactivate_users", post, path = "/v1/auth/users/{id}/deactivate", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn deactivate(
    state: State<AppState>,
    caller: AuthUser,
    id: Path<Uuid>,
) -> ApiResult<Json<User>> {
    update(
        state,
        caller,
        id,
        Json(UpdateUser {
            active: Some(false),
            ..Default::default()
        }),
    )
    .await
}
