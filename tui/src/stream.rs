//! The live alerts feed: `GET /v1/alerts/stream`, reconnected forever with backoff.
//!
//! No event may be lost. The first connection (or any without a resume point) opens the stream
//! *before* reading the open alerts, so whatever happens in between arrives on the stream; the
//! board keeps the newest snapshot of each alert, so overlap is harmless. Later connections send
//! `Last-Event-ID` and the server replays what was missed. A silent connection (no event and no
//! keep-alive for [`IDLE_TIMEOUT`]) is treated as dead.

use std::time::{Duration, Instant};

use episante_client::ClientError;
use reqwest::Method;
use tokio::sync::mpsc;

use crate::app::{Connection, Message};
use crate::model::{AlertEvent, AlertPage, PatientPage};
use crate::network::{get_as, CallError, SharedClient, CALL_TIMEOUT};
use episante_client::sse::SseParser;

/// The server sends a keep-alive every 15 s; three missed ones mean the connection is gone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(15);
/// A connection that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(30);

/// The wait before reconnect attempt `attempt` (1-based): doubling from 0.5 s up to 15 s.
pub fn backoff(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(10));
    FIRST_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

enum Failure {
    /// Log in again; retrying cannot help.
    Auth,
    /// Anything else: retry.
    Retry(String),
}

/// Runs until the app goes away or the session is gone.
pub async fn run(client: SharedClient, tx: mpsc::Sender<Message>) {
    let mut last_id: Option<i64> = None;
    let mut attempt = 0u32;
    loop {
        if tx
            .send(Message::Connection(Connection::Connecting))
            .await
            .is_err()
        {
            return;
        }
        let started = Instant::now();
        let failure = connect_once(&client, &tx, &mut last_id).await;
        let reason = match failure {
            Failure::Auth => {
                let _ = tx.send(Message::AuthRequired).await;
                return;
            }
            Failure::Retry(reason) => reason,
        };
        if tx.is_closed() {
            return;
        }
        attempt = if started.elapsed() > STABLE {
            1
        } else {
            attempt + 1
        };
        let delay = backoff(attempt);
        let retrying = Connection::Retrying {
            attempt,
            delay,
            reason,
        };
        if tx.send(Message::Connection(retrying)).await.is_err() {
            return;
        }
        tokio::time::sleep(delay).await;
    }
}

async fn connect_once(
    client: &SharedClient,
    tx: &mpsc::Sender<Message>,
    last_id: &mut Option<i64>,
) -> Failure {
    let headers: Vec<(&str, String)> = last_id
        .map(|id| vec![("Last-Event-ID", id.to_string())])
        .unwrap_or_default();
    let open = async {
        let mut client = client.lock().await;
        client
            .send(Method::GET, "/v1/alerts/stream", None, &headers)
            .await
    };
    let mut response = match tokio::time::timeout(CALL_TIMEOUT, open).await {
        Err(_) => return Failure::Retry("the stream did not answer".into()),
        Ok(Err(ClientError::AuthRequired)) => return Failure::Auth,
        Ok(Err(e)) => return Failure::Retry(e.to_string()),
        Ok(Ok(response)) => response,
    };
    if !response.status().is_success() {
        return match episante_client::read(response).await {
            Err(ClientError::AuthRequired) => Failure::Auth,
            Err(e) => Failure::Retry(e.to_string()),
            Ok(_) => Failure::Retry("the stream answered without events".into()),
        };
    }
    if last_id.is_none() {
        match get_as::<AlertPage>(client, "/v1/alerts?state=open&limit=1000").await {
            Ok(page) => {
                if tx.send(Message::Loaded(page.alerts)).await.is_err() {
                    return Failure::Retry("closed".into());
                }
            }
            Err(CallError::Auth) => return Failure::Auth,
            Err(e) => return Failure::Retry(format!("loading alerts: {}", e.detail())),
        }
        // The names of the caller's patients, so the board shows who, not an id. Best effort:
        // without them (records down, too many patients) rows show the id's first block.
        if let Ok(page) = get_as::<PatientPage>(client, "/v1/patients?limit=500").await {
            let names = page
                .patients
                .iter()
                .map(|p| (p.id, p.display_name()))
                .collect();
            if tx.send(Message::Names(names)).await.is_err() {
                return Failure::Retry("closed".into());
            }
        }
    }
    if tx
        .send(Message::Connection(Connection::Live))
        .await
        .is_err()
    {
        return Failure::Retry("closed".into());
    }
    let mut parser = SseParser::default();
    loop {
        let chunk = match tokio::time::timeout(IDLE_TIMEOUT, response.chunk()).await {
            Err(_) => return Failure::Retry("no keep-alive from the server".into()),
            Ok(Err(e)) => return Failure::Retry(format!("stream broken: {e}")),
            Ok(Ok(None)) => return Failure::Retry("the server closed the stream".into()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        for event in parser.feed(&chunk) {
            if let Some(id) = event.id.as_deref().and_then(|s| s.trim().parse().ok()) {
                *last_id = Some(id);
            }
            if event.event.as_deref().is_some_and(|e| e != "alert") {
                continue;
            }
            // An event this version cannot read is skipped, not fatal: the next one may be fine.
            let Ok(alert_event) = serde_json::from_str::<AlertEvent>(&event.data) else {
                continue;
            };
            if tx
                .send(Message::Event(Box::new(alert_event)))
                .await
                .is_err()
            {
                return Failure::Retry("closed".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(6), Duration::from_secs(15));
        assert_eq!(backoff(1000), Duration::from_secs(15));
    }
}
