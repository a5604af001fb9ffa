//! Cooperative shutdown that waits for what it started.
//!
//! One `Shutdown` is created per process (or per test app) and cloned into every task. Triggering
//! it lets the HTTP server stop accepting, finish in-flight requests and return; background loops
//! select on [`Shutdown::wait`]. Background work is started with [`Shutdown::spawn`], which
//! tracks it, and [`Shutdown::drain`] (called by `server::serve` once the HTTP server has
//! returned) waits until every tracked task has finished: the outbox relay's last round, the
//! audit writer's flush, the consumers' commits — as mini-redis's server waits for its
//! connection handlers. Tests trigger it directly instead of sending signals, which is what lets
//! many apps live in one test process.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding a clone of this to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once shutdown has been triggered.
    pub async fn wait(&self) {
        self.token.cancelled().await
    }

    /// An owned future, for APIs such as `with_graceful_shutdown` that want `'static`.
    pub fn wait_owned(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// Spawns background work that [`Shutdown::drain`] waits for. The task must end on its own
    /// once shutdown triggers (select on [`Shutdown::wait`], or end when its input closes).
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Triggers shutdown and waits until every task started with [`Shutdown::spawn`] has ended,
    /// for at most `grace`. Returns whether they all did (the stragglers are logged).
    pub async fn drain(&self, grace: Duration) -> bool {
        self.trigger();
        self.tasks.close();
        let done = tokio::time::timeout(grace, self.tasks.wait()).await.is_ok();
        if !done {
            tracing::warn!(
                tasks = self.tasks.len(),
                "background tasks still running after the shutdown grace period"
            );
        }
        done
    }

    /// Triggers this shutdown on SIGTERM or Ctrl-C (SIGINT).
    pub fn trigger_on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("install SIGTERM handler");
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                    _ = this.wait() => return,
                }
            }
            #[cfg(not(unix))]
            tokio::select! {
                _ = ctrl_c => {},
                _ = this.wait() => return,
            }
            tracing::info!("shutdown signal received, finishing in-flight work");
            this.trigger();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_gives_up_on_a_task_that_never_ends() {
        let shutdown = Shutdown::new();
        shutdown.spawn(std::future::pending::<()>());
        assert!(!shutdown.drain(Duration::from_millis(100)).await);
    }
}
