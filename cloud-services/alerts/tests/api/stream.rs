//! The live SSE stream: only the clinician's patients, and resuming with `Last-Event-ID` after a
//! disconnect loses no event.

use std::time::Duration;

use episante_kit::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{batches, now_s, spawn_app, TestApp, TACHY};

/// Reads SSE events until `n` have arrived (or 20 s pass).
async fn read_events(response: &mut reqwest::Response, n: usize) -> Vec<(i64, Value)> {
    let mut parser = episante_client::sse::SseParser::default();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while events.len() < n {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events in time")
            .expect("stream open")
            .expect("stream not ended");
        for event in parser.feed(&chunk) {
            let id = event.id.as_deref().and_then(|id| id.parse().ok());
            if let (Some(id), Ok(data)) = (id, serde_json::from_str(&event.data)) {
                events.push((id, data));
            }
        }
    }
    events
}

async fn connect(app: &TestApp, token: &str, last: Option<i64>) -> reqwest::Response {
    let mut request = app
        .http
        .get(format!("{}/v1/alerts/stream", app.base))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60));
    if let Some(id) = last {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    response
}

#[tokio::test]
async fn resuming_after_a_disconnect_loses_no_event_and_shows_only_my_patients() {
    let app = spawn_app().await;
    let clinician = app.user(Role::Clinician, "Dr Live").await;
    let p = app.monitored_patient("hubs", &[clinician.id]).await;
    let q = app.monitored_patient("hubt", &[]).await;
    let mut stream = connect(&app, &clinician.token, None).await;

    let t0 = now_s() - 900;
    app.publish(&batches("hubs", 0, t0, 10, 12, TACHY)).await;
    app.publish(&batches("hubt", 0, t0, 10, 12, TACHY)).await;
    let first = read_events(&mut stream, 1).await;
    assert_eq!(first[0].1["kind"], "created");
    assert_eq!(first[0].1["patient_id"], json!(p));
    let alert = first[0].1["alert_id"].as_str().unwrap().to_string();
    drop(stream);

    // While disconnected: acknowledged, assigned, resolved.
    for (path, body) in [
        ("acknowledge", None),
        ("assign", Some(json!({}))),
        ("resolve", Some(json!({"note": "fine"}))),
    ] {
        let (status, answer) = app
            .call(
                Method::POST,
                &format!("/v1/alerts/{alert}/{path}"),
                &clinician.token,
                body,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let mut resumed = connect(&app, &clinician.token, Some(first[0].0)).await;
    let missed = read_events(&mut resumed, 3).await;
    let kinds: Vec<_> = missed
        .iter()
        .map(|(_, e)| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["acknowledged", "assigned", "resolved"]);
    assert!(
        missed.iter().all(|(_, e)| e["patient_id"] == json!(p)),
        "only my patient's events"
    );
    assert!(missed.windows(2).all(|w| w[0].0 < w[1].0));

    // Live again on the same connection.
    app.publish(&batches(
        "hubs",
        12,
        t0 + 120,
        10,
        12,
        &[(episante_protocol::VitalKind::Spo2, 86.0)],
    ))
    .await;
    let live = read_events(&mut resumed, 1).await;
    assert_eq!(live[0].1["snapshot"]["rule_key"], "spo2.low");
    let _ = q;

    // Bad resume id, wrong role.
    let response = app
        .http
        .get(format!("{}/v1/alerts/stream", app.base))
        .bearer_auth(&clinician.token)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let patient = app.user(Role::Patient, "Pat").await;
    let response = app
        .http
        .get(format!("{}/v1/alerts/stream", app.base))
        .bearer_auth(&patient.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
