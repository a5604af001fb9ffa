//! `GET /v1/alerts/stream`: Server-Sent Events of alert events for the caller's patients,
//! resumable with `Last-Event-ID` (or `?last_event_id=`): missed events are replayed from the
//! database before live ones, and a client too slow for the live feed is caught up the same way.
//!
//! A stream is authorised once, when it opens, so it must also end when that authorisation does:
//! at the token's expiry, or as soon as its session or user is revoked (logout, deactivation, role
//! or password change: `episante_kit::revocation`). It then sends a last `event: end` and closes;
//! the client reconnects with a fresh token (and `Last-Event-ID`) if it still may.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use episante_kit::audit::Purpose;
use episante_kit::revocation::authorisation_ends;
use episante_kit::{ApiError, ApiResult, AuthUser, Problem};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{AlertScope, AppState};
use crate::db::alerts::AlertEvent;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Resume after this event id (same as the `Last-Event-ID` header).
    pub last_event_id: Option<i64>,
}

/// Live alert events (`event: alert`, `id:` the event id, `data:` the event JSON).
#[utoipa::path(get, path = "/v1/alerts/stream", tag = "alerts", security(("bearer" = [])),
    params(StreamParams, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this id")),
    responses((status = 200, description = "text/event-stream of alert events", content_type = "text/event-stream"),
        (status = 403, body = Problem)))]
pub async fn stream(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> ApiResult<impl axum::response::IntoResponse> {
    let scope = AlertScope::of(&caller)?;
    let header_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an event id".into()))?,
        ),
    };
    // Without a resume point, start from now.
    let start = match header_id.or(params.last_event_id) {
        Some(id) => id,
        None => crate::db::alerts::last_event_id(&state.pool).await?,
    };
    // Audited at connection: one event per patient whose alerts the stream may carry (a
    // clinician's care list now), one for all patients (admins).
    let patients = scope.patients(&state.pool).await?;
    let detail = serde_json::json!({ "resume_after": start });
    let events = match patients {
        None => vec![state
            .audit
            .event(&caller, &purpose, "alert.stream", None, detail)],
        Some(patients) => patients
            .into_iter()
            .map(|p| {
                state
                    .audit
                    .event(&caller, &purpose, "alert.stream", Some(p), detail.clone())
            })
            .collect(),
    };
    state.audit.publish(events).await?;
    let (tx, rx) = mpsc::channel(256);
    let revocations = state.verifier.revocations().clone();
    let claims = caller.claims;
    tokio::spawn(async move {
        let closer = tx.clone();
        tokio::select! {
            _ = pump(state, scope, start, tx) => {}
            why = authorisation_ends(&claims, &revocations) => {
                let end = Event::default().event("end").data(why);
                let _ = closer.send(Ok(end)).await;
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn to_sse(e: &AlertEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event("alert")
        .data(serde_json::to_string(e).unwrap_or_default())
}

/// Feeds one client until it goes away.
async fn pump(
    state: AppState,
    scope: AlertScope,
    mut last: i64,
    tx: mpsc::Sender<Result<Event, Infallible>>,
) {
    let mut live = state.feed.subscribe();
    let mut visible: Option<HashSet<Uuid>>;
    let mut refreshed;
    'replay: loop {
        // Catch up from the table.
        loop {
            let patients = match scope.patients(&state.pool).await {
                Ok(p) => p,
                Err(_) => return,
            };
            visible = patients.as_ref().map(|p| p.iter().copied().collect());
            refreshed = Instant::now();
            let events =
                match crate::db::alerts::events_after(&state.pool, last, patients.as_deref(), 500)
                    .await
                {
                    Ok(e) => e,
                    Err(_) => return,
                };
            let full = events.len() == 500;
            for e in &events {
                last = e.id;
                if tx.send(Ok(to_sse(e))).await.is_err() {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        // Then live.
        loop {
            let event = tokio::select! {
                received = live.recv() => received,
                _ = tx.closed() => return,
            };
            match event {
                Ok(e) => {
                    if e.id <= last {
                        continue;
                    }
                    if refreshed.elapsed() > Duration::from_secs(5) {
                        if let Ok(p) = scope.patients(&state.pool).await {
                            visible = p.map(|p| p.into_iter().collect());
                        }
                        refreshed = Instant::now();
                    }
                    if visible.as_ref().is_none_or(|v| v.contains(&e.patient_id))
                        && tx.send(Ok(to_sse(&e))).await.is_err()
                    {
                        return;
                    }
                    last = e.id;
                }
                Err(RecvError::Lagged(_)) => continue 'replay,
                Err(RecvError::Closed) => return,
            }
        }
    }
}
