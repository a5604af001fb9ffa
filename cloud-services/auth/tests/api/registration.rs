//! Patients sign themselves up (`POST /v1/auth/register`): the patient role only, the password
//! policy, no duplicate email, and a per-address budget a script cannot outrun.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

const PASSWORD: &str = "a patient's long enough password";

#[tokio::test]
async fn a_patient_signs_up_and_logs_in_as_a_patient() {
    let app = spawn_app().await;
    let register = |body: serde_json::Value| {
        app.http
            .post(format!("{}/v1/auth/register", app.base))
            .json(&body)
            .send()
    };
    let created = register(json!({
        "email": "ada@example.org", "display_name": "Ada Lovelace", "password": PASSWORD
    }))
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let user: serde_json::Value = created.json().await.unwrap();
    assert_eq!(user["role"], "patient");
    let tokens = app.login_ok("ada@example.org", PASSWORD).await;
    let me: serde_json::Value = app
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "patient");

    // Nobody picks their own role.
    let escalate = register(json!({
        "email": "eve@example.org", "display_name": "Eve", "password": PASSWORD, "role": "admin"
    }))
    .await
    .unwrap();
    assert_problem(escalate, StatusCode::UNPROCESSABLE_ENTITY).await;
    // The same email twice, a short password, a bad email: clear refusals.
    let again = register(json!({
        "email": "ADA@example.org", "display_name": "Ada again", "password": PASSWORD
    }))
    .await
    .unwrap();
    assert_problem(again, StatusCode::CONFLICT).await;
    let short = register(json!({
        "email": "bob@example.org", "display_name": "Bob", "password": "short"
    }))
    .await
    .unwrap();
    assert_problem(short, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bad = register(json!({
        "email": "not-an-email", "display_name": "Bob", "password": PASSWORD
    }))
    .await
    .unwrap();
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn one_address_cannot_sign_up_at_speed() {
    let app = spawn_app_with(|s| s.auth.login_attempts_per_ip_per_minute = 3).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let response = app
            .http
            .post(format!("{}/v1/auth/register", app.base))
            .json(&json!({
                "email": format!("bot{i}@example.org"), "display_name": "Bot", "password": PASSWORD
            }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
}
