//! The portal's bell: `GET /v1/notifications/inbox` (the caller's portal messages, newest first,
//! with the unread count), `POST …/inbox/{id}/read` and `…/inbox/read-all`, and
//! `GET …/inbox/stream` (SSE: `event: unread`, `data: {"unread": n}` at once and whenever it
//! changes). Everyone sees only their own messages: the recipient is the caller, never a
//! parameter. A stream ends (`event: end`) when its token expires or is revoked, like the alerts
//! stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use episante_kit::revocation::authorisation_ends;
use episante_kit::{ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use crate::db;
use crate::db::deliveries::LogEntry;
use crate::domain::preferences::Channel;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// 1 to 200, default 20.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Inbox {
    pub items: Vec<LogEntry>,
    pub unread: i64,
    pub next_offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unread {
    pub unread: i64,
}

/// The caller's portal messages.
#[utoipa::path(get, path = "/v1/notifications/inbox", operation_id = "inbox", tag = "notifications",
    security(("bearer" = [])), params(InboxQuery),
    responses((status = 200, body = Inbox), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<InboxQuery>,
) -> ApiResult<Json<Inbox>> {
    let me = recipient(&caller)?;
    let (limit, offset) = episante_kit::paging::page(query.limit, query.offset, 20, 200)?;
    let items = db::deliveries::log(
        &state.pool,
        Some(me),
        Some("sent"),
        Some(Channel::Portal),
        limit,
        offset,
    )
    .await?;
    Ok(Json(Inbox {
        next_offset: episante_kit::paging::next_offset(items.len(), limit, offset),
        items,
        unread: db::deliveries::unread(&state.pool, me).await?,
    }))
}

/// Marks one of the caller's portal messages read (another person's id changes nothing).
#[utoipa::path(post, path = "/v1/notifications/inbox/{id}/read", operation_id = "inbox_read", tag = "notifications",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Unread), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn read_one(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Unread>> {
    mark(&state, &caller, Some(id)).await
}

/// Marks all the caller's portal messages read.
#[utoipa::path(post, path = "/v1/notifications/inbox/read-all", operation_id = "inbox_read_all", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = Unread), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn read_all(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Unread>> {
    mark(&state, &caller, None).await
}

async fn mark(state: &AppState, caller: &AuthUser, id: Option<i64>) -> ApiResult<Json<Unread>> {
    let me = recipient(caller)?;
    let mut tx = state.pool.begin().await?;
    if db::deliveries::mark_read(&mut *tx, me, id).await? > 0 {
        crate::inbox::changed(&mut *tx, me).await?;
    }
    tx.commit().await?;
    Ok(Json(Unread {
        unread: db::deliveries::unread(&state.pool, me).await?,
    }))
}

/// The unread count, live (`event: unread`).
#[utoipa::path(get, path = "/v1/notifications/inbox/stream", operation_id = "inbox_stream", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of unread counts", content_type = "text/event-stream"),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn stream(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<impl axum::response::IntoResponse> {
    let me = recipient(&caller)?;
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    let revocations = state.verifier.revocations().clone();
    let claims = caller.claims;
    let mut changes = state.inbox.subscribe();
    tokio::spawn(async move {
        let closer = tx.clone();
        let pump = async move {
            let mut last = None;
            loop {
                let Ok(unread) = db::deliveries::unread(&state.pool, me).await else {
                    return;
                };
                if last != Some(unread) {
                    let event = Event::default()
                        .event("unread")
                        .data(serde_json::json!({ "unread": unread }).to_string());
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                    last = Some(unread);
                }
                // Wait for a change of this user's messages (or re-read now and then).
                loop {
                    tokio::select! {
                        changed = changes.recv() => match changed {
                            Ok(user) if user == me => break,
                            Ok(_) => continue,
                            Err(RecvError::Lagged(_)) => break,
                            Err(RecvError::Closed) => return,
                        },
                        _ = tokio::time::sleep(Duration::from_secs(30)) => break,
                        _ = tx.closed() => return,
                    }
                }
            }
        };
        tokio::select! {
            _ = pump => {}
            why = authorisation_ends(&claims, &revocations) => {
                let _ = closer.send(Ok(Event::default().event("end").data(why))).await;
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn recipient(caller: &AuthUser) -> Result<Uuid, episante_kit::ApiError> {
    caller.require(&[Role::Admin, Role::Clinician, Role::Patient])?;
    caller.user_id()
}
