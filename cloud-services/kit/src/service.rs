//! One way to declare and run a service, so that each service's `main.rs` is one line and its
//! `lib.rs` a short list of what the service is.
//!
//! A service says what it reads ([`ServiceSettings`]: a struct of config sections), how it is
//! built from that, an event bus and a [`Shutdown`] ([`Service::build`]: provisioning, background
//! tasks, routes), and what it serves ([`Service::into_router`]). [`main`] does the rest the same
//! way for every service binary: flags, layered config, logging, listening, connecting the bus,
//! signals, and a shutdown that waits for in-flight requests and every tracked task
//! ([`crate::server::serve`]). `episante up` builds the same services and calls [`serve`].

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use clap::{Args, Command, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::ConfigError;
use crate::events::{EventBus, EventBusConfig};
use crate::service_args::ServiceArgs;
use crate::telemetry::{self, LogConfig};
use crate::{ConfigSource, Shutdown};

/// What a service reads: one struct whose fields are config sections (`[bookings]`,
/// `[database]`, `[tokens]`, `[log]`, …), every one optional.
pub trait ServiceSettings: DeserializeOwned + Serialize + Default + Send + 'static {
    /// The service's HTTP listen address.
    fn bind(&self) -> &str;
    fn log(&self) -> &LogConfig;

    /// The layered configuration: defaults, then the file, then the environment.
    fn from_source(source: &ConfigSource) -> Result<Self, ConfigError> {
        source.settings()
    }
}

/// A service, built and ready to serve.
pub trait Service: Sized + Send + 'static {
    /// Shown by `--help`.
    const ABOUT: &'static str;
    type Settings: ServiceSettings;

    /// Provisions the database, starts the background tasks (tracked by `shutdown`), builds the
    /// routes. `bus` is passed in because `episante up` shares one bus among all services.
    /// (Awaited in place, never spawned: it need not be `Send`, which sqlx's borrowed
    /// connections cannot always prove.)
    fn build(
        settings: Self::Settings,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
    ) -> impl Future<Output = anyhow::Result<Self>>;

    /// The routes to serve; the service's handles are dropped with it, so that writers that
    /// stop when their last handle goes (records' audit writer) can finish.
    fn into_router(self) -> Router;

    /// Told once on stderr before serving (auth shows the first admin it created).
    fn announce(&self) {}
}

/// Serves `service` on `listener` until `shutdown`, then waits for its in-flight requests and
/// background tasks.
pub async fn serve<S: Service>(
    service: S,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, service = S::ABOUT, "listening");
    crate::server::serve(listener, service.into_router(), shutdown).await?;
    Ok(())
}

/// The whole `main` of a service binary: `--config`/`--log-format`, settings, logging, listen,
/// connect the bus (`[kafka]`), build, serve until SIGINT/SIGTERM.
pub async fn main<S: Service>() -> anyhow::Result<()> {
    let bin = std::env::args_os()
        .next()
        .and_then(|arg| {
            let name = std::path::Path::new(&arg).file_name()?;
            Some(name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "episante-service".into());
    let command = ServiceArgs::augment_args(
        Command::new("episante-service")
            .bin_name(bin)
            .about(S::ABOUT)
            .version(env!("CARGO_PKG_VERSION")),
    );
    let args = ServiceArgs::from_arg_matches(&command.get_matches())?;
    let source = args.config_source()?;
    let settings = S::Settings::from_source(&source)?;
    telemetry::init(settings.log());
    let listener = crate::server::bind(settings.bind()).await?;
    let bus_config: EventBusConfig = source.section("kafka")?;
    let bus = crate::events::connect(&bus_config)?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let service = S::build(settings, bus, shutdown.clone()).await?;
    service.announce();
    serve(service, listener, shutdown).await
}
