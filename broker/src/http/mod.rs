//! The broker's HTTP API (port 8085): the device registry. The gateway maps `/api/v1/devices/`
//! here.

pub mod devices;
pub mod fhir;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::Router;
use episante_kit::server::service_router;
use episante_kit::{Metrics, TokenVerifier};
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::device_auth::DeviceAuthenticator;
use crate::device_ca::DeviceCa;
use crate::mqtt::sessions::SessionRegistry;
use episante_kit::events::EventBus;

/// `FromRef` lets extractors take a part of it (the token verifier, for `AuthUser`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub ca: Arc<DeviceCa>,
    pub auth: Arc<DeviceAuthenticator>,
    /// This instance's live device sessions (cut on revoke and rotate).
    pub sessions: Arc<SessionRegistry>,
    /// Where device changes are announced to the other broker instances.
    pub bus: Arc<dyn EventBus>,
    /// Where devices connect, for the credentials response.
    pub mqtt_port: u16,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante broker: device registry", version = "1"),
    tags((name = "devices", description = "Device registry (admin or service tokens)"),
        (name = "fhir", description = "FHIR R4: Device"))
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(devices::register, devices::list))
        .routes(routes!(devices::get))
        .routes(routes!(devices::rotate))
        .routes(routes!(devices::revoke))
        .routes(routes!(fhir::devices))
        .routes(routes!(fhir::device))
        .with_state(state);
    service_router(api, metrics, pool)
}
