//! Security notices on `auth.security.v1` (notify tells the person): a changed or reset password,
//! a sign-in from an address the account never used — written in the changing transaction, so a
//! refused change announces nothing.

use std::time::Duration;

use episante_kit::Role;
use episante_protocol::topics::KAFKA_SECURITY;
use episante_protocol::{SecurityNotice, SecurityNoticeKind};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Every notice on the bus within a moment, in order.
async fn notices(app: &TestApp) -> Vec<SecurityNotice> {
    app.bus.ensure_topics(&[KAFKA_SECURITY]).await.unwrap();
    let mut sub = app
        .bus
        .subscribe(&format!("test-{}", uuid::Uuid::new_v4()), &[KAFKA_SECURITY])
        .unwrap();
    let mut all = Vec::new();
    while let Ok(Ok(record)) = tokio::time::timeout(Duration::from_secs(2), sub.next()).await {
        all.push(serde_json::from_slice(&record.payload).unwrap());
    }
    all
}

#[tokio::test]
async fn a_new_address_and_a_changed_password_are_announced_and_nothing_else() {
    let app = spawn_app_with(|s| s.auth.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    let (email, user) = app.create_user(Role::Patient).await;
    let id: uuid::Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let body = json!({"email": email, "password": USER_PASSWORD});
    // First sign-in ever, then again from the same address: no news.
    for _ in 0..2 {
        let r = app.login_with(body.clone(), Some("198.51.100.7")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // A wrong password from a new address: nothing (only a successful sign-in is news).
    let wrong = app
        .login_with(
            json!({"email": email, "password": "not it at all"}),
            Some("203.0.113.9"),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(notices(&app).await.is_empty());

    // A new address.
    let session: serde_json::Value = app
        .login_with(body.clone(), Some("203.0.113.9"))
        .await
        .json()
        .await
        .unwrap();
    // A refused change says nothing; an accepted one does.
    let token = session["access_token"].as_str().unwrap();
    let refused = app
        .call(
            Method::POST,
            "/v1/auth/password",
            token,
            Some(
                &json!({"current_password": "wrong", "new_password": "an even better passphrase"}),
            ),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let changed = app
        .call(Method::POST, "/v1/auth/password", token,
            Some(&json!({"current_password": USER_PASSWORD, "new_password": "an even better passphrase"})))
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    let seen = notices(&app).await;
    let kinds: Vec<_> = seen
        .iter()
        .map(|n| (n.kind, n.user_id, n.address.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                SecurityNoticeKind::NewSignIn,
                id,
                Some("203.0.113.9".to_string())
            ),
            (
                SecurityNoticeKind::PasswordChanged,
                id,
                Some("127.0.0.1".to_string())
            ),
        ]
    );
    assert_ne!(seen[0].event_id, seen[1].event_id);
}
