//! Admin endpoints and the role matrix.

use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Every admin endpoint, with a body that would be valid.
fn admin_endpoints(user_id: &str) -> Vec<(Method, String, Option<serde_json::Value>)> {
    vec![
        (Method::GET, "/v1/auth/users".into(), None),
        (
            Method::POST,
            "/v1/auth/users".into(),
            Some(
                json!({"email": "new@episante.test", "display_name": "N", "role": "patient",
                        "password": USER_PASSWORD}),
            ),
        ),
        (Method::GET, format!("/v1/auth/users/{user_id}"), None),
        (
            Method::PATCH,
            format!("/v1/auth/users/{user_id}"),
            Some(json!({"display_name": "Renamed"})),
        ),
        (
            Method::POST,
            format!("/v1/auth/users/{user_id}/deactivate"),
            None,
        ),
        (Method::GET, "/v1/auth/service-clients".into(), None),
        (
            Method::POST,
            "/v1/auth/service-clients".into(),
            Some(json!({"client_id": "bookings"})),
        ),
        (Method::POST, "/v1/auth/signing-keys/rotate".into(), None),
    ]
}

#[tokio::test]
async fn admin_endpoints_refuse_anonymous_and_non_admins() {
    let app = spawn_app().await;
    let (_, victim) = app.create_user(Role::Patient).await;
    let victim_id = victim["id"].as_str().unwrap().to_string();
    let mut tokens = vec![];
    for role in [Role::Clinician, Role::Patient, Role::Device] {
        tokens.push((role, app.token_for(role).await));
    }
    // Services are service clients, not users: a token as the client-credentials grant mints it.
    let service = app.state.access_token("some-service", Role::Service, None);
    tokens.push((Role::Service, service.unwrap().0));
    for (method, path, body) in admin_endpoints(&victim_id) {
        let mut anonymous = app.http.request(method.clone(), app.url(&path));
        if let Some(b) = &body {
            anonymous = anonymous.json(b);
        }
        let r = anonymous.send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{method} {path}"
        );
        assert_problem(r, StatusCode::UNAUTHORIZED).await;
        for (role, token) in &tokens {
            let mut request = app
                .http
                .request(method.clone(), app.url(&path))
                .bearer_auth(token);
            if let Some(b) = &body {
                request = request.json(b);
            }
            let r = request.send().await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{role} on {method} {path}"
            );
            assert_problem(r, StatusCode::FORBIDDEN).await;
        }
    }
    // Nothing changed behind the refusals.
    let admin = app.admin_token().await;
    let unchanged: serde_json::Value = app
        .get_json(&format!("/v1/auth/users/{victim_id}"), &admin)
        .await;
    assert_eq!(unchanged, victim);
}

#[tokio::test]
async fn admins_create_list_update_and_change_roles() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (email, user) = app.create_user(Role::Patient).await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(user["role"], "patient");
    assert!(user.get("password_hash").is_none());

    let updated: serde_json::Value = app
        .call(
            Method::PATCH,
            &format!("/v1/auth/users/{id}"),
            &admin,
            Some(&json!({"role": "clinician", "display_name": "Dr Who"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["role"], "clinician");
    assert_eq!(updated["display_name"], "Dr Who");
    // New tokens carry the new role.
    let token = app.login_ok(&email, USER_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me: serde_json::Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["role"], "clinician");

    let clinicians: serde_json::Value = app.get_json("/v1/auth/users?role=clinician", &admin).await;
    let users = clinicians["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], email);

    let all: serde_json::Value = app
        .get_json("/v1/auth/users?limit=1&offset=1", &admin)
        .await;
    assert_eq!(all["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        all["users"][0]["email"], email,
        "oldest first: the admin, then this user"
    );
}

#[tokio::test]
async fn duplicate_emails_and_bad_fields_are_client_errors() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let create = |body: serde_json::Value| {
        app.http
            .post(app.url("/v1/auth/users"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let dup = create(
        json!({"email": ADMIN_EMAIL.to_uppercase(), "display_name": "X",
                            "role": "patient", "password": USER_PASSWORD}),
    )
    .await
    .unwrap();
    let body = assert_problem(dup, StatusCode::CONFLICT).await;
    assert!(body["detail"].as_str().unwrap().contains("already exists"));
    for (bad, word) in [
        (
            json!({"email": "not-an-email", "display_name": "X", "role": "patient", "password": USER_PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a@b.test", "display_name": "X", "role": "patient", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@b.test", "display_name": "", "role": "patient", "password": USER_PASSWORD}),
            "display name",
        ),
        (
            json!({"email": "a@b.test", "display_name": "X", "role": "superuser", "password": USER_PASSWORD}),
            "role",
        ),
        (
            json!({"email": "a@b.test", "display_name": "X", "role": "service", "password": USER_PASSWORD}),
            "service clients",
        ),
    ] {
        let body =
            assert_problem(create(bad).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body["detail"].as_str().unwrap().contains(word), "{body}");
    }
    // Nor can an existing user be turned into a service.
    let (_, user) = app.create_user(Role::Patient).await;
    let promote = app
        .http
        .patch(app.url(&format!("/v1/auth/users/{}", user["id"].as_str().unwrap())))
        .bearer_auth(&admin)
        .json(&json!({"role": "service"}))
        .send()
        .await
        .unwrap();
    assert_problem(promote, StatusCode::UNPROCESSABLE_ENTITY).await;
    let users: serde_json::Value = app.get_json("/v1/auth/users", &admin).await;
    let roles: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["admin", "patient"], "nothing else was stored");
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me: serde_json::Value = app.me(&admin).await.json().await.unwrap();
    let id = me["sub"].as_str().unwrap();
    for body in [json!({"role": "clinician"}), json!({"active": false})] {
        let r = app
            .call(
                Method::PATCH,
                &format!("/v1/auth/users/{id}"),
                &admin,
                Some(&body),
            )
            .await;
        assert_problem(r, StatusCode::CONFLICT).await;
    }
    // With a second admin, the first may step down.
    let (_, second) = app.create_user(Role::Admin).await;
    assert_eq!(second["role"], "admin");
    let r = app
        .call(
            Method::PATCH,
            &format!("/v1/auth/users/{id}"),
            &admin,
            Some(&json!({"role": "clinician"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_users_are_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::GET,
            &format!("/v1/auth/users/{}", uuid::Uuid::new_v4()),
            &admin,
            None,
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND).await;
}
