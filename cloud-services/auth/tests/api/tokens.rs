//! Access tokens as other services see them: verified through the JWKS by the shared crate, and
//! every classic forgery refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use episante_auth::signing_keys::{KeyRing, KeyStore};
use episante_kit::authz::TokenError;
use episante_kit::{Claims, Role};
use reqwest::StatusCode;

use crate::helpers::*;

fn claims(app: &TestApp) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: app.settings.tokens.issuer.clone(),
        aud: app.settings.tokens.audience.clone(),
        sub: uuid::Uuid::new_v4().to_string(),
        role: Role::Admin,
        iat: now,
        nbf: now,
        exp: now + 300,
        jti: uuid::Uuid::new_v4().to_string(),
        sid: None,
        scope: None,
    }
}

#[tokio::test]
async fn another_service_verifies_tokens_through_jwks() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let verifier = app.remote_verifier();
    let claims = verifier.verify(&token).await.expect("valid token");
    assert_eq!(claims.role, Role::Admin);
    assert_eq!(claims.iss, "episante-auth");
    assert_eq!(claims.aud, "episante");
    assert!(claims.exp > claims.iat);

    let jwks: serde_json::Value = app.jwks().await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "no private material in the JWKS");
}

/// Every forgery must be refused by the shared verifier *and* by a protected endpoint.
async fn refused(app: &TestApp, token: &str, expected: TokenError) {
    let verifier = app.remote_verifier();
    assert_eq!(verifier.verify(token).await.unwrap_err(), expected);
    assert_problem(app.me(token).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn expired_and_premature_tokens_are_refused() {
    let app = spawn_app().await;
    let mut expired = claims(&app);
    expired.exp = chrono::Utc::now().timestamp() - 120;
    refused(
        &app,
        &app.state.keys.sign(&expired).unwrap(),
        TokenError::Expired,
    )
    .await;

    let mut premature = claims(&app);
    premature.nbf = chrono::Utc::now().timestamp() + 120;
    refused(
        &app,
        &app.state.keys.sign(&premature).unwrap(),
        TokenError::NotYetValid,
    )
    .await;
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_refused() {
    let app = spawn_app().await;
    let mut other_audience = claims(&app);
    other_audience.aud = "some-other-api".into();
    refused(
        &app,
        &app.state.keys.sign(&other_audience).unwrap(),
        TokenError::Audience,
    )
    .await;

    let mut other_issuer = claims(&app);
    other_issuer.iss = "evil-auth".into();
    refused(
        &app,
        &app.state.keys.sign(&other_issuer).unwrap(),
        TokenError::Issuer,
    )
    .await;
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let app = spawn_app().await;
    let patient = app.token_for(Role::Patient).await;
    let parts: Vec<&str> = patient.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = "admin".into();
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    refused(&app, &tampered, TokenError::BadSignature).await;
    refused(&app, "not-a-jwt", TokenError::Malformed).await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = spawn_app().await;
    let kid = app.state.keys.active_kid().unwrap();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&app)).unwrap());
    let token = format!("{header}.{payload}.");
    let verifier = app.remote_verifier();
    assert!(verifier.verify(&token).await.is_err());
    assert_problem(app.me(&token).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    // The classic RS/HS confusion: sign HS256 with the public key as the HMAC secret.
    let app = spawn_app().await;
    let jwks = app.state.keys.jwks();
    let public = URL_SAFE_NO_PAD.decode(&jwks.keys[0].x).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(jwks.keys[0].kid.clone());
    let token = jsonwebtoken::encode(
        &header,
        &claims(&app),
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    refused(&app, &token, TokenError::Algorithm("HS256".into())).await;
}

#[tokio::test]
async fn tokens_from_unknown_keys_are_refused() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let rogue = KeyRing::open(KeyStore::File(dir.path().join("k.json")), 900)
        .await
        .unwrap();
    refused(
        &app,
        &rogue.sign(&claims(&app)).unwrap(),
        TokenError::UnknownKid,
    )
    .await;
}

#[tokio::test]
async fn bearer_header_must_be_well_formed() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for header in [token.clone(), format!("Basic {token}"), "Bearer".into()] {
        let r = app
            .http
            .get(app.url("/v1/auth/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(r, StatusCode::UNAUTHORIZED).await;
    }
    let r = app
        .http
        .get(app.url("/v1/auth/me"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "scheme is case-insensitive");
}
