//! The stream task against a scripted server: the first connection loads the board, a dropped
//! connection is resumed with `Last-Event-ID` after a backoff (nothing lost, nothing reloaded),
//! and a refused session sends the app back to the login form.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use episante_client::{ApiClient, Session, SessionStore};
use episante_tui::app::{Connection, Message};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};
use uuid::Uuid;

/// One request the server saw: path and `Last-Event-ID`.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    path: String,
    last_event_id: Option<String>,
}

async fn read_head(socket: &mut TcpStream) -> Option<Seen> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let path = text.split_whitespace().nth(1)?.to_string();
    let last_event_id = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("last-event-id")
            .then(|| value.trim().to_string())
    });
    Some(Seen {
        path,
        last_event_id,
    })
}

fn alert(state: &str, updated: i64) -> serde_json::Value {
    let at = Utc::now();
    json!({
        "id": Uuid::from_u128(1), "patient_id": Uuid::from_u128(2), "device_id": "hub1",
        "rule_key": "heart_rate.high", "vital": "heart_rate", "severity": "high", "state": state,
        "message": "HR 140", "occurrences": 1, "triggered_at": at, "last_seen_at": at,
        "created_at": at, "updated_at": at + chrono::Duration::seconds(updated)
    })
}

fn sse(id: i64, kind: &str, state: &str) -> String {
    let event = json!({
        "id": id, "alert_id": Uuid::from_u128(1), "patient_id": Uuid::from_u128(2),
        "kind": kind, "actor": null, "note": null, "at": Utc::now(), "snapshot": alert(state, id)
    });
    format!("id: {id}\nevent: alert\ndata: {event}\n\n")
}

fn json_response(status: &str, body: &serde_json::Value) -> String {
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Serves the script: stream #1 sends events 1 and 2 then drops; stream #2 sends 3 and stays.
async fn scripted_server(listener: TcpListener, seen: mpsc::UnboundedSender<Seen>, refuse: bool) {
    let mut streams = 0;
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let Some(request) = read_head(&mut socket).await else {
            continue;
        };
        let _ = seen.send(request.clone());
        if refuse {
            let problem = json!({"status": 401, "detail": "expired"});
            let _ = socket
                .write_all(json_response("401 Unauthorized", &problem).as_bytes())
                .await;
            continue;
        }
        if request.path.starts_with("/api/v1/alerts/stream") {
            streams += 1;
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            if streams == 1 {
                let body = format!(
                    ": hello\n\n{}{}",
                    sse(1, "created", "active"),
                    sse(2, "updated", "active")
                );
                let _ = socket.write_all(body.as_bytes()).await;
                // Dropped mid-stream: the socket closes here.
            } else {
                let _ = socket
                    .write_all(sse(3, "acknowledged", "acknowledged").as_bytes())
                    .await;
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(socket);
                });
            }
        } else if request.path.starts_with("/api/v1/alerts?") {
            let page = json!({"alerts": [alert("active", 0)], "limit": 1000, "offset": 0});
            let _ = socket
                .write_all(json_response("200 OK", &page).as_bytes())
                .await;
        } else {
            let _ = socket
                .write_all(json_response("404 Not Found", &json!({"detail": "no"})).as_bytes())
                .await;
        }
    }
}

async fn client_for(server: &str, dir: &std::path::Path) -> Arc<Mutex<ApiClient>> {
    let store = SessionStore {
        path: dir.join("session.json"),
    };
    store
        .save(&Session {
            server: server.into(),
            email: "dr@x.test".into(),
            access_token: "token".into(),
            refresh_token: None,
            expires_at: Utc::now() + chrono::Duration::hours(1),
        })
        .expect("session saved");
    Arc::new(Mutex::new(ApiClient::new(server, store).expect("client")))
}

async fn next(rx: &mut mpsc::Receiver<Message>) -> Message {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message in time")
        .expect("the stream task is running")
}

#[tokio::test]
async fn a_dropped_stream_resumes_after_the_last_event_without_reloading() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = format!("http://{}", listener.local_addr().expect("address"));
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(scripted_server(listener, seen_tx, false));
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_for(&server, dir.path()).await;
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(episante_tui::stream::run(client, tx));

    assert!(matches!(
        next(&mut rx).await,
        Message::Connection(Connection::Connecting)
    ));
    let Message::Loaded(alerts) = next(&mut rx).await else {
        panic!("the board is loaded first")
    };
    assert_eq!(alerts.len(), 1);
    assert!(matches!(
        next(&mut rx).await,
        Message::Connection(Connection::Live)
    ));
    let mut ids = Vec::new();
    for _ in 0..2 {
        match next(&mut rx).await {
            Message::Event(e) => ids.push(e.id),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    match next(&mut rx).await {
        Message::Connection(Connection::Retrying { attempt, delay, .. }) => {
            assert_eq!((attempt, delay), (1, Duration::from_millis(500)));
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    assert!(matches!(
        next(&mut rx).await,
        Message::Connection(Connection::Connecting)
    ));
    assert!(
        matches!(next(&mut rx).await, Message::Connection(Connection::Live)),
        "no reload on resume"
    );
    match next(&mut rx).await {
        Message::Event(e) => ids.push(e.id),
        other => panic!("expected an event, got {other:?}"),
    }
    assert_eq!(ids, [1, 2, 3]);

    let requests: Vec<Seen> = std::iter::from_fn(|| seen.try_recv().ok()).collect();
    let streams: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/api/v1/alerts/stream")
        .map(|r| r.last_event_id.clone())
        .collect();
    assert_eq!(streams, [None, Some("2".into())]);
    let lists = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/alerts?"))
        .count();
    assert_eq!(lists, 1, "{requests:?}");
    assert_eq!(
        requests
            .iter()
            .find(|r| r.path.starts_with("/api/v1/alerts?"))
            .map(|r| r.path.as_str()),
        Some("/api/v1/alerts?state=open&limit=1000")
    );
    task.abort();
}

#[tokio::test]
async fn a_refused_session_asks_for_a_login_and_stops_retrying() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = format!("http://{}", listener.local_addr().expect("address"));
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    tokio::spawn(scripted_server(listener, seen_tx, true));
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_for(&server, dir.path()).await;
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(episante_tui::stream::run(client, tx));
    assert!(matches!(
        next(&mut rx).await,
        Message::Connection(Connection::Connecting)
    ));
    assert!(matches!(next(&mut rx).await, Message::AuthRequired));
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task ends")
        .expect("without panicking");
}
