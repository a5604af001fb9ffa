//! The embedded rumqttd broker, configured in code.
//!
//! One listener: MQTT 3.1.1 over mutual TLS. rumqttd is built with `validate-tenant-prefix`, so a
//! client certificate's Organization (= device id) becomes the connection's tenant and every topic
//! it publishes or subscribes must start with `/tenants/{device id}/` — or it is disconnected.
//! A plaintext listener would let any authenticated device publish to and read any topic
//! (rumqttd 0.20 has no topic ACL hook), so there is none.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use episante_protocol::topics;
use rumqttd::local::{LinkBuilder, LinkRx, LinkTx};
use rumqttd::{ConnectionSettings, RouterConfig, SegmentConfig, ServerSettings, TlsConfig};

use crate::config::BrokerConfig;
use crate::device_auth::DeviceAuthenticator;

/// The bridge's local link id (device ids are alphanumeric, so no device can take it).
pub const BRIDGE_LINK_ID: &str = "episante-bridge";

pub struct TlsFiles<'a> {
    pub ca: &'a Path,
    pub cert: &'a Path,
    pub key: &'a Path,
}

pub struct RunningMqtt {
    pub addr: SocketAddr,
    pub link_tx: LinkTx,
    pub link_rx: LinkRx,
}

fn path_string(p: &Path) -> anyhow::Result<String> {
    p.to_str()
        .map(str::to_string)
        .context("TLS file paths must be UTF-8")
}

/// Binds and releases `bind` (with SO_REUSEADDR, like rumqttd, so a restart right after a crash
/// is not refused for connections still in TIME_WAIT); returns the concrete address.
fn probe_bind(bind: &str) -> anyhow::Result<SocketAddr> {
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
    let listener = socket.listen(1)?;
    Ok(listener.local_addr()?)
}

/// Starts rumqttd on its own threads and returns the bridge's link to it.
pub fn start(
    config: &BrokerConfig,
    tls: TlsFiles<'_>,
    auth: Arc<DeviceAuthenticator>,
) -> anyhow::Result<RunningMqtt> {
    // rumqttd only logs bind failures, and cannot report an ephemeral port: bind here first to
    // fail clearly and to resolve port 0.
    let addr = probe_bind(&config.mqtt_bind)
        .with_context(|| format!("MQTT cannot listen on {}", config.mqtt_bind))?;
    let mut connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        // Bigger than our own limit, so oversized readings reach the bridge and are dead-lettered
        // with a reason instead of silently closing the connection.
        max_payload_size: config.max_payload_bytes * 4,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: false,
    };
    let runtime = tokio::runtime::Handle::current();
    connections.set_auth_handler(
        move |client_id: String, username: String, password: String| {
            let auth = auth.clone();
            let runtime = runtime.clone();
            async move {
                // The handler runs on rumqttd's listener runtime; the pool lives on ours.
                let check = runtime.spawn(async move {
                    auth.authenticate(&client_id, &username, &password).await
                });
                matches!(
                    tokio::time::timeout(Duration::from_secs(5), check).await,
                    Ok(Ok(true))
                )
            }
        },
    );
    let listener = ServerSettings {
        name: "mqtts".into(),
        listen: addr,
        tls: Some(TlsConfig::Rustls {
            capath: Some(path_string(tls.ca)?),
            certpath: path_string(tls.cert)?,
            keypath: path_string(tls.key)?,
        }),
        next_connection_delay_ms: 0,
        connections,
    };
    let mut segments = HashMap::new();
    // The bridge's filter carries all readings: a larger log absorbs bursts while Kafka is slow.
    segments.insert(
        topics::ALL_DEVICE_READINGS.to_string(),
        SegmentConfig {
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 8,
        },
    );
    let router = RouterConfig {
        max_connections: config.max_connections + 16,
        max_outgoing_packet_count: 200,
        // Every other filter (one ack topic per device) keeps a small log: memory stays bounded
        // at ~32 KiB per device.
        max_segment_size: 16 * 1024,
        max_segment_count: 2,
        custom_segment: Some(segments),
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    };
    // The router on its own thread (rumqttd's design); the listener on *our* multi-threaded
    // runtime rather than on the single-threaded one `Broker::start` would give it, so that
    // thousands of device connections spread over every core.
    let router_tx = rumqttd::Router::new(0, router).spawn();
    let (mut link_tx, link_rx, _connack) = LinkBuilder::new(BRIDGE_LINK_ID, router_tx.clone())
        .build()
        .map_err(|e| anyhow::anyhow!("cannot link to the MQTT router: {e:?}"))?;
    link_tx
        .subscribe(topics::ALL_DEVICE_READINGS)
        .map_err(|e| anyhow::anyhow!("subscribing the bridge: {e:?}"))?;
    link_tx
        .subscribe(topics::ALL_DEVICE_STATUS)
        .map_err(|e| anyhow::anyhow!("subscribing the bridge: {e:?}"))?;
    let mut server = rumqttd::Server::new(listener, router_tx, rumqttd::protocol::v4::V4);
    tokio::spawn(async move {
        if let Err(e) = server.start(rumqttd::LinkType::Remote).await {
            tracing::error!(error = %e, "the MQTT listener stopped");
        }
    });
    Ok(RunningMqtt {
        addr,
        link_tx,
        link_rx,
    })
}
