//! Records' HTTP API, under `/v1/` (the gateway maps `/api/v1/` here). Every handler that touches
//! a patient checks the caller's [`PatientScope`] first and records an audit entry before it
//! answers.

pub mod access;
pub mod audit;
pub mod care_teams;
pub mod devices;
pub mod fhir;
pub mod history;
pub mod keys;
pub mod patients;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::Router;
use episante_kit::events::outbox::OutboxRelay;
use episante_kit::server::service_router;
use episante_kit::{ApiError, AuthUser, Metrics, TokenVerifier};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{AuditEntry, AuditLog};
use crate::domain::access::PatientScope;
use crate::peers::Peers;
use crate::store::PatientStore;

/// Shared by all handlers; cheap to clone.
/// `FromRef` lets extractors take a part of it (the token verifier, for `AuthUser`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub store: Arc<PatientStore>,
    pub audit: AuditLog,
    pub outbox: OutboxRelay,
    pub peers: Arc<Peers>,
}

/// The purpose-of-use request header recorded with every audit entry (HL7 PurposeOfUse codes
/// such as `TREAT`, `ETREAT`, `HOPERAT`, or any short token).
pub const PURPOSE_HEADER: &str = episante_kit::audit::PURPOSE_HEADER;

/// An authenticated caller and why they are asking.
pub struct Caller {
    pub user: AuthUser,
    pub purpose: String,
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let purpose = episante_kit::audit::parse_purpose(parts.headers.get(PURPOSE_HEADER))?;
        Ok(Caller { user, purpose })
    }
}

impl Caller {
    pub fn scope(&self) -> Result<PatientScope, ApiError> {
        PatientScope::of(&self.user)
    }

    pub fn id(&self) -> &str {
        self.user.subject()
    }

    /// An audit entry for `action` on `patient` by this caller.
    pub fn audit(&self, action: &str, patient: Option<Uuid>, detail: Value) -> AuditEntry {
        AuditEntry {
            service: "records".into(),
            actor: self.user.subject().to_string(),
            actor_role: self.user.role().to_string(),
            patient_id: patient,
            action: action.to_string(),
            purpose: self.purpose.clone(),
            detail,
            at: None,
            event_id: None,
        }
    }
}

/// `limit`/`offset` of the records list endpoints: default 100, at most 500.
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    episante_kit::paging::page(limit, offset, 100, 500)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante patient records", version = "1"),
    tags(
        (name = "patients", description = "Patient identity (encrypted), consents, history"),
        (name = "devices", description = "Device assignment"),
        (name = "care-teams", description = "Who looks after whom (admin)"),
        (name = "audit", description = "The PII access trail (admin; patients: their own)"),
        (name = "fhir", description = "FHIR R4 export"),
        (name = "keys", description = "Encryption key rotation (admin)"),
    )
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(patients::create, patients::list))
        .routes(routes!(patients::search))
        .routes(routes!(patients::register_self))
        .routes(routes!(patients::get, patients::update))
        .routes(routes!(patients::archive))
        .routes(routes!(patients::consents))
        .routes(routes!(patients::set_consent))
        .routes(routes!(history::list, history::create))
        .routes(routes!(devices::list, devices::assign))
        .routes(routes!(devices::unassign))
        .routes(routes!(care_teams::create, care_teams::list))
        .routes(routes!(care_teams::get))
        .routes(routes!(care_teams::add_member, care_teams::remove_member))
        .routes(routes!(care_teams::add_patient, care_teams::remove_patient))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .routes(routes!(fhir::metadata))
        .routes(routes!(fhir::patient))
        .routes(routes!(fhir::observations))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::rewrap))
        .with_state(state);
    service_router(api, metrics, pool)
}
