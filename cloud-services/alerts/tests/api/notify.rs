//! Escalation of unacknowledged critical alerts, and signed webhooks with retries.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use episante_kit::{Role, Secret};
use ring::hmac;
use std::sync::{Arc, Mutex};

use crate::helpers::{batches, eventually, now_s, spawn_app_with, Options, CRITICAL};

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver that fails the first `failures` requests with 500.
async fn receiver(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                log.push((headers, body));
                if log.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn critical_alerts_escalate_and_webhooks_retry_until_delivered() {
    let (url, received) = receiver(2).await;
    // `Options::tweak` is a plain fn (no captures): hand it the receiver's URL through a static.
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.set(url).unwrap();
    let app = spawn_app_with(Options {
        tweak: |c| {
            c.escalate_after_secs = 1;
            c.escalate_to_on_call_after_secs = 2;
            c.escalation_check_secs = 1;
            c.webhook_urls = vec![URL.get().unwrap().clone()];
            c.webhook_secret = Some(Secret::new("whsec-test"));
        },
        ..Default::default()
    })
    .await;
    let clinician = app.user(Role::Clinician, "Dr Pager").await;
    let p = app.monitored_patient("hubc", &[clinician.id]).await;
    app.publish(&batches("hubc", 0, now_s() - 300, 10, 12, CRITICAL))
        .await;
    let alert = app.wait_for_alert(p, "heart_rate.high").await;
    assert_eq!(alert["severity"], "critical");
    let id = alert["id"].as_str().unwrap().to_string();

    // Nobody acknowledges: escalated to the care team (level 1), then to the on-call staff (2),
    // and no further.
    let escalated = eventually(20, "escalation", || async {
        let (_, a) = app.get(&format!("/v1/alerts/{id}"), &clinician.token).await;
        (a["escalation_level"] == 2).then_some(a)
    })
    .await;
    assert!(escalated["escalated_at"].is_string());
    let notes: Vec<_> = escalated["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .map(|e| e["note"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].ends_with("level 1") && notes[1].ends_with("level 2"),
        "{notes:?}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (_, later) = app.get(&format!("/v1/alerts/{id}"), &clinician.token).await;
    assert_eq!(later["escalation_level"], 2, "level 2 is the last");

    // Webhooks: each critical creation (three vitals) and the escalations, each retried past two
    // failures of the receiver's first requests; all eventually delivered exactly once each.
    let pool = app.pool().await;
    let (delivered, attempts) = eventually(30, "webhook deliveries", || {
        let pool = pool.clone();
        async move {
            let (pending, delivered, attempts): (i64, i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE delivered_at IS NULL), count(*) FILTER (WHERE delivered_at IS NOT NULL), \
                 COALESCE(sum(attempts), 0)::bigint FROM webhook_deliveries",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (pending == 0 && delivered >= 2).then_some((delivered, attempts))
        }
    })
    .await;
    assert_eq!(attempts, delivered + 2, "two failed attempts retried");
    let log = received.lock().unwrap();
    assert_eq!(log.len() as i64, attempts);
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"whsec-test");
    for (headers, body) in log.iter() {
        let sig = headers["x-episante-signature"].to_str().unwrap();
        let (t, v1) = sig.split_once(",v1=").unwrap();
        let t = t.strip_prefix("t=").unwrap();
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        hmac::verify(&key, &signed, &hex::decode(v1).unwrap()).expect("valid signature");
        let event: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert!(["created", "escalated"].contains(&event["kind"].as_str().unwrap()));
        assert_eq!(event["snapshot"]["severity"], "critical");
    }
}
