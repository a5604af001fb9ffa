//! The broker's HTTP API (port 8085): the device registry. The gateway maps `/api/v1/devices/`
//! here.

pub mod devices;
pub mod fhir;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
use episante_kit::server::{service_router, ServiceParts};
use episante_kit::{Metrics, TokenVerifier};
use sqlx::PgPool;
use utoipa::OpenApi;

use crate::device_auth::DeviceAuthenticator;
use crate::device_ca::DeviceCa;
use crate::mqtt::sessions::SessionRegistry;
use episante_kit::events::EventBus;

#[derive(Clone)]
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

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante broker: device registry", version = "1"),
    paths(devices::register, devices::list, devices::get, devices::rotate, devices::revoke,
        fhir::device, fhir::devices),
    tags((name = "devices", description = "Device registry (admin or service tokens)"),
        (name = "fhir", description = "FHIR R4: Device"))
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = Router::new()
        .route("/v1/devices", post(devices::register).get(devices::list))
        .route("/v1/devices/{id}", get(devices::get))
        .route("/v1/devices/{id}/rotate", post(devices::rotate))
        .route("/v1/devices/{id}/revoke", post(devices::revoke))
        .route("/v1/fhir/Device", get(fhir::devices))
        .route("/v1/fhir/Device/{id}", get(fhir::device))
        .with_state(state);
    service_router(
        api,
        ServiceParts {
            metrics,
            openapi: ApiDoc::openapi(),
            pool,
        },
    )
}
