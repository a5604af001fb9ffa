//! Signing keys: rotation without logging anybody out, and keys kept in Vault KV.

use episante_auth::signing_keys::{StoredKey, StoredKeySet};
use episante_kit::{Role, Secret};
use episante_testkit::{TestDb, TestVault};
use reqwest::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let app = spawn_app().await;
    let verifier = app.remote_verifier();
    let old_token = app.admin_token().await;
    verifier.verify(&old_token).await.unwrap();
    let old_kid = app.state.keys.active_kid().unwrap();

    let rotated: serde_json::Value = app
        .call(
            Method::POST,
            "/v1/auth/signing-keys/rotate",
            &old_token,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let new_kid = rotated["kid"].as_str().unwrap();
    assert_ne!(new_kid, old_kid);

    let new_token = app.admin_token().await;
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid));
    // The remote verifier has never seen the new kid: it refetches and accepts.
    verifier.verify(&new_token).await.unwrap();
    // The old token is still good, everywhere.
    verifier.verify(&old_token).await.unwrap();
    assert_eq!(app.me(&old_token).await.status(), StatusCode::OK);

    let jwks: serde_json::Value = app.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![old_kid.as_str(), new_kid]);
}

#[tokio::test]
async fn signing_keys_are_loaded_from_vault_kv() {
    let vault = TestVault::start().await.expect("OpenBao");
    let key = StoredKey::generate().unwrap();
    let set = StoredKeySet {
        keys: vec![key.clone()],
    };
    vault
        .write(
            "secret/data/episante/auth/signing-keys",
            serde_json::json!({ "data": set }),
        )
        .await
        .unwrap();

    let app = spawn_app_with_vault(&vault).await;

    assert_eq!(
        app.state.keys.active_kid().as_deref(),
        Some(key.kid.as_str())
    );
    let token = app.admin_token().await;
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
        Some(key.kid.as_str())
    );
    assert!(
        std::fs::read_dir(app.data_dir.path())
            .unwrap()
            .next()
            .is_none(),
        "with Vault, no key file is written locally"
    );

    // A rotation is written back to Vault.
    let r = app
        .call(Method::POST, "/v1/auth/signing-keys/rotate", &token, None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored: serde_json::Value = vault
        .read("secret/data/episante/auth/signing-keys")
        .await
        .unwrap();
    assert_eq!(stored["data"]["data"]["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn without_a_key_in_vault_one_is_generated_and_stored_there() {
    let vault = TestVault::start().await.expect("OpenBao");
    let app = spawn_app_with_vault(&vault).await;
    let stored: serde_json::Value = vault
        .read("secret/data/episante/auth/signing-keys")
        .await
        .unwrap();
    assert_eq!(
        stored["data"]["data"]["keys"][0]["kid"].as_str(),
        app.state.keys.active_kid().as_deref()
    );
    let _ = app.token_for(Role::Clinician).await;
}

async fn spawn_app_with_vault(vault: &TestVault) -> TestApp {
    let db = TestDb::new();
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&db, data_dir.path());
    settings.vault.addr = Some(vault.addr.clone());
    settings.vault.token = Some(Secret::new(vault.token.clone()));
    start(db, data_dir, settings).await
}
