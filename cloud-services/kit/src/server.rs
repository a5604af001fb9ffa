//! The HTTP shell every service shares: operational routes, middleware, graceful serving.
//!
//! A service builds its domain `Router` and hands it to [`service_router`], which adds `/health`,
//! `/ready`, `/metrics` and `/openapi.json`, request metrics, a body-size limit, panic catching,
//! request tracing and a fallback — and rewrites any framework error (bad JSON, unknown route,
//! wrong method, body too large) into the same problem JSON the domain errors use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::metrics::{self, Metrics};
use crate::problem::problem_response;
use crate::shutdown::Shutdown;

/// Largest request body any service accepts unless it says otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Wraps a service's routes (each declared once, with its OpenAPI operation) with the shared
/// routes and middleware. The OpenAPI document gets the `bearer` security scheme its protected
/// operations refer to. `pool` is what `/ready` checks.
pub fn service_router(api: OpenApiRouter, metrics: Arc<Metrics>, pool: PgPool) -> Router {
    let (api, mut openapi) = api.split_for_parts();
    add_bearer_scheme(&mut openapi);
    // Serialised once: every request for the document gets the same bytes.
    let openapi = axum::body::Bytes::from(
        serde_json::to_vec(&crate::openapi::with_error_responses(openapi))
            .expect("OpenAPI serialises"),
    );
    let ops = Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/ready", get(ready).with_state(pool))
        .route("/metrics", get(metrics::render).with_state(metrics.clone()))
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], openapi) }
            }),
        );
    api.route_layer(middleware::from_fn_with_state(metrics, metrics::track_http))
        .merge(ops)
        .fallback(|| async { problem_response(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn(
            crate::unstorable::refuse_unstorable_input,
        ))
        .layer(RequestBodyLimitLayer::new(DEFAULT_BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("request handler panicked");
            problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "an internal error occurred",
            )
        }))
        // Outside the body limit and panic catcher, so their responses are rewritten too.
        .layer(middleware::map_response(problem_for_framework_errors))
        // Outermost but for tracing: FHIR paths answer every error as an `OperationOutcome`.
        .layer(middleware::from_fn(crate::fhir::operation_outcomes))
        .layer(TraceLayer::new_for_http())
}

/// Adds the bearer-JWT security scheme that protected operations refer to as `bearer`.
fn add_bearer_scheme(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
}

async fn ready(State(pool): State<PgPool>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&pool),
    )
    .await;
    match check {
        Ok(Ok(_)) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            problem_response(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Err(_) => problem_response(StatusCode::SERVICE_UNAVAILABLE, "database timed out"),
    }
}

/// Rewrites non-problem error responses (axum's plain-text rejections, empty 405s, 413s) into
/// problem JSON, keeping their status and useful headers. 5xx details are never passed on.
async fn problem_for_framework_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let already_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if already_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = if status.is_server_error() {
        "an internal error occurred".to_string()
    } else {
        let bytes = axum::body::to_bytes(body, 16 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text
        }
    };
    let mut rewritten = problem_response(status, detail);
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}

/// Binds a listener, naming the address in the error (the usual cause is a taken port).
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// How long a stopping service waits for its background tasks (outbox relay, consumers,
/// escalation and webhook loops) once its HTTP server has returned.
pub const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Serves `router` until `shutdown` triggers, lets in-flight requests finish, then waits for
/// the background tasks started with [`Shutdown::spawn`] (at most [`DRAIN_GRACE`]).
/// Handlers can extract the peer address with `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.wait_owned())
    .await;
    shutdown.drain(DRAIN_GRACE).await;
    served
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A background task's last work after the trigger (an outbox round, a commit) is done
    /// before the service's `serve` returns, which is when a process exits.
    #[tokio::test]
    async fn serve_returns_only_after_the_tracked_tasks_finished_their_last_work() {
        let shutdown = Shutdown::new();
        let flushed = Arc::new(AtomicBool::new(false));
        let task_flushed = flushed.clone();
        let task_shutdown = shutdown.clone();
        shutdown.spawn(async move {
            task_shutdown.wait().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            task_flushed.store(true, Ordering::SeqCst);
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let serving = tokio::spawn(serve(listener, Router::new(), shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.trigger();
        serving.await.unwrap().unwrap();
        assert!(
            flushed.load(Ordering::SeqCst),
            "serve returned before the task's last work"
        );
    }
}
