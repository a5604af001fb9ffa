//! Password change, admin-initiated reset with a one-time token, absolute session lifetime.

use std::time::Duration;

use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const NEW_PASSWORD: &str = "an even better passphrase";

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap().to_string()
}

async fn refresh(app: &TestApp, token: &str) -> StatusCode {
    app.http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_only() {
    let app = spawn_app().await;
    let other_service = app.other_service();
    let (email, _) = app.create_user(Role::Clinician).await;
    let here = app.login_ok(&email, USER_PASSWORD).await;
    let elsewhere = app.login_ok(&email, USER_PASSWORD).await;

    let wrong = app
        .call(
            Method::POST,
            "/v1/auth/password",
            &field(&here, "access_token"),
            Some(&json!({"current_password": "not my password", "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED).await;
    let weak = app
        .call(
            Method::POST,
            "/v1/auth/password",
            &field(&here, "access_token"),
            Some(&json!({"current_password": USER_PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY).await;

    let changed = app
        .call(
            Method::POST,
            "/v1/auth/password",
            &field(&here, "access_token"),
            Some(&json!({"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    // This session goes on; the other one is over, tokens and refresh alike, everywhere.
    assert_eq!(
        app.me(&field(&here, "access_token")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.me(&field(&elsewhere, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &field(&elsewhere, "refresh_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &field(&here, "refresh_token")).await,
        StatusCode::OK
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while other_service
        .verify(&field(&elsewhere, "access_token"))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not revoked elsewhere"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other_service
        .verify(&field(&here, "access_token"))
        .await
        .expect("this session still valid elsewhere");
    // The old password is gone.
    assert_eq!(
        app.login(&email, USER_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn service_tokens_cannot_change_passwords() {
    let app = spawn_app().await;
    let token = app
        .state
        .access_token("some-service", Role::Service, None)
        .unwrap()
        .0;
    let r = app
        .call(
            Method::POST,
            "/v1/auth/password",
            &token,
            Some(&json!({"current_password": "x", "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
}

async fn issue_reset(app: &TestApp, user: &str, token: &str) -> reqwest::Response {
    app.call(
        Method::POST,
        &format!("/v1/auth/users/{user}/password-reset"),
        token,
        None,
    )
    .await
}

async fn reset(app: &TestApp, reset_token: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/password/reset"))
        .json(&json!({"reset_token": reset_token, "new_password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_reset_token_works_once_and_ends_every_session() {
    let app = spawn_app().await;
    let (email, user) = app.create_user(Role::Clinician).await;
    let user_id = field(&user, "id");
    let session = app.login_ok(&email, USER_PASSWORD).await;
    // Only admins issue them.
    let clinician = app.token_for(Role::Clinician).await;
    assert_problem(
        issue_reset(&app, &user_id, &clinician).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let admin = app.admin_token().await;
    assert_problem(
        issue_reset(&app, &uuid::Uuid::new_v4().to_string(), &admin).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let first: Value = issue_reset(&app, &user_id, &admin)
        .await
        .json()
        .await
        .unwrap();
    let issued = issue_reset(&app, &user_id, &admin).await;
    assert_eq!(issued.status(), StatusCode::CREATED);
    let second: Value = issued.json().await.unwrap();
    // Stored hashed.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM password_resets")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h.len() == 32));
    // A newer token replaces the older; a weak password does not burn the token.
    assert_problem(
        reset(&app, &field(&first, "reset_token"), NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        reset(&app, &field(&second, "reset_token"), "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        reset(&app, &field(&second, "reset_token"), NEW_PASSWORD)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Once.
    assert_problem(
        reset(
            &app,
            &field(&second, "reset_token"),
            "yet another passphrase",
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.me(&field(&session, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &field(&session, "refresh_token")).await,
        StatusCode::UNAUTHORIZED
    );
    app.login_ok(&email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn reset_tokens_expire() {
    let app = spawn_app_with(|s| s.auth.password_reset_ttl_secs = 1).await;
    let (_, user) = app.create_user(Role::Patient).await;
    let admin = app.admin_token().await;
    let issued: Value = issue_reset(&app, &field(&user, "id"), &admin)
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_problem(
        reset(&app, &field(&issued, "reset_token"), NEW_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn sessions_cannot_be_refreshed_past_their_maximum_age() {
    let app = spawn_app_with(|s| s.auth.session_max_age_secs = 2).await;
    let tokens = app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let next: Value = app
        .http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": field(&tokens, "refresh_token") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let refused = app
        .http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": field(&next, "refresh_token") }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(refused, StatusCode::UNAUTHORIZED).await;
    assert!(
        body["detail"].as_str().unwrap().contains("maximum age")
            || body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}
