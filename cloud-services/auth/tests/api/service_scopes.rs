//! Least privilege for services (issue 15): scopes granted to a client at registration, checked
//! against the known list, carried in its tokens' `scope` claim, changed only by an admin.

use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn service_tokens_carry_exactly_the_scopes_granted_to_their_client() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let verifier = app.remote_verifier();

    let created = app
        .call(
            Method::POST,
            "/v1/auth/service-clients",
            &admin,
            Some(&json!({"client_id": "records", "scopes": ["vitals:read", "devices:read", "vitals:read"]})),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["scopes"], json!(["devices:read", "vitals:read"]));
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let claims = verifier
        .verify(&client_token(&app, "records", &secret).await)
        .await
        .unwrap();
    assert_eq!(claims.role, Role::Service);
    assert_eq!(claims.scope.as_deref(), Some("devices:read vitals:read"));
    assert_eq!(claims.sid, None);

    // No scopes asked: none granted, and the token has no scope claim at all.
    let bare: Value = app
        .call(
            Method::POST,
            "/v1/auth/service-clients",
            &admin,
            Some(&json!({"client_id": "bare"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bare["scopes"], json!([]));
    let claims = verifier
        .verify(&client_token(&app, "bare", bare["client_secret"].as_str().unwrap()).await)
        .await
        .unwrap();
    assert_eq!(claims.scope, None);

    // The admin changes a client's scopes; new tokens follow.
    let changed = app
        .call(
            Method::PUT,
            "/v1/auth/service-clients/records/scopes",
            &admin,
            Some(&json!({"scopes": ["devices:read"]})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let claims = verifier
        .verify(&client_token(&app, "records", &secret).await)
        .await
        .unwrap();
    assert_eq!(claims.scope.as_deref(), Some("devices:read"));
    let listed: Value = app
        .call(Method::GET, "/v1/auth/service-clients", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    let records = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == "records")
        .unwrap();
    assert_eq!(records["scopes"], json!(["devices:read"]));
}

#[tokio::test]
async fn unknown_scopes_and_non_admins_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for bad in [
        json!({"client_id": "x-svc", "scopes": ["devices:*"]}),
        json!({"client_id": "x-svc", "scopes": ["admin"]}),
        json!({"client_id": "x-svc", "scopes": ["devices:read vitals:read"]}),
        json!({"client_id": "x-svc", "scopes": [""]}),
        json!({"client_id": "x-svc", "scopes": "devices:read"}),
        json!({"client_id": "x-svc", "scopes": [7]}),
        json!({"client_id": "x-svc", "scope": ["devices:read"]}),
    ] {
        let r = app
            .call(Method::POST, "/v1/auth/service-clients", &admin, Some(&bad))
            .await;
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    // Nothing was created by the refused requests.
    let listed: Value = app
        .call(Method::GET, "/v1/auth/service-clients", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));

    let r = app
        .call(
            Method::PUT,
            "/v1/auth/service-clients/nobody/scopes",
            &admin,
            Some(&json!({"scopes": []})),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND).await;

    // A service token cannot grant itself more.
    let created: Value = app
        .call(
            Method::POST,
            "/v1/auth/service-clients",
            &admin,
            Some(&json!({"client_id": "greedy", "scopes": ["devices:read"]})),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = client_token(&app, "greedy", created["client_secret"].as_str().unwrap()).await;
    let r = app
        .call(
            Method::PUT,
            "/v1/auth/service-clients/greedy/scopes",
            &token,
            Some(&json!({"scopes": ["devices:manage"]})),
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
}
