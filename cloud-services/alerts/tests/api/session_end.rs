//! Streams and requests end with the authorisation behind them: a session revoked by auth (on
//! `auth.sessions.v1`) is refused within seconds, and its open SSE stream closes.

use std::time::{Duration, Instant};

use episante_kit::Role;
use episante_protocol::topics::KAFKA_SESSIONS;
use episante_protocol::SessionRevoked;
use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_revoked_user_is_refused_and_their_open_stream_closes() {
    let app = spawn_app().await;
    let clinician = app.user(Role::Clinician, "Dr Revoked").await;
    let colleague = app.user(Role::Clinician, "Dr Stays").await;
    let (status, _) = app.get("/v1/alerts", &clinician.token).await;
    assert_eq!(status, StatusCode::OK);
    let mut stream = app
        .http
        .get(format!("{}/v1/alerts/stream", app.base))
        .bearer_auth(&clinician.token)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);

    // What auth publishes when an admin deactivates the clinician.
    let event = SessionRevoked {
        user_id: clinician.id.to_string(),
        session_id: None,
        revoked_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let start = Instant::now();
    app.bus
        .publish(
            KAFKA_SESSIONS,
            &event.user_id,
            serde_json::to_vec(&event).unwrap(),
        )
        .await
        .unwrap();

    // The stream says why, then ends.
    let mut parser = episante_client::sse::SseParser::default();
    let mut ended_with = None;
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("stream closes within 5 s")
            .expect("stream readable");
        let Some(chunk) = chunk else { break };
        for e in parser.feed(&chunk) {
            if e.event.as_deref() == Some("end") {
                ended_with = Some(e.data.clone());
            }
        }
    }
    println!("revocation → stream closed after {:?}", start.elapsed());
    assert_eq!(ended_with.as_deref(), Some("token revoked"));
    assert!(start.elapsed() < Duration::from_secs(5));

    let (status, body) = app.get("/v1/alerts", &clinician.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "token has been revoked");
    let (status, _) = app.get("/v1/alerts", &colleague.token).await;
    assert_eq!(status, StatusCode::OK);
}
