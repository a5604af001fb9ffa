//! The portal's bell, live: every change to someone's portal messages (a new one, one read) is
//! a `NOTIFY notify_inbox, '<user id>'` in the changing transaction. One task per instance
//! LISTENs and broadcasts the user ids to that instance's SSE streams, which re-read the unread
//! count of their own user only — so a person connected to any instance hears of messages
//! written by every instance, and nothing but a user id crosses the broadcast.

use std::time::Duration;

use episante_kit::Shutdown;
use sqlx::postgres::PgListener;
use sqlx::{PgExecutor, PgPool};
use tokio::sync::broadcast;
use uuid::Uuid;

pub const CHANNEL: &str = "notify_inbox";

#[derive(Clone)]
pub struct InboxFeed {
    tx: broadcast::Sender<Uuid>,
}

impl InboxFeed {
    pub async fn start(pool: PgPool, shutdown: Shutdown) -> anyhow::Result<InboxFeed> {
        let (tx, _) = broadcast::channel(4096);
        let feed = InboxFeed { tx: tx.clone() };
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        shutdown.clone().spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = shutdown.wait() => return,
                    n = listener.recv() => n,
                };
                match received {
                    Ok(n) => {
                        if let Ok(user) = n.payload().parse::<Uuid>() {
                            let _ = tx.send(user);
                        }
                    }
                    Err(error) => {
                        // PgListener reconnects by itself on the next recv; streams also re-read
                        // their count periodically, so a missed notification only delays one.
                        tracing::warn!(%error, "inbox listener interrupted");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok(feed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.tx.subscribe()
    }
}

/// Tells the live streams that `user`'s portal messages changed (delivered on commit).
pub async fn changed(db: impl PgExecutor<'_>, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(user.to_string())
        .execute(db)
        .await
        .map(|_| ())
}
