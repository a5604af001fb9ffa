//! Talking to a running auth service from tests: over HTTP only, like any other client.

use serde_json::{json, Value};

/// Logs in at `auth_base` and returns the access token; panics with the answer on failure.
pub async fn login(auth_base: &str, email: &str, password: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{auth_base}/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("auth service reachable");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("login as {email} failed: {status} {body}"))
        .to_string()
}
