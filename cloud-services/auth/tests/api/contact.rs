//! What notify reads to write to someone (`GET /v1/auth/users/{id}/contact`, scope
//! `contacts:read`) and the language each user chooses (`PUT /v1/auth/me/language`).

use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// A fresh service client holding `scopes`, and its token.
async fn service(app: &TestApp, scopes: &[&str]) -> String {
    let admin = app.admin_token().await;
    let id = format!("svc-{}", uuid::Uuid::new_v4().simple());
    let created: serde_json::Value = app
        .call(
            Method::POST,
            "/v1/auth/service-clients",
            &admin,
            Some(&json!({"client_id": id, "scopes": scopes})),
        )
        .await
        .json()
        .await
        .unwrap();
    client_token(app, &id, created["client_secret"].as_str().unwrap()).await
}

#[tokio::test]
async fn a_users_language_is_theirs_to_set_and_notify_reads_it_with_its_scope() {
    let app = spawn_app().await;
    let (email, user) = app.create_user(Role::Patient).await;
    let id = user["id"].as_str().unwrap();
    let token = app.login_ok(&email, USER_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let contact_path = format!("/v1/auth/users/{id}/contact");

    let notify = service(&app, &["contacts:read"]).await;
    let contact = app.get_json(&contact_path, &notify).await;
    assert_eq!(contact["language"], "en", "English until chosen: {contact}");
    assert_eq!(contact["email"], email.as_str());
    assert_eq!(contact["active"], true);
    // The role says who may be put on call (paged); nothing of the account's security.
    assert_eq!(contact["role"], "patient");
    let mut fields: Vec<&str> = contact
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["active", "display_name", "email", "id", "language", "role"],
        "no more than needed: {contact}"
    );

    let set = app
        .call(
            Method::PUT,
            "/v1/auth/me/language",
            &token,
            Some(&json!({"language": "fr-FR"})),
        )
        .await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&contact_path, &notify).await["language"], "fr");

    let unknown = app
        .call(
            Method::PUT,
            "/v1/auth/me/language",
            &token,
            Some(&json!({"language": "klingon"})),
        )
        .await;
    let problem = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("language"),
        "{problem}"
    );
    assert_eq!(app.get_json(&contact_path, &notify).await["language"], "fr");

    // Without the scope, or as another patient: refused.
    let other = service(&app, &["schedule:read"]).await;
    let refused = app.call(Method::GET, &contact_path, &other, None).await;
    let problem = assert_problem(refused, StatusCode::FORBIDDEN).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("contacts:read"),
        "{problem}"
    );
    let patient = app.token_for(Role::Patient).await;
    let refused = app.call(Method::GET, &contact_path, &patient, None).await;
    assert_problem(refused, StatusCode::FORBIDDEN).await;
    // A service has no language of its own.
    let refused = app
        .call(
            Method::PUT,
            "/v1/auth/me/language",
            &notify,
            Some(&json!({"language": "fr"})),
        )
        .await;
    assert_problem(refused, StatusCode::FORBIDDEN).await;
    let missing = app
        .call(
            Method::GET,
            &format!("/v1/auth/users/{}/contact", uuid::Uuid::new_v4()),
            &notify,
            None,
        )
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND).await;
}
