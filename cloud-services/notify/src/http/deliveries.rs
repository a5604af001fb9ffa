//! The delivery log: admins see every message's state; everyone else sees the messages sent to
//! them.

use axum::extract::{Query, State};
use axum::Json;
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use crate::db;
use crate::db::deliveries::LogEntry;
use crate::domain::preferences::Channel;

const STATUSES: [&str; 5] = ["queued", "sent", "failed", "withdrawn", "digested"];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only messages to this user (admins; others always see only their own).
    pub recipient: Option<Uuid>,
    /// `queued`, `sent`, `failed`, `withdrawn` or `digested`.
    pub status: Option<String>,
    /// `email`, `sms` or `portal`.
    pub channel: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<LogEntry>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// Messages and their states, newest first.
#[utoipa::path(get, path = "/v1/notifications/deliveries", operation_id = "deliveries", tag = "notifications",
    security(("bearer" = [])), params(LogQuery),
    responses((status = 200, body = DeliveryPage), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<LogQuery>,
) -> ApiResult<Json<DeliveryPage>> {
    caller.require(&[Role::Admin, Role::Clinician, Role::Patient])?;
    let (limit, offset) = episante_kit::paging::page(query.limit, query.offset, 50, 500)?;
    if let Some(status) = &query.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::Invalid(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    let channel = match query.channel.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<Channel>().map_err(ApiError::Invalid)?),
    };
    let recipient = if caller.role() == Role::Admin {
        query.recipient
    } else {
        let me = caller
            .subject()
            .parse::<Uuid>()
            .map_err(|_| ApiError::Forbidden("only user accounts receive messages".into()))?;
        if query.recipient.is_some_and(|r| r != me) {
            return Err(ApiError::Forbidden(
                "you may read only the messages sent to you".into(),
            ));
        }
        Some(me)
    };
    let items = db::deliveries::log(
        &state.pool,
        recipient,
        query.status.as_deref(),
        channel,
        limit,
        offset,
    )
    .await?;
    Ok(Json(DeliveryPage {
        next_offset: episante_kit::paging::next_offset(items.len(), limit, offset),
        items,
        limit,
        offset,
    }))
}
