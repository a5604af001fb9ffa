//! The device-facing MQTT side: our front door and sessions around rumqttd's router.
//!
//! rumqttd is the router (per-topic logs, QoS 1, subscriptions, flow control), on its own thread
//! as rumqttd designs it. Everything between the socket and the router is ours:
//! - `front_door`: the accept loop, concurrent TLS handshakes with deadlines, pending limits;
//! - `tls`: one TLS server configuration, reloaded when its files change;
//! - `session`: CONNECT authentication (identity bound across certificate and CONNECT), topic
//!   authorisation, byte and rate limits, last will, and cuts;
//! - `sessions`: live sessions by device, for revocation;
//! - `frame`, `rate`: byte-bounded framing and per-device token buckets.
//!
//! docs/ARCHITECTURE.md ("The device front door") says why rumqttd's own `Server` is not used.

pub mod frame;
pub mod front_door;
pub mod rate;
pub mod session;
pub mod sessions;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use episante_kit::events::EventBus;
use episante_kit::Shutdown;
use episante_protocol::topics;
use rumqttd::local::{LinkBuilder, LinkRx, LinkTx};
use rumqttd::{RouterConfig, SegmentConfig};
use tokio_util::task::TaskTracker;

use crate::config::BrokerConfig;
use crate::device_auth::DeviceAuthenticator;
use crate::fleet::FleetHealth;
use crate::metrics::BrokerMetrics;
use front_door::{FrontDoorLimits, PendingGate};
use session::{LinkFactory, SessionContext, SessionLimits};
use sessions::SessionRegistry;
use tls::{TlsFiles, TlsTerminator};

/// The bridge's local link id (device ids are alphanumeric, so no device can take it).
pub const BRIDGE_LINK_ID: &str = "episante-bridge";

pub struct RunningMqtt {
    pub addr: SocketAddr,
    pub link_tx: LinkTx,
    pub link_rx: LinkRx,
    pub sessions: Arc<SessionRegistry>,
    /// Every connection task; waited for at shutdown.
    pub tasks: TaskTracker,
}

/// What the MQTT side needs from the rest of the broker.
pub struct MqttDeps {
    pub auth: Arc<DeviceAuthenticator>,
    pub fleet: Arc<FleetHealth>,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Arc<BrokerMetrics>,
}

/// Binds `bind` with SO_REUSEADDR (a restart right after a crash is not refused for connections
/// still in TIME_WAIT).
fn bind(bind: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let wanted: SocketAddr = bind
        .parse()
        .with_context(|| format!("{bind} is not an IP:port address"))?;
    let socket = if wanted.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(wanted)?;
    Ok(socket.listen(1024)?)
}

fn router_config(config: &BrokerConfig) -> RouterConfig {
    let mut segments = HashMap::new();
    // The bridge's filter carries all readings: a larger log absorbs bursts while Kafka is slow.
    segments.insert(
        topics::ALL_DEVICE_READINGS.to_string(),
        SegmentConfig {
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 8,
        },
    );
    RouterConfig {
        max_connections: config.max_connections + 16,
        max_outgoing_packet_count: 200,
        // The only other filter (devices' status, also the bridge's) keeps a small log. Acks never
        // pass through the router (`sessions`), so no filter exists per device.
        max_segment_size: 16 * 1024,
        max_segment_count: 2,
        custom_segment: Some(segments),
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    }
}

/// Starts the router, the bridge's link to it and the front door; accepting when this returns.
pub fn start(
    config: &BrokerConfig,
    files: TlsFiles,
    deps: MqttDeps,
    shutdown: Shutdown,
) -> anyhow::Result<RunningMqtt> {
    let listener = bind(&config.mqtt_bind)
        .with_context(|| format!("MQTT cannot listen on {}", config.mqtt_bind))?;
    let addr = listener.local_addr()?;
    let tls = TlsTerminator::load(files)?;
    tls.clone()
        .spawn_watcher(Duration::from_secs(5), shutdown.clone());

    let router_tx = rumqttd::Router::new(0, router_config(config)).spawn();
    let (mut link_tx, link_rx, _connack) = LinkBuilder::new(BRIDGE_LINK_ID, router_tx.clone())
        .build()
        .map_err(|e| anyhow::anyhow!("cannot link to the MQTT router: {e:?}"))?;
    for filter in [topics::ALL_DEVICE_READINGS, topics::ALL_DEVICE_STATUS] {
        link_tx
            .subscribe(filter)
            .map_err(|e| anyhow::anyhow!("subscribing the bridge: {e:?}"))?;
    }
    let links: LinkFactory = Arc::new(move |client_id: &str, clean: bool| {
        LinkBuilder::new(client_id, router_tx.clone())
            .clean_session(clean)
            .build()
            .map_err(|e| e.to_string())
    });

    let sessions = SessionRegistry::new(deps.metrics.clone());
    let ctx = Arc::new(SessionContext {
        auth: deps.auth,
        sessions: sessions.clone(),
        fleet: deps.fleet,
        links,
        bus: deps.bus,
        metrics: deps.metrics.clone(),
        limits: SessionLimits {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            max_payload: config.max_payload_bytes,
            msgs_per_sec: config.device_max_msgs_per_sec,
            bytes_per_sec: config.device_max_bytes_per_sec,
            max_sessions: config.max_connections,
        },
    });
    let gate = PendingGate::new(
        FrontDoorLimits {
            max_concurrent_handshakes: config.max_concurrent_handshakes.max(1),
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms),
            max_pending: config.max_pending_handshakes,
            max_pending_per_ip: config.max_pending_handshakes_per_ip,
        },
        deps.metrics,
    );
    let tasks = TaskTracker::new();
    tokio::spawn(front_door::run(
        listener,
        tls,
        gate,
        ctx,
        tasks.clone(),
        shutdown,
    ));
    Ok(RunningMqtt {
        addr,
        link_tx,
        link_rx,
        sessions,
        tasks,
    })
}
