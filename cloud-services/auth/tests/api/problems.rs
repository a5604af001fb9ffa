//! The service's edges: malformed input gets a 4xx problem body, never a 500; the operational
//! endpoints answer; migrations can run again.

use episante_auth::config::Settings;
use reqwest::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn malformed_bodies_get_problem_json() {
    let app = spawn_app().await;
    let login = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/v1/auth/login"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let syntax = assert_problem(
        login("{\"email\": ", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        syntax["detail"].as_str().unwrap().contains("JSON"),
        "{syntax}"
    );
    let missing = assert_problem(
        login("{\"email\": \"a@b.test\"}", "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        missing["detail"].as_str().unwrap().contains("password"),
        "{missing}"
    );
    assert_problem(
        login("{}", "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_problem(
        login("[1, 2]", "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let huge = "x".repeat(2 * 1024 * 1024);
    let r = app
        .http
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"email\": \"{huge}\", \"password\": \"p\"}}"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn bad_paths_methods_and_queries_get_problem_json() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .http
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r = app
        .http
        .delete(app.url("/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("allow"));
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
    let r = app
        .call(Method::GET, "/v1/auth/users/not-a-uuid", &admin, None)
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    for query in [
        "limit=abc",
        "limit=0",
        "limit=501",
        "offset=-1",
        "role=king",
    ] {
        let r = app
            .call(
                Method::GET,
                &format!("/v1/auth/users?{query}"),
                &admin,
                None,
            )
            .await;
        let status = r.status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {status}"
        );
        assert_problem(r, status).await;
    }
}

#[tokio::test]
async fn health_ready_metrics_and_openapi_answer() {
    let app = spawn_app().await;
    let get = |path: &str| app.http.get(app.url(path)).send();
    assert_eq!(get("/health").await.unwrap().status(), StatusCode::OK);
    let ready: serde_json::Value = get("/ready").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    app.admin_token().await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    let login_line = metrics
        .lines()
        .find(|l| {
            l.starts_with("episante_http_requests_total{")
                && l.contains(r#"route="/v1/auth/login""#)
        })
        .unwrap_or_else(|| panic!("no login request counter in {metrics}"));
    assert!(
        login_line.contains(r#"status="200""#) && login_line.contains(r#"method="POST""#),
        "{login_line}"
    );
    assert!(metrics.contains("episante_http_request_duration_seconds_bucket{"));

    let openapi: serde_json::Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/users/{id}",
        "/.well-known/jwks.json",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(openapi["components"]["schemas"].get("Problem").is_some());
    assert!(openapi["components"]["securitySchemes"]
        .get("bearer")
        .is_some());
    episante_testkit::openapi::assert_valid_openapi("auth", &openapi);
}

#[tokio::test]
async fn ready_reports_an_unreachable_database() {
    let app = spawn_app().await;
    app.state.pool.close().await;
    let r = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
}

#[tokio::test]
async fn migrations_and_bootstrap_are_idempotent() {
    let app = spawn_app().await;
    let (email, _) = app.create_user(episante_kit::Role::Clinician).await;
    // A second instance on the same database: provisioning, migrations and the admin bootstrap
    // all run again, and change nothing.
    let settings: Settings = app.settings.clone();
    let second = episante_auth::build(settings.clone())
        .await
        .expect("second start");
    assert!(second.bootstrap.is_none(), "the admin exists already");
    let third = episante_auth::build(settings).await.expect("third start");
    assert!(third.bootstrap.is_none());
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&second.state.pool)
        .await
        .unwrap();
    assert_eq!(users, 2);
    let migrations: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&second.state.pool)
        .await
        .unwrap();
    assert_eq!(
        migrations,
        episante_auth::db::MIGRATOR.iter().count() as i64
    );
    app.login_ok(&email, USER_PASSWORD).await;
}

#[tokio::test]
async fn a_service_role_cannot_reach_another_service_database() {
    let app = spawn_app().await;
    let other = episante_testkit::TestDb::new();
    let pool = episante_kit::db::provision(
        &other.config(),
        &other.service_database(),
        &sqlx::migrate::Migrator::DEFAULT,
    )
    .await
    .unwrap();
    pool.close().await;
    // Connect as the auth role to the other service's database: refused.
    let url = format!("postgres://{}@127.0.0.1:5432/{}", app.db.name, other.name);
    let err = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn fuzzing_the_published_api_finds_no_server_error_and_no_undocumented_answer() {
    let app = spawn_app().await;
    app.create_user(episante_kit::Role::Patient).await;
    let token = app.admin_token().await;
    // Logout would end the fuzzer's own session (every later answer a 401).
    episante_testkit::fuzz::assert_fuzz_clean("auth", &app.base, &token, Some("^/v1/auth/logout"))
        .await;
}
