//! Listing alerts and acting on them: acknowledge, resolve with a note, assign.

use axum::extract::{Path, Query, State};
use axum::Json;
use episante_kit::audit::Purpose;
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AlertScope, AppState};
use crate::db::alerts::{Action, Alert, AlertEvent, AlertFilter};
use crate::domain::alert::{AlertState, Refusal, Severity};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `open` (default: active and acknowledged), `active`, `acknowledged`, `resolved` or `all`.
    #[param(pattern = "^(open|active|acknowledged|resolved|all)$")]
    pub state: Option<String>,
    pub severity: Option<Severity>,
    pub patient_id: Option<Uuid>,
    /// A clinician id, or `me`.
    #[param(
        pattern = "^(me|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub assigned_to: Option<String>,
    /// 1 to 1000, default 200.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    pub limit: i64,
    pub offset: i64,
}

/// Alerts visible to the caller, most severe first, then oldest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = AlertPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<AlertPage>> {
    let scope = AlertScope::of(&caller)?;
    let states: Vec<AlertState> = match p.state.as_deref().unwrap_or("open") {
        "open" => AlertState::OPEN.to_vec(),
        "all" => AlertState::ALL.to_vec(),
        s => match AlertState::parse(s) {
            Some(s) => vec![s],
            None => {
                return Err(ApiError::Invalid(
                    "state must be open, active, acknowledged, resolved or all".into(),
                ))
            }
        },
    };
    let (limit, offset) = episante_kit::paging::page(p.limit, p.offset, 200, 1000)?;
    let assigned_to = match p.assigned_to.as_deref() {
        None => None,
        Some("me") => Some(
            caller
                .subject()
                .parse()
                .map_err(|_| ApiError::Invalid("assigned_to=me needs a user token".into()))?,
        ),
        Some(id) => Some(
            id.parse()
                .map_err(|_| ApiError::Invalid("assigned_to must be a user id or me".into()))?,
        ),
    };
    if let Some(patient) = p.patient_id {
        scope.check(&state.pool, patient).await?;
    }
    let alerts = crate::db::alerts::list(
        &state.pool,
        &AlertFilter {
            patients: scope.patients(&state.pool).await?,
            patient: p.patient_id,
            states,
            severity: p.severity,
            assigned_to,
            limit,
            offset,
        },
    )
    .await?;
    // One audit event per patient whose alerts are shown (one for the query when none are).
    let mut shown: Vec<(Uuid, usize)> = Vec::new();
    for a in &alerts {
        match shown.iter_mut().find(|(p, _)| *p == a.patient_id) {
            Some((_, n)) => *n += 1,
            None => shown.push((a.patient_id, 1)),
        }
    }
    let mut events: Vec<_> = shown
        .iter()
        .map(|(patient, n)| {
            state.audit.event(
                &caller,
                &purpose,
                "alert.list",
                Some(*patient),
                json!({ "alerts": n }),
            )
        })
        .collect();
    if events.is_empty() {
        events.push(state.audit.event(
            &caller,
            &purpose,
            "alert.list",
            p.patient_id,
            json!({ "alerts": 0 }),
        ));
    }
    state.audit.publish(events).await?;
    Ok(Json(AlertPage {
        alerts,
        limit,
        offset,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    /// Everything that happened to it, oldest first.
    pub history: Vec<AlertEvent>,
}

async fn visible(state: &AppState, caller: &AuthUser, id: Uuid) -> Result<Alert, ApiError> {
    let scope = AlertScope::of(caller)?;
    let alert = crate::db::alerts::by_id(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert {id}")))?;
    scope
        .check(&state.pool, alert.patient_id)
        .await
        .map_err(|_| ApiError::NotFound(format!("no alert {id}")))?;
    Ok(alert)
}

/// One alert with its history.
#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Alert id")),
    responses((status = 200, body = AlertDetail), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<AlertDetail>> {
    let alert = visible(&state, &caller, id).await?;
    let history = crate::db::alerts::history(&state.pool, id).await?;
    state
        .audit
        .record(
            &caller,
            &purpose,
            "alert.read",
            Some(alert.patient_id),
            json!({ "alert_id": id }),
        )
        .await?;
    Ok(Json(AlertDetail { alert, history }))
}

/// Applies `action` if the lifecycle allows it from the alert's current state (409 if not),
/// records it, answers the new alert.
async fn act(
    state: &AppState,
    caller: &AuthUser,
    purpose: &Purpose,
    id: Uuid,
    action: Action<'_>,
    note: Option<&str>,
) -> Result<Alert, ApiError> {
    caller.require(&[Role::Admin, Role::Clinician])?;
    visible(state, caller, id).await?;
    let mut tx = state.pool.begin().await?;
    let current = crate::db::alerts::by_id_for_update(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert {id}")))?;
    let transition = action.transition();
    let next = current
        .state
        .after(current.escalation_level, transition)
        .map_err(|refusal: Refusal| ApiError::Conflict(refusal.to_string()))?;
    let kind = transition.event_kind();
    // Published before the change commits: the trail may show an attempt that failed, never a
    // change it does not show.
    state
        .audit
        .record(
            caller,
            purpose,
            &format!("alert.{}", kind.as_str()),
            Some(current.patient_id),
            json!({ "alert_id": id }),
        )
        .await?;
    let alert = crate::db::alerts::apply(&mut tx, id, next, &action).await?;
    crate::lifecycle::record(
        &mut tx,
        &state.webhook_urls,
        &alert,
        kind,
        Some(caller.subject()),
        note,
    )
    .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(alert)
}

/// Acknowledges an active alert ("I am on it").
#[utoipa::path(post, path = "/v1/alerts/{id}/acknowledge", tag = "alerts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Alert id")),
    responses((status = 200, body = Alert), (status = 404, body = Problem),
        (status = 409, description = "Not active", body = Problem)))]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Alert>> {
    let by = caller.subject().to_string();
    let alert = act(
        &state,
        &caller,
        &purpose,
        id,
        Action::Acknowledge { by: &by },
        None,
    )
    .await?;
    Ok(Json(alert))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResolveAlert {
    /// Why it is resolved (1 to 2000 characters).
    #[schema(min_length = 1, max_length = 2000, format = "text")]
    pub note: String,
}

/// Resolves an open alert with a note.
#[utoipa::path(post, path = "/v1/alerts/{id}/resolve", tag = "alerts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Alert id")), request_body = ResolveAlert,
    responses((status = 200, body = Alert), (status = 404, body = Problem),
        (status = 409, description = "Already resolved", body = Problem), (status = 422, body = Problem)))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
    Json(body): Json<ResolveAlert>,
) -> ApiResult<Json<Alert>> {
    let note = body.note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(ApiError::Invalid(
            "note must be 1 to 2000 characters".into(),
        ));
    }
    let by = caller.subject().to_string();
    let alert = act(
        &state,
        &caller,
        &purpose,
        id,
        Action::Resolve { by: &by, note },
        Some(note),
    )
    .await?;
    Ok(Json(alert))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AssignAlert {
    /// The clinician to assign; omitted, the caller.
    pub clinician_id: Option<Uuid>,
}

/// Assigns an open alert to a clinician (yourself by default; a clinician may assign only
/// clinicians of the patient's care team, an admin anyone).
#[utoipa::path(post, path = "/v1/alerts/{id}/assign", tag = "alerts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Alert id")), request_body = AssignAlert,
    responses((status = 200, body = Alert), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn assign(
    State(state): State<AppState>,
    caller: AuthUser,
    purpose: Purpose,
    Path(id): Path<Uuid>,
    body: Option<Json<AssignAlert>>,
) -> ApiResult<Json<Alert>> {
    let body = body.map(|b| b.0).unwrap_or_default();
    let to = match body.clinician_id {
        Some(c) => c,
        None => caller
            .subject()
            .parse()
            .map_err(|_| ApiError::Invalid("clinician_id is required for this caller".into()))?,
    };
    let alert = visible(&state, &caller, id).await?;
    if caller.role() == Role::Clinician
        && !crate::db::routing::in_care(&state.pool, to, alert.patient_id).await?
    {
        return Err(ApiError::Invalid(
            "the assignee is not in the patient's care team".into(),
        ));
    }
    let note = format!("assigned to {to}");
    let alert = act(
        &state,
        &caller,
        &purpose,
        id,
        Action::Assign { to },
        Some(&note),
    )
    .await?;
    Ok(Json(alert))
}
