//! Notify's HTTP API, under `/v1/notifications` (the gateway maps `/api/v1/notifications` here).

pub mod deliveries;
pub mod inbox;
pub mod preferences;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::Router;
use episante_kit::server::service_router;
use episante_kit::{Metrics, TokenVerifier};
use sqlx::PgPool;

use crate::directory::Directory;
use crate::inbox::InboxFeed;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<TokenVerifier>,
    pub directory: Arc<Directory>,
    pub inbox: InboxFeed,
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
        .routes(routes!(preferences::get_mine, preferences::put_mine))
        .routes(routes!(preferences::get_user, preferences::put_user))
        .routes(routes!(inbox::list))
        .routes(routes!(inbox::read_one))
        .routes(routes!(inbox::read_all))
        .routes(routes!(inbox::stream))
        .with_state(state);
    service_router(api, metrics, pool)
}
