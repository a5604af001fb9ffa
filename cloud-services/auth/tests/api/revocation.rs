//! Revocation that takes effect in seconds: logout, deactivation, role change and password change
//! end the access tokens of the sessions they end, in auth at once and in every other service
//! (a verifier fed by the `auth.sessions.v1` listener, as records and alerts run it) within
//! seconds.

use std::time::{Duration, Instant};

use episante_kit::authz::TokenError;
use episante_kit::{Role, TokenVerifier};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

fn token(tokens: &Value, field: &str) -> String {
    tokens[field].as_str().unwrap().to_string()
}

/// Polls `verifier` until it refuses `token` as revoked; returns how long that took.
async fn refused_within(verifier: &TokenVerifier, token: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match verifier.verify(token).await {
            Err(TokenError::Revoked) => return start.elapsed(),
            Ok(_) => {}
            Err(other) => panic!("refused for another reason: {other}"),
        }
        assert!(start.elapsed() < limit, "still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.me(token).await.status()
}

#[tokio::test]
async fn logout_ends_that_sessions_tokens_everywhere_and_spares_the_other_session() {
    let app = spawn_app().await;
    let other_service = app.other_service();
    let (email, _) = app.create_user(Role::Clinician).await;
    let a = app.login_ok(&email, USER_PASSWORD).await;
    let b = app.login_ok(&email, USER_PASSWORD).await;
    let (a_access, b_access) = (token(&a, "access_token"), token(&b, "access_token"));
    other_service.verify(&a_access).await.expect("valid before");

    let logout = app
        .http
        .post(app.url("/v1/auth/logout"))
        .json(&json!({ "refresh_token": token(&a, "refresh_token") }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    // Auth refuses it at once…
    let body = assert_problem(app.me(&a_access).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["detail"], "token has been revoked");
    // …another service within seconds.
    let delay = refused_within(&other_service, &a_access, Duration::from_secs(5)).await;
    println!("logout → refused by another service after {delay:?}");
    // The other session lives on.
    assert_eq!(me_status(&app, &b_access).await, StatusCode::OK);
    other_service
        .verify(&b_access)
        .await
        .expect("other session");
}

#[tokio::test]
async fn deactivation_ends_every_token_of_the_user_within_seconds() {
    let app = spawn_app().await;
    let other_service = app.other_service();
    let (email, user) = app.create_user(Role::Clinician).await;
    let a = token(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let b = token(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let admin = app.admin_token().await;
    // Someone else's token is untouched.
    let bystander = app.token_for(Role::Clinician).await;

    let response = app
        .call(
            Method::POST,
            &format!("/v1/auth/users/{}/deactivate", user["id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(me_status(&app, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &b).await, StatusCode::UNAUTHORIZED);
    let delay = refused_within(&other_service, &b, Duration::from_secs(5)).await;
    println!("deactivation → refused by another service after {delay:?}");
    assert_eq!(
        other_service.verify(&a).await.unwrap_err(),
        TokenError::Revoked
    );
    other_service.verify(&bystander).await.expect("bystander");
}

#[tokio::test]
async fn a_role_change_ends_the_sessions_and_a_new_login_works_at_once() {
    let app = spawn_app().await;
    let other_service = app.other_service();
    let (email, user) = app.create_user(Role::Clinician).await;
    let before = token(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let admin = app.admin_token().await;
    let response = app
        .call(
            Method::PATCH,
            &format!("/v1/auth/users/{}", user["id"].as_str().unwrap()),
            &admin,
            Some(&json!({ "role": "patient" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // A renamed user keeps their sessions; only the demotion revoked.
    refused_within(&other_service, &before, Duration::from_secs(5)).await;
    // Logging in again right away (same second as the revocation) gives a token that works.
    let after = token(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let me: Value = app.me(&after).await.json().await.unwrap();
    assert_eq!(me["role"], "patient");
    assert_eq!(
        other_service.verify(&after).await.unwrap().role,
        Role::Patient
    );
}

#[tokio::test]
async fn renaming_a_user_revokes_nothing() {
    let app = spawn_app().await;
    let (email, user) = app.create_user(Role::Clinician).await;
    let access = token(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
    let admin = app.admin_token().await;
    let response = app
        .call(
            Method::PATCH,
            &format!("/v1/auth/users/{}", user["id"].as_str().unwrap()),
            &admin,
            Some(&json!({ "display_name": "Dr Renamed" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(me_status(&app, &access).await, StatusCode::OK);
    assert!(app.state.verifier.revocations().is_empty());
}

#[tokio::test]
async fn reusing_a_refresh_token_also_ends_the_sessions_access_tokens() {
    let app = spawn_app().await;
    let (email, _) = app.create_user(Role::Clinician).await;
    let first = app.login_ok(&email, USER_PASSWORD).await;
    let refresh = |t: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/v1/auth/refresh"))
                .json(&json!({ "refresh_token": t }))
                .send()
                .await
                .unwrap()
        }
    };
    let second: Value = refresh(token(&first, "refresh_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me_status(&app, &token(&second, "access_token")).await,
        StatusCode::OK
    );
    // The first refresh token, stolen and replayed: the whole session ends.
    assert_eq!(
        refresh(token(&first, "refresh_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_status(&app, &token(&second, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn session_tokens_carry_their_session_id() {
    let app = spawn_app().await;
    let tokens = app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let claims = app
        .state
        .verifier
        .verify(&token(&tokens, "access_token"))
        .await
        .unwrap();
    assert!(claims.sid.unwrap().parse::<uuid::Uuid>().is_ok());
}

/// The deployment path: auth's outbox → Kafka (tansu) → another service's listener. Prints the
/// p99 from the deactivation request to the other service refusing the token.
#[tokio::test]
async fn over_kafka_another_service_refuses_within_seconds() {
    let kafka = episante_testkit::TestKafka::start().await.expect("tansu");
    let bus: std::sync::Arc<dyn episante_kit::events::EventBus> = std::sync::Arc::new(
        episante_kit::events::kafka::KafkaBus::new(&episante_kit::events::EventBusConfig {
            brokers: Some(kafka.bootstrap.clone()),
            partitions: 1,
            linger_ms: 1,
            ..Default::default()
        })
        .expect("kafka bus"),
    );
    let db = episante_testkit::TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&db, dir.path());
    let app = start_on(db, dir, settings, bus).await;
    let other_service = app.other_service();
    let admin = app.admin_token().await;
    // Let the listener join its group before the first measured event.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut delays = Vec::new();
    for _ in 0..10 {
        let (email, user) = app.create_user(Role::Clinician).await;
        let access = token(&app.login_ok(&email, USER_PASSWORD).await, "access_token");
        other_service.verify(&access).await.expect("valid before");
        let start = Instant::now();
        let r = app
            .call(
                Method::POST,
                &format!("/v1/auth/users/{}/deactivate", user["id"].as_str().unwrap()),
                &admin,
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        refused_within(&other_service, &access, Duration::from_secs(5)).await;
        delays.push(start.elapsed());
    }
    delays.sort();
    println!(
        "over Kafka (tansu): deactivation request → refused by another service: p50 {:?}, p99 {:?}",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}
