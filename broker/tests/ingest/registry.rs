//! The device registry API.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn register_list_rotate_revoke_and_refuse_bad_input() {
    let platform = start_platform().await;
    let url = |path: &str| format!("{}{path}", platform.registry);
    let creds = platform.register("hub7").await;
    assert_eq!(creds.0["topic_prefix"], "/tenants/hub7/");
    assert!(creds
        .pem("certificate_pem")
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(creds.pem("private_key_pem").contains("PRIVATE KEY"));
    assert_eq!(creds.0["mqtt_port"], platform.mqtt_port);

    let admin = &platform.admin_token;
    let post = |path: String, body: Value| {
        platform
            .http
            .post(url(&path))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    let problem = |r: reqwest::Response, status: StatusCode| async move {
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        r.json::<Value>().await.unwrap()
    };
    problem(
        post("/v1/devices".into(), json!({"device_id": "hub7"}))
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    for bad in ["hub-7", "", "a/b", "+"] {
        problem(
            post("/v1/devices".into(), json!({"device_id": bad}))
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    problem(
        post("/v1/devices".into(), json!({"id": "x"}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let list: Value = platform
        .http
        .get(url("/v1/devices"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["device_id"], "hub7");
    assert!(list[0].get("secret").is_none(), "secrets are never listed");

    // Rotation: the old secret stops working, the new one works.
    let rotated: Value = post("/v1/devices/hub7/rotate".into(), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = DeviceCreds(rotated);
    assert_ne!(rotated.secret(), creds.secret());
    assert!(
        platform.connect(&creds).await.is_err(),
        "old secret refused"
    );
    platform
        .connect(&rotated)
        .await
        .expect("new secret accepted");

    let revoked: Value = post("/v1/devices/hub7/revoke".into(), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], true);
    problem(
        post("/v1/devices/hub7/rotate".into(), json!({}))
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        post("/v1/devices/nothere/revoke".into(), json!({}))
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn only_admins_and_services_may_use_the_registry() {
    let platform = start_platform().await;
    let r = platform
        .http
        .get(format!("{}/v1/devices", platform.registry))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A clinician token (issued by the real auth service) is refused.
    let auth_base = platform.auth_base.clone();
    let clinician = create_and_login(&platform, &auth_base, "clinician").await;
    let r = platform
        .http
        .post(format!("{}/v1/devices", platform.registry))
        .bearer_auth(&clinician)
        .json(&json!({"device_id": "hub9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn create_and_login(platform: &Platform, auth_base: &str, role: &str) -> String {
    let email = format!("{role}@episante.test");
    let password = "a perfectly fine passphrase";
    let r = platform
        .http
        .post(format!("{auth_base}/v1/auth/users"))
        .bearer_auth(&platform.admin_token)
        .json(&json!({"email": email, "display_name": role, "role": role, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    episante_testkit::auth_client::login(auth_base, &email, password).await
}
