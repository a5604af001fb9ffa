//! Notify's HTTP API, under `/v1/notifications` (the gateway maps `/api/v1/notifications` here).

pub mod deliveries;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::Router;
use episante_kit::server::service_router;
use episante_kit::{Metrics, TokenVerifier};
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<TokenVerifier>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante notify service", version = "1"),
    tags((name = "notifications", description = "Messages sent to people, and their delivery log"))
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(deliveries::list))
        .with_state(state);
    service_router(api, metrics, pool)
}
