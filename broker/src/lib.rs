//! EpiSante ingest broker: devices in, Kafka out.
//!
//! Our front door (`mqtt`) accepts device connections over mutual TLS and runs their MQTT
//! sessions on top of an embedded rumqttd router, authenticated against the device registry this
//! service owns (`device_auth`, `db`, `http`), with certificates from its device CA (`device_ca`);
//! `revocation` cuts sessions on every instance. The `bridge` validates every reading batch,
//! produces it to Kafka keyed by device id (or dead-letters it, `dead_letter`) and acknowledges it
//! end to end once Kafka confirmed it. `fleet` keeps each device's health for admins.

pub mod bridge;
pub mod config;
pub mod db;
pub mod dead_letter;
pub mod device_auth;
pub mod device_ca;
pub mod domain;
pub mod fleet;
pub mod http;
pub mod metrics;
pub mod mqtt;
pub mod revocation;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use episante_kit::events::{self, EventBus};
use episante_kit::{Metrics, Shutdown, TokenVerifier};
use episante_protocol::topics;

use crate::config::Settings;
use crate::device_auth::DeviceAuthenticator;
use crate::device_ca::DeviceCa;
use crate::fleet::FleetHealth;
use crate::http::AppState;
use crate::metrics::BrokerMetrics;
use crate::mqtt::tls::TlsFiles;

pub struct BrokerService {
    pub router: Router,
    /// Where the MQTT (mutual TLS) listener accepts devices.
    pub mqtt_addr: SocketAddr,
    pub bus: Arc<dyn EventBus>,
    bridge: tokio::task::JoinHandle<()>,
    fleet_writer: tokio::task::JoinHandle<()>,
    sessions: Arc<mqtt::sessions::SessionRegistry>,
    connections: tokio_util::task::TaskTracker,
}

/// Builds the broker: database, CA and server certificate, event bus and topics, rumqttd, bridge,
/// HTTP routes, fleet health writer, revocation listener. MQTT is accepting when this returns.
pub async fn build(settings: Settings, shutdown: Shutdown) -> anyhow::Result<BrokerService> {
    let bus = events::connect(&settings.kafka)?;
    build_with_bus(settings, bus, shutdown).await
}

/// [`build`] on a given bus (`episante up` shares one in-memory bus among all its services).
pub async fn build_with_bus(
    settings: Settings,
    bus: Arc<dyn EventBus>,
    shutdown: Shutdown,
) -> anyhow::Result<BrokerService> {
    let config = &settings.broker;
    let pool =
        episante_kit::db::provision(&settings.database, &config.database, &db::MIGRATOR).await?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let ca = Arc::new(match episante_kit::vault::client(&settings.vault)? {
        Some(vault) => DeviceCa::open_in_vault(&vault, &config.data_dir).await?,
        None => DeviceCa::open(&config.data_dir)?,
    });
    let (cert_path, key_path) = match (&config.tls_cert_path, &config.tls_key_path) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => {
            let server = ca.issue_server(&config.tls_hostnames)?;
            let cert_path = config.data_dir.join("server.pem");
            let key_path = config.data_dir.join("server.key.pem");
            episante_kit::private_file::write_private_file(&cert_path, server.cert_pem.as_bytes())?;
            episante_kit::private_file::write_private_file(&key_path, server.key_pem.as_bytes())?;
            (cert_path, key_path)
        }
        _ => anyhow::bail!("broker.tls_cert_path and broker.tls_key_path must be set together"),
    };

    ensure_topics(bus.as_ref(), &shutdown).await?;

    let metrics = Metrics::new("broker");
    let broker_metrics = BrokerMetrics::register(&metrics);
    bus.register_metrics(&metrics);
    let auth = DeviceAuthenticator::new(
        pool.clone(),
        Duration::from_secs(config.credential_cache_secs),
        broker_metrics.clone(),
    );
    let fleet = FleetHealth::new();
    let running = mqtt::start(
        config,
        TlsFiles {
            ca: ca.ca_path().to_path_buf(),
            cert: cert_path,
            key: key_path,
        },
        mqtt::MqttDeps {
            auth: auth.clone(),
            fleet: fleet.clone(),
            bus: bus.clone(),
            metrics: broker_metrics.clone(),
        },
        shutdown.clone(),
    )?;
    revocation::spawn_listener(
        bus.clone(),
        auth.clone(),
        running.sessions.clone(),
        shutdown.clone(),
    );
    let verifier = TokenVerifier::remote(&settings.tokens);
    episante_kit::revocation::spawn_listener(
        bus.clone(),
        verifier.revocations().clone(),
        "broker",
        shutdown.clone(),
    );
    let fleet_writer =
        fleet
            .clone()
            .spawn_writer(pool.clone(), Duration::from_secs(1), shutdown.clone());
    let bridge = bridge::spawn(
        (running.link_tx, running.link_rx),
        running.sessions.clone(),
        bus.clone(),
        broker_metrics,
        fleet,
        bridge::BridgeLimits {
            max_in_flight: config.max_in_flight,
            max_payload: config.max_payload_bytes,
            linger: Duration::from_millis(config.coalesce_linger_ms),
            max_clock_skew_ms: config.max_clock_skew_ms,
            seq_window: config.seq_window,
        },
        shutdown,
    );
    let state = AppState {
        pool,
        verifier,
        ca,
        auth,
        sessions: running.sessions.clone(),
        bus: bus.clone(),
        mqtt_port: running.addr.port(),
    };
    let router = http::router(state, metrics);
    tracing::info!(mqtt = %running.addr, bus = %bus.describe(), "broker ready");
    Ok(BrokerService {
        router,
        mqtt_addr: running.addr,
        bus,
        bridge,
        fleet_writer,
        sessions: running.sessions,
        connections: running.tasks,
    })
}

/// Creates the broker's topics, retrying while the bus is unreachable.
async fn ensure_topics(bus: &dyn EventBus, shutdown: &Shutdown) -> anyhow::Result<()> {
    let wanted = [
        topics::KAFKA_READINGS,
        topics::KAFKA_DEAD_LETTER,
        topics::KAFKA_DEVICE_EVENTS,
    ];
    let mut delay = Duration::from_millis(200);
    loop {
        match bus.ensure_topics(&wanted).await {
            Ok(()) => return Ok(()),
            Err(e) if !shutdown.is_triggered() => {
                tracing::warn!(error = %e, "cannot create topics yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e).context("creating Kafka topics"),
        }
    }
}

/// Serves the registry API until `shutdown`, then ends every device session (last wills
/// published), waits for their tasks, the bridge to drain and fleet health to be written.
pub async fn serve(
    service: BrokerService,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "device registry listening");
    episante_kit::server::serve(listener, service.router, shutdown).await?;
    service
        .sessions
        .cut_all(mqtt::sessions::CutReason::Shutdown);
    service.connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), service.connections.wait()).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), service.bridge).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), service.fleet_writer).await;
    Ok(())
}
