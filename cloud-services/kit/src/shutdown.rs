//! Cooperative shutdown.
//!
//! One `Shutdown` is created per process (or per test app) and cloned into every task. Triggering
//! it lets the HTTP server stop accepting, finish in-flight requests and return; background loops
//! select on [`Shutdown::wait`]. Tests trigger it directly instead of sending signals, which is
//! what lets many apps live in one test process.

use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
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
