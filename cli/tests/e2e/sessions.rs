//! Revocation across services on the real platform (`episante up`, through its gateway): a
//! clinician's tokens die on records and alerts within seconds of logout or deactivation, and an
//! open alert stream closes. Prints the measured delays (docs/BENCHMARKS.md).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::platform::Platform;

const PASSWORD: &str = "a long enough clinician passphrase";

async fn login(http: &reqwest::Client, gateway: &str, email: &str, password: &str) -> Value {
    let response = http
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "login {email}");
    response.json().await.unwrap()
}

async fn status(http: &reqwest::Client, url: &str, token: &str) -> StatusCode {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls `urls` with `token` until each answers 401; returns the time until the last did.
async fn refused_everywhere(http: &reqwest::Client, urls: &[String], token: &str) -> Duration {
    let start = Instant::now();
    let mut pending: Vec<&String> = urls.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for url in pending {
            if status(http, url, token).await != StatusCode::UNAUTHORIZED {
                still.push(url);
            }
        }
        pending = still;
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still accepted after 5 s by {pending:?}"
        );
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    start.elapsed()
}

#[tokio::test]
async fn revoked_sessions_are_refused_by_records_and_alerts_within_seconds() {
    let config = tempfile::tempdir().unwrap();
    let platform = Platform::start(config.path());
    let gateway = platform.url("gateway").to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let admin = login(
        &http,
        &gateway,
        &platform.admin_email,
        &platform.admin_password,
    )
    .await;
    let admin = admin["access_token"].as_str().unwrap().to_string();
    let email = format!("dr-{}@episante.test", uuid::Uuid::new_v4().simple());
    let created = http
        .post(format!("{gateway}/api/v1/auth/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": email, "display_name": "Dr Gone", "role": "clinician", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let user: Value = created.json().await.unwrap();
    let urls = [
        format!("{gateway}/api/v1/patients"),
        format!("{gateway}/api/v1/alerts"),
        format!("{gateway}/api/v1/auth/me"),
    ];

    // Logout: that session's token dies everywhere, the other session's lives on.
    let a = login(&http, &gateway, &email, PASSWORD).await;
    let b = login(&http, &gateway, &email, PASSWORD).await;
    let (a_token, b_token) = (
        a["access_token"].as_str().unwrap(),
        b["access_token"].as_str().unwrap(),
    );
    for url in &urls {
        assert_eq!(status(&http, url, a_token).await, StatusCode::OK, "{url}");
    }
    let logout = http
        .post(format!("{gateway}/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": a["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let delay = refused_everywhere(&http, &urls, a_token).await;
    println!("logout → 401 on records, alerts and auth after {delay:?}");
    for url in &urls {
        assert_eq!(status(&http, url, b_token).await, StatusCode::OK, "{url}");
    }

    // Deactivation: every session, and the open alert stream closes.
    let mut stream = http
        .get(format!("{gateway}/api/v1/alerts/stream"))
        .bearer_auth(b_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let deactivated = http
        .post(format!(
            "{gateway}/api/v1/auth/users/{}/deactivate",
            user["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), StatusCode::OK);
    let start = Instant::now();
    let delay = refused_everywhere(&http, &urls, b_token).await;
    println!("deactivation → 401 on records, alerts and auth after {delay:?}");
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("the stream closes within 5 s of the deactivation")
            .expect("stream readable");
        match chunk {
            Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            None => break,
        }
    }
    println!(
        "deactivation → alert stream closed after {:?}",
        start.elapsed()
    );
    assert!(text.contains("event: end"), "{text}");
    // The admin's own session is untouched.
    assert_eq!(status(&http, &urls[0], &admin).await, StatusCode::OK);
}

#[tokio::test]
async fn revocation_delay_p99_over_many_sessions() {
    let config = tempfile::tempdir().unwrap();
    let platform = Platform::start(config.path());
    let gateway = platform.url("gateway").to_string();
    let http = reqwest::Client::new();
    let admin = login(
        &http,
        &gateway,
        &platform.admin_email,
        &platform.admin_password,
    )
    .await;
    let admin = admin["access_token"].as_str().unwrap().to_string();
    let alerts = format!("{gateway}/api/v1/alerts");
    let mut delays = Vec::new();
    for i in 0..20 {
        let email = format!("p99-{i}-{}@episante.test", uuid::Uuid::new_v4().simple());
        let created: Value = http
            .post(format!("{gateway}/api/v1/auth/users"))
            .bearer_auth(&admin)
            .json(&json!({"email": email, "display_name": "Dr P", "role": "clinician", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login(&http, &gateway, &email, PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(status(&http, &alerts, &token).await, StatusCode::OK);
        let start = Instant::now();
        let r = http
            .post(format!(
                "{gateway}/api/v1/auth/users/{}/deactivate",
                created["id"].as_str().unwrap()
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        refused_everywhere(&http, std::slice::from_ref(&alerts), &token).await;
        delays.push(start.elapsed());
    }
    delays.sort();
    println!(
        "deactivation request → 401 on alerts, 20 users: p50 {:?}, p99 {:?}, max {:?}",
        delays[delays.len() / 2],
        delays[(delays.len() * 99).div_ceil(100) - 1],
        delays[delays.len() - 1]
    );
}
