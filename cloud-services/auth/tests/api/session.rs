//! Login, lockout, throttling, refresh rotation and reuse detection, logout.

use std::time::Duration;

use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn login_succeeds_and_me_knows_who() {
    let app = spawn_app().await;
    let tokens = app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 43);
    let me: serde_json::Value = app
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
}

#[tokio::test]
async fn login_failures_do_not_reveal_which_part_was_wrong() {
    let app = spawn_app().await;
    let wrong_password = assert_problem(
        app.login(ADMIN_EMAIL, "not the password at all").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown_email = assert_problem(
        app.login("nobody@episante.test", ADMIN_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong_password["detail"], unknown_email["detail"]);
    // Email matching is case-insensitive.
    app.login_ok(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD)
        .await;
}

#[tokio::test]
async fn repeated_failures_back_off_the_failing_address_then_release_it() {
    let app = spawn_app_with(|s| {
        s.auth.lockout_threshold = 3;
        s.auth.lockout_base_ms = 1_500;
    })
    .await;
    for _ in 0..3 {
        let r = app.login(ADMIN_EMAIL, "wrong wrong wrong").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused from this address while it backs off — with the answer
    // of any wrong password (nothing tells an attacker the account exists or is locked).
    let held = assert_problem(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(held["detail"], "invalid email or password");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn_app_with(|s| s.auth.lockout_threshold = 3).await;
    for _ in 0..2 {
        app.login(ADMIN_EMAIL, "wrong wrong wrong").await;
    }
    app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for _ in 0..2 {
        app.login(ADMIN_EMAIL, "wrong wrong wrong").await;
    }
    app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn one_address_is_throttled_across_accounts() {
    let app = spawn_app_with(|s| s.auth.login_attempts_per_ip_per_minute = 4).await;
    for i in 0..4 {
        let r = app
            .login(&format!("user{i}@episante.test"), "whatever whatever")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(throttled.headers().contains_key("retry-after"));
    assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("episante_auth_logins_total{") && l.contains(r#"outcome="throttled""#)
        })
        .unwrap_or_else(|| panic!("no throttled counter in {metrics}"));
    assert!(
        line.contains(r#"service="auth""#) && line.ends_with(" 1"),
        "{line}"
    );
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let first = app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let first_refresh = first["refresh_token"].as_str().unwrap();

    let second: serde_json::Value = refresh(&app, first_refresh).await.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(first_refresh, second_refresh);
    assert_eq!(
        app.me(second["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    // Replaying the first token is reuse: refused, and the legitimate successor dies with it.
    let replay = assert_problem(refresh(&app, first_refresh).await, StatusCode::UNAUTHORIZED).await;
    assert!(replay["detail"].as_str().unwrap().contains("revoked"));
    assert_problem(
        refresh(&app, second_refresh).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Another login is another family, unaffected.
    let other = app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        refresh(&app, other["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_and_expired_refresh_tokens_are_refused() {
    let app = spawn_app_with(|s| s.auth.refresh_ttl_secs = 1).await;
    assert_problem(refresh(&app, "made-up").await, StatusCode::UNAUTHORIZED).await;
    let tokens = app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let body = assert_problem(
        refresh(&app, tokens["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let tokens = app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let r = app
        .http
        .post(app.url("/v1/auth/logout"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(refresh(&app, token).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn deactivated_users_cannot_log_in_or_refresh() {
    let app = spawn_app().await;
    let (email, user) = app.create_user(Role::Clinician).await;
    let tokens = app.login_ok(&email, USER_PASSWORD).await;
    let r = app
        .http
        .post(app.url(&format!(
            "/v1/auth/users/{}/deactivate",
            user["id"].as_str().unwrap()
        )))
        .bearer_auth(app.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_problem(
        app.login(&email, USER_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        refresh(&app, tokens["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn service_clients_get_service_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created: serde_json::Value = app
        .call(
            Method::POST,
            "/v1/auth/service-clients",
            &admin,
            Some(&json!({"client_id": "records"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let token = |secret: &str, grant: &str| {
        app.http
            .post(app.url("/v1/auth/token"))
            .form(&[
                ("grant_type", grant),
                ("client_id", "records"),
                ("client_secret", secret),
            ])
            .send()
    };
    let ok: serde_json::Value = token(secret, "client_credentials")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ok.get("refresh_token").is_none());
    let me: serde_json::Value = app
        .me(ok["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "service");
    assert_eq!(me["sub"], "records");

    assert_problem(
        token("wrong", "client_credentials").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_problem(
        token(secret, "password").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // The same id twice is a conflict.
    let again = app
        .call(
            Method::POST,
            "/v1/auth/service-clients",
            &admin,
            Some(&json!({"client_id": "records"})),
        )
        .await;
    assert_problem(again, StatusCode::CONFLICT).await;
    // Deactivated clients get no tokens.
    let r = app
        .call(
            Method::POST,
            "/v1/auth/service-clients/records/deactivate",
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(
        token(secret, "client_credentials").await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_stored_role_that_is_not_a_role_fails_loudly_and_grants_nothing() {
    let app = spawn_app().await;
    let (email, _) = app.create_user(Role::Clinician).await;
    // Someone altered the table (the CHECK constraint is what normally stops this).
    let db = sqlx::PgPool::connect(&app.db.admin_url()).await.unwrap();
    sqlx::query("ALTER TABLE users DROP CONSTRAINT users_role_check")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET role = 'root' WHERE email = $1")
        .bind(&email)
        .execute(&db)
        .await
        .unwrap();
    let response = app.login(&email, USER_PASSWORD).await;
    assert_eq!(
        response.status(),
        reqwest::StatusCode::INTERNAL_SERVER_ERROR,
        "no session, and not a patient's: {:?}",
        response.text().await
    );
}
