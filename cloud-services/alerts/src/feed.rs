//! The live feed of alert events behind the SSE endpoint.
//!
//! Every change to an alert is a row in `alert_events`, written in the changing transaction with a
//! `NOTIFY alert_events`. One task per instance LISTENs, reads the new rows and broadcasts them to
//! the SSE handlers of that instance — so a clinician connected to any instance sees events made
//! by every instance, and a reconnecting client replays what it missed from the table, by id
//! (`Last-Event-ID`).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;

use crate::db::alerts::AlertEvent;
use episante_kit::Shutdown;

#[derive(Clone)]
pub struct AlertFeed {
    tx: broadcast::Sender<Arc<AlertEvent>>,
}

impl AlertFeed {
    pub async fn start(pool: PgPool, shutdown: Shutdown) -> anyhow::Result<AlertFeed> {
        let (tx, _) = broadcast::channel(4096);
        let feed = AlertFeed { tx: tx.clone() };
        let mut last = crate::db::alerts::last_event_id(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen("alert_events").await?;
        shutdown.clone().spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    // A missed notification (connection blip) is caught by the periodic read.
                    _ = listener.recv() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                loop {
                    match crate::db::alerts::events_after(&pool, last, None, 500).await {
                        Ok(events) => {
                            let full = events.len() == 500;
                            for e in events {
                                last = e.id;
                                let _ = tx.send(Arc::new(e));
                            }
                            if !full {
                                break;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "reading alert events failed");
                            break;
                        }
                    }
                }
            }
        });
        Ok(feed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AlertEvent>> {
        self.tx.subscribe()
    }
}
