//! The second factor: TOTP enrolment, login with a code or a recovery code, required roles.

use episante_auth::domain::totp::{current_step, TotpSecret};
use episante_kit::authz::TokenError;
use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap().to_string()
}

/// Enrols `bearer`'s user (session or enrolment token); returns the secret and recovery codes.
async fn enrol(app: &TestApp, bearer: &str, password: &str) -> (TotpSecret, Vec<String>) {
    let enrolment = app
        .call(
            Method::POST,
            "/v1/auth/mfa/enroll",
            bearer,
            Some(&json!({ "password": password })),
        )
        .await;
    assert_eq!(enrolment.status(), StatusCode::OK);
    let enrolment: Value = enrolment.json().await.unwrap();
    assert!(field(&enrolment, "otpauth_uri").starts_with("otpauth://totp/EpiSante:"));
    let secret = TotpSecret::from_base32(&field(&enrolment, "secret")).unwrap();
    let wrong = app
        .call(
            Method::POST,
            "/v1/auth/mfa/confirm",
            bearer,
            Some(&json!({ "code": "000000" })),
        )
        .await;
    assert_problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await;
    let confirmed = app
        .call(
            Method::POST,
            "/v1/auth/mfa/confirm",
            bearer,
            Some(&json!({ "code": secret.code_at_step(current_step()) })),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes: Value = confirmed.json().await.unwrap();
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

#[tokio::test]
async fn enrolled_users_log_in_with_a_code_used_once_or_a_recovery_code_used_once() {
    let app = spawn_app().await;
    let (email, _) = app.create_user(Role::Clinician).await;
    let session = field(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let (secret, codes) = enrol(&app, &session, USER_PASSWORD).await;
    // Enrolling again is refused.
    let again = app
        .call(
            Method::POST,
            "/v1/auth/mfa/enroll",
            &session,
            Some(&json!({ "password": USER_PASSWORD })),
        )
        .await;
    assert_problem(again, StatusCode::CONFLICT).await;

    // The password alone no longer logs in.
    let body = assert_problem(
        app.login(&email, USER_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["type"], "/problems/mfa-required");
    // A wrong password with a right code still looks like any wrong password.
    let next = secret.code_at_step(current_step() + 1);
    let r = app
        .login_with(
            json!({"email": email, "password": "wrong wrong wrong", "totp": next}),
            None,
        )
        .await;
    assert_eq!(
        assert_problem(r, StatusCode::UNAUTHORIZED).await["detail"],
        "invalid email or password"
    );
    // The confirmation code cannot be replayed (its step is spent); the next step's works once.
    let replay = secret.code_at_step(current_step());
    let r = app
        .login_with(
            json!({"email": email, "password": USER_PASSWORD, "totp": replay}),
            None,
        )
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    let r = app
        .login_with(
            json!({"email": email, "password": USER_PASSWORD, "totp": next}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .login_with(
            json!({"email": email, "password": USER_PASSWORD, "totp": next}),
            None,
        )
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    // Recovery codes: once each, however typed.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = app
        .login_with(
            json!({"email": email, "password": USER_PASSWORD, "recovery_code": typed}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .login_with(
            json!({"email": email, "password": USER_PASSWORD, "recovery_code": codes[3]}),
            None,
        )
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    let me: Value = app.me(&session).await.json().await.unwrap();
    assert_eq!(me["user"]["mfa_enabled"], true);
}

#[tokio::test]
async fn totp_secrets_are_sealed_at_rest() {
    let app = spawn_app().await;
    let (email, _) = app.create_user(Role::Clinician).await;
    let session = field(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let (secret, codes) = enrol(&app, &session, USER_PASSWORD).await;
    let (sealed,): (Vec<u8>,) = sqlx::query_as("SELECT mfa_secret FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert!(!sealed
        .windows(secret.as_bytes().len())
        .any(|w| w == secret.as_bytes()));
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM recovery_codes")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(stored
        .iter()
        .all(|h| !codes.iter().any(|c| c.as_bytes() == h.as_slice())));
}

#[tokio::test]
async fn a_stolen_access_token_cannot_enrol_the_thiefs_authenticator() {
    let app = spawn_app().await;
    let (email, _) = app.create_user(Role::Clinician).await;
    let session = field(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let r = app
        .call(
            Method::POST,
            "/v1/auth/mfa/enroll",
            &session,
            Some(&json!({ "password": "i do not know it" })),
        )
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    // Confirming without an enrolment goes nowhere either.
    let r = app
        .call(
            Method::POST,
            "/v1/auth/mfa/confirm",
            &session,
            Some(&json!({ "code": "123456" })),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn required_roles_get_an_enrolment_only_token_until_they_enrol() {
    let app = spawn_app_with(|s| s.auth.require_mfa_roles = vec![Role::Clinician]).await;
    let other_service = app.other_service();
    let (email, user) = app.create_user(Role::Clinician).await;
    let refused = app.login(&email, USER_PASSWORD).await;
    let body = assert_problem(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(body["type"], "/problems/mfa-enrolment-required");
    assert!(body.get("refresh_token").is_none() && body.get("access_token").is_none());
    let enrolment_token = field(&body, "enrolment_token");
    // It opens nothing but enrolment: not auth's API, not another service.
    assert_eq!(
        app.me(&enrolment_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        other_service.verify(&enrolment_token).await.unwrap_err(),
        TokenError::Audience
    );
    // A wrong password is still a wrong password (nothing given away).
    let wrong = app.login(&email, "wrong wrong wrong").await;
    assert_eq!(
        assert_problem(wrong, StatusCode::UNAUTHORIZED).await["detail"],
        "invalid email or password"
    );
    let (secret, _) = enrol(&app, &enrolment_token, USER_PASSWORD).await;
    let r = app
        .login_with(
            json!({"email": email, "password": USER_PASSWORD,
                   "totp": secret.code_at_step(current_step() + 1)}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Admins (not required here) log in with a password alone.
    app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // An admin resets a lost second factor: the user's sessions end, enrolment starts over.
    let session: Value = r.json().await.unwrap();
    let admin = app.admin_token().await;
    let reset = app
        .call(
            Method::POST,
            &format!("/v1/auth/users/{}/mfa/reset", field(&user, "id")),
            &admin,
            None,
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me(&field(&session, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        app.login(&email, USER_PASSWORD).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let clinician = app.token_for(Role::Patient).await;
    let r = app
        .call(
            Method::POST,
            &format!("/v1/auth/users/{}/mfa/reset", field(&user, "id")),
            &clinician,
            None,
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
}
