//! PII at rest: envelope encryption through real OpenBao transit, key rotation and rewrap, and a
//! raw `pg_dump` holding no identity in clear.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, start, Options, TestApp};

const SECRETS: &[&str] = &[
    "Lovelace",
    "lovelace",
    "LOVELACE",
    "Augusta",
    "+442079460958",
    "7946",
    "example.org",
    "1851275108042",
    "St James",
];

fn pg_dump(app: &TestApp) -> String {
    let url = app.db.admin_url();
    let output = std::process::Command::new("pg_dump")
        .arg(&url)
        .output()
        .expect("pg_dump runs (postgresql-client)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn assert_dump_has_no_pii(app: &TestApp) {
    let dump = pg_dump(app);
    assert!(dump.contains("COPY public.patients"), "dump has the table");
    for secret in SECRETS {
        assert!(!dump.contains(secret), "pg_dump contains {secret:?}");
    }
}

async fn wrapped_keys(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT wrapped_key FROM patients ORDER BY created_at")
        .fetch_all(&app.state.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn with_vault_transit_pii_round_trips_and_never_hits_the_disk_in_clear() {
    let app = spawn_app_with(Options {
        vault: true,
        ..Default::default()
    })
    .await;
    let created = app.create_patient("Lovelace", "1 85 12 75 108 042").await;
    let id = created["id"].as_str().unwrap();
    let (status, read) = app.get(&format!("/v1/patients/{id}"), app.admin()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["identity"]["family_name"], "Lovelace");
    app.call(
        Method::POST,
        &format!("/v1/patients/{id}/history"),
        app.admin(),
        Some(serde_json::json!({"kind": "note", "text": "Lovelace reports palpitations"})),
    )
    .await;
    let keys = wrapped_keys(&app).await;
    assert!(keys[0].starts_with("vault:v1:"), "{keys:?}");
    assert_dump_has_no_pii(&app).await;
    // The transit key exists in Vault, and the blind-index key in KV.
    let vault = app.vault.as_ref().unwrap();
    vault.read("transit/keys/records-pii").await.unwrap();
    vault
        .read("secret/data/episante/records/blind-index-key")
        .await
        .unwrap();
}

#[tokio::test]
async fn without_vault_the_local_key_still_keeps_the_dump_clean() {
    let app = spawn_app().await;
    app.create_patient("Lovelace", "1 85 12 75 108 042").await;
    assert!(wrapped_keys(&app).await[0].starts_with("local:v1:"));
    assert_dump_has_no_pii(&app).await;
    // Rotation needs Vault: a clear 409, not a silent no-op.
    let (status, body) = app
        .call(Method::POST, "/v1/records/keys/rotate", app.admin(), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn rotation_then_rewrap_keeps_every_record_readable() {
    let app = spawn_app_with(Options {
        vault: true,
        ..Default::default()
    })
    .await;
    let mut ids = Vec::new();
    for (i, name) in ["Aaa", "Bbb", "Ccc"].iter().enumerate() {
        let p = app.create_patient(name, &format!("7000000{i}")).await;
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    let (status, rotated) = app
        .call(Method::POST, "/v1/records/keys/rotate", app.admin(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["latest_version"], 2);
    let p = app.create_patient("Ddd", "70000009").await;
    ids.push(p["id"].as_str().unwrap().to_string());
    let keys = wrapped_keys(&app).await;
    assert!(
        keys[0].starts_with("vault:v1:") && keys[3].starts_with("vault:v2:"),
        "{keys:?}"
    );

    let (status, report) = app
        .call(Method::POST, "/v1/records/keys/rewrap", app.admin(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows_updated"], 3, "{report}");
    assert!(wrapped_keys(&app)
        .await
        .iter()
        .all(|k| k.starts_with("vault:v2:")));
    // A second rewrap has nothing to do.
    let (_, report) = app
        .call(Method::POST, "/v1/records/keys/rewrap", app.admin(), None)
        .await;
    assert_eq!(report["rows_updated"], 0);

    // A fresh instance (no cached keys) reads every record, old and new, through Vault.
    let (base, _state, shutdown) = start(&app.settings, &app.bus).await;
    for id in &ids {
        let response = app
            .http
            .get(format!("{base}/v1/patients/{id}"))
            .bearer_auth(app.admin())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert!(body["identity"]["family_name"].is_string());
    }
    shutdown.trigger();
}
