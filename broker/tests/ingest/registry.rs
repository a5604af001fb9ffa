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

/// Issue 15: a service token can do only what its scopes name, and never receives a device's
/// private key (which would let it impersonate the device).
#[tokio::test]
async fn service_tokens_need_the_scope_of_each_action_and_never_get_private_keys() {
    use episante_kit::Scope;
    let platform = start_platform().await;
    platform.register("scopehub1").await;
    let url = |path: &str| format!("{}{path}", platform.registry);
    let call = |token: String, method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = platform.http.request(method, url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;
    // Every scope but the one each action needs: 403 problem.
    let all_but =
        |needed: Scope| -> Vec<Scope> { Scope::ALL.into_iter().filter(|s| *s != needed).collect() };
    let actions: [(reqwest::Method, &str, Option<Value>, Scope); 5] = [
        (
            post.clone(),
            "/v1/devices",
            Some(json!({"device_id": "scopehub2"})),
            Scope::DevicesRegister,
        ),
        (get.clone(), "/v1/devices", None, Scope::DevicesRead),
        (
            get.clone(),
            "/v1/devices/scopehub1",
            None,
            Scope::DevicesRead,
        ),
        (
            post.clone(),
            "/v1/devices/scopehub1/rotate",
            None,
            Scope::DevicesManage,
        ),
        (
            post.clone(),
            "/v1/devices/scopehub1/revoke",
            None,
            Scope::DevicesManage,
        ),
    ];
    for (i, (method, path, body, needed)) in actions.iter().enumerate() {
        let without = platform
            .auth
            .service_token(&format!("svc-without-{i}"), &all_but(*needed))
            .await;
        let refused = call(without, method.clone(), path, body.clone())
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = refused.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(needed.as_str()),
            "{problem}"
        );
    }
    // Nothing was done by the refused calls.
    assert_eq!(platform.devices("").await.len(), 1);

    // With the scope: allowed, and registration/rotation answer without the private key.
    let registrar = platform
        .auth
        .service_token(
            "svc-registrar",
            &[Scope::DevicesRegister, Scope::DevicesManage],
        )
        .await;
    let created = call(
        registrar.clone(),
        post.clone(),
        "/v1/devices",
        Some(json!({"device_id": "scopehub2"})),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert!(created["certificate_pem"].is_string(), "{created}");
    assert!(created.get("private_key_pem").is_none(), "{created}");
    assert!(!created.to_string().contains("PRIVATE KEY"));
    let rotated = call(
        registrar.clone(),
        post.clone(),
        "/v1/devices/scopehub2/rotate",
        None,
    )
    .await
    .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    assert!(rotated["certificate_pem"].is_string(), "{rotated}");
    assert!(!rotated.to_string().contains("PRIVATE KEY"), "{rotated}");
    let revoked = call(
        registrar,
        post.clone(),
        "/v1/devices/scopehub2/revoke",
        None,
    )
    .await
    .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let reader = platform
        .auth
        .service_token("svc-reader", &[Scope::DevicesRead])
        .await;
    for path in ["/v1/devices", "/v1/devices/scopehub1"] {
        let ok = call(reader.clone(), get.clone(), path, None).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK, "{path}");
    }
    // Admins still get the key.
    let admin_rotated: Value = platform
        .device_action("scopehub1", "rotate")
        .await
        .json()
        .await
        .unwrap();
    assert!(admin_rotated["private_key_pem"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
}

#[tokio::test]
async fn a_nul_in_a_label_is_a_client_error() {
    let platform = start_platform().await;
    let r = platform
        .http
        .post(format!("{}/v1/devices", platform.registry))
        .bearer_auth(&platform.admin_token)
        .json(&serde_json::json!({"device_id": "hubnul", "label": "bed\u{0}1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
}

#[tokio::test]
async fn the_openapi_document_is_valid() {
    let platform = start_platform().await;
    let doc: serde_json::Value = platform
        .http
        .get(format!("{}/openapi.json", platform.registry))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    episante_testkit::openapi::assert_valid_openapi("devices", &doc);
}

#[tokio::test]
async fn devices_are_valid_fhir_devices_readable_and_searchable_by_admins() {
    let platform = start_platform().await;
    platform.register("hubfhir1").await;
    platform.register("hubfhir2").await;
    assert_eq!(
        platform.device_action("hubfhir2", "revoke").await.status(),
        200
    );
    let get = |path: String, token: Option<String>| {
        let request = platform.http.get(format!("{}{path}", platform.registry));
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            assert_eq!(
                r.headers()["content-type"],
                "application/fhir+json",
                "{path}"
            );
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let admin = Some(platform.admin_token.clone());

    let (status, device) = get("/v1/fhir/Device/hubfhir1".into(), admin.clone()).await;
    assert_eq!(status, StatusCode::OK, "{device}");
    assert_eq!(device["resourceType"], "Device");
    assert_eq!(device["status"], "active");
    assert_eq!(device["identifier"][0]["value"], "hubfhir1");
    episante_testkit::fhir::assert_valid_fhir("a Device", &device);

    let (_, all) = get("/v1/fhir/Device?_count=1".into(), admin.clone()).await;
    assert_eq!(all["total"], 2);
    assert_eq!(all["entry"].as_array().unwrap().len(), 1);
    episante_testkit::fhir::assert_valid_fhir("a Device searchset", &all);
    let (_, revoked) = get("/v1/fhir/Device?_id=hubfhir2".into(), admin.clone()).await;
    assert_eq!(revoked["total"], 1);
    assert_eq!(revoked["entry"][0]["resource"]["status"], "inactive");

    for (path, token, status) in [
        (
            "/v1/fhir/Device/nohub",
            admin.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/fhir/Device/bad_id!",
            admin.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/fhir/Device?label=x",
            admin.clone(),
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/fhir/Device", None, StatusCode::UNAUTHORIZED),
        ("/v1/fhir/Patient/1", admin.clone(), StatusCode::NOT_FOUND),
    ] {
        let (got, body) = get(path.into(), token).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}");
    }
}

#[tokio::test]
async fn fuzzing_the_published_api_finds_no_server_error_and_no_undocumented_answer() {
    let platform = start_platform().await;
    platform.register("hubfuzz").await;
    episante_testkit::fuzz::assert_fuzz_clean(
        "devices",
        &platform.registry,
        &platform.admin_token,
        None,
    )
    .await;
}
