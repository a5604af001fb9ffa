//! EpiSante ingest broker: devices in, Kafka out.
//!
//! An embedded rumqttd accepts device connections over mutual TLS (`mqtt`), authenticated against
//! the device registry this service owns (`device_auth`, `db`, `http`), with certificates from its
//! device CA (`device_ca`). The `bridge` validates every reading batch, produces it to Kafka keyed
//! by device id (or dead-letters it) and acknowledges it end to end once Kafka confirmed it.

pub mod bridge;
pub mod config;
pub mod db;
pub mod device_auth;
pub mod device_ca;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod mqtt;

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
use crate::http::AppState;
use crate::metrics::BrokerMetrics;

pub struct BrokerService {
    pub router: Router,
    /// Where the MQTT (mutual TLS) listener accepts devices.
    pub mqtt_addr: SocketAddr,
    pub bus: Arc<dyn EventBus>,
    bridge: tokio::task::JoinHandle<()>,
}

/// Builds the broker: database, CA and server certificate, event bus and topics, rumqttd, bridge,
/// HTTP routes. MQTT is accepting when this returns.
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
    let ca = Arc::new(DeviceCa::open(&config.data_dir)?);
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
    let auth = DeviceAuthenticator::new(
        pool.clone(),
        Duration::from_secs(config.credential_cache_secs),
        broker_metrics.clone(),
    );
    let running = mqtt::start(
        config,
        mqtt::TlsFiles {
            ca: ca.ca_path(),
            cert: &cert_path,
            key: &key_path,
        },
        auth.clone(),
    )?;
    wait_for_listener(running.addr).await?;
    let bridge = bridge::spawn(
        running.link_tx,
        running.link_rx,
        bus.clone(),
        broker_metrics,
        bridge::BridgeLimits {
            max_in_flight: config.max_in_flight,
            max_payload: config.max_payload_bytes,
            linger: Duration::from_millis(config.coalesce_linger_ms),
        },
        shutdown,
    );
    let state = AppState {
        pool,
        verifier: TokenVerifier::remote(&settings.tokens),
        ca,
        auth,
        mqtt_port: running.addr.port(),
    };
    let router = http::router(state, metrics);
    tracing::info!(mqtt = %running.addr, bus = %bus.describe(), "broker ready");
    Ok(BrokerService {
        router,
        mqtt_addr: running.addr,
        bus,
        bridge,
    })
}

/// Creates the broker's topics, retrying while the bus is unreachable.
async fn ensure_topics(bus: &dyn EventBus, shutdown: &Shutdown) -> anyhow::Result<()> {
    let wanted = [topics::KAFKA_READINGS, topics::KAFKA_DEAD_LETTER];
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

async fn wait_for_listener(addr: SocketAddr) -> anyhow::Result<()> {
    let target = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(target).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the MQTT listener on {addr} did not come up")
}

/// Serves the registry API until `shutdown`, then waits for the bridge to drain.
pub async fn serve(
    service: BrokerService,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "device registry listening");
    episante_kit::server::serve(listener, service.router, shutdown).await?;
    let _ = tokio::time::timeout(Duration::from_secs(10), service.bridge).await;
    Ok(())
}
