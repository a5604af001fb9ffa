//! The alerts HTTP API under `/v1/`: alerts and their lifecycle, the live stream, and the
//! patient-scoped vitals history and rule overrides. Clinicians see and act only on patients in
//! their care teams (others answer 404, like records); admins on all.

pub mod alerts;
pub mod patients;
pub mod stream;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::Router;
use episante_kit::audit::AuditPublisher;
use episante_kit::events::outbox::OutboxRelay;
use episante_kit::server::service_router;
use episante_kit::{ApiError, AuthUser, Metrics, Role, TokenVerifier};
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::feed::AlertFeed;
use crate::rule_book::RuleBook;

/// `FromRef` lets extractors take a part of it (the token verifier, for `AuthUser`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub rules: Arc<RuleBook>,
    pub feed: AlertFeed,
    pub outbox: OutboxRelay,
    pub webhook_urls: Arc<Vec<String>>,
    /// Every read and write of patient data is published for records' audit trail.
    pub audit: AuditPublisher,
}

/// Which patients' alerts a caller sees.
pub enum AlertScope {
    All,
    Clinician(Uuid),
}

impl AlertScope {
    pub fn of(caller: &AuthUser) -> Result<AlertScope, ApiError> {
        match caller.role() {
            Role::Admin => Ok(AlertScope::All),
            Role::Clinician => caller.user_id().map(AlertScope::Clinician),
            other => Err(ApiError::Forbidden(format!(
                "role {other} may not see alerts"
            ))),
        }
    }

    /// 404 unless `patient` is visible.
    pub async fn check(&self, pool: &PgPool, patient: Uuid) -> Result<(), ApiError> {
        match self {
            AlertScope::All => Ok(()),
            AlertScope::Clinician(c) => {
                if crate::db::routing::in_care(pool, *c, patient).await? {
                    Ok(())
                } else {
                    Err(ApiError::NotFound(format!(
                        "no patient {patient} in your care"
                    )))
                }
            }
        }
    }

    /// The patients visible (`None`: all).
    pub async fn patients(&self, pool: &PgPool) -> Result<Option<Vec<Uuid>>, ApiError> {
        Ok(match self {
            AlertScope::All => None,
            AlertScope::Clinician(c) => Some(crate::db::routing::patients_of(pool, *c).await?),
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante alerts", version = "1"),
    tags(
        (name = "alerts", description = "Alerts and their lifecycle"),
        (name = "patients", description = "Vitals history and alert rules of a patient"),
    )
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(alerts::list))
        .routes(routes!(stream::stream))
        .routes(routes!(alerts::get))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::resolve))
        .routes(routes!(alerts::assign))
        .routes(routes!(patients::vitals))
        .routes(routes!(patients::rules, patients::set_rules))
        .with_state(state);
    service_router(api, metrics, pool)
}
