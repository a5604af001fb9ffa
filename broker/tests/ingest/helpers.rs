//! A running platform slice for ingest tests, and MQTT/Kafka test clients.

use std::collections::BTreeMap;
use std::time::Duration;

use episante_broker::config::{BrokerConfig, Settings};
use episante_kit::events::EventBusConfig;
use episante_kit::telemetry::LogConfig;
use episante_kit::Shutdown;
use episante_protocol::{Reading, ReadingBatch, VitalKind, READING_BATCH_VERSION};
use episante_test_auth::TestAuth;
use episante_testkit::{TestDb, TestKafka};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub struct Platform {
    pub kafka: TestKafka,
    /// The broker's settings, for starting more instances of it on the same database and bus.
    pub settings: Settings,
    pub registry: String,
    pub auth_base: String,
    pub mqtt_port: u16,
    pub http: reqwest::Client,
    pub admin_token: String,
    shutdown: Shutdown,
    pub auth: TestAuth,
    _dirs: Vec<tempfile::TempDir>,
    _dbs: Vec<TestDb>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Auth service (in-process, `TestAuth`) + broker bridging to a fresh tansu, each with its own
/// database.
pub async fn start_platform() -> Platform {
    start_platform_with(|_| {}).await
}

/// A broker instance on `settings`; returns its registry URL and MQTT port.
pub async fn start_broker(settings: Settings, shutdown: &Shutdown) -> (String, u16) {
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry = format!("http://{}", http_listener.local_addr().unwrap());
    let service = episante_broker::build(settings, shutdown.clone())
        .await
        .expect("broker builds");
    let mqtt_port = service.mqtt_addr.port();
    tokio::spawn(episante_broker::serve(
        service,
        http_listener,
        shutdown.clone(),
    ));
    (registry, mqtt_port)
}

/// [`start_platform`] with the broker's configuration adjusted by `tune`.
pub async fn start_platform_with(tune: impl FnOnce(&mut BrokerConfig)) -> Platform {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kafka = TestKafka::start().await.expect("tansu");
    let shutdown = Shutdown::new();

    let auth = TestAuth::start().await;
    let auth_base = auth.base.clone();

    let broker_db = TestDb::new();
    let broker_dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        broker: BrokerConfig {
            mqtt_bind: "127.0.0.1:0".into(),
            database: broker_db.service_database(),
            data_dir: broker_dir.path().to_path_buf(),
            max_payload_bytes: 16 * 1024,
            ..Default::default()
        },
        kafka: EventBusConfig {
            brokers: Some(kafka.bootstrap.clone()),
            partitions: 3,
            message_timeout_ms: 120_000,
            ..Default::default()
        },
        database: broker_db.config(),
        tokens: auth.token_config(),
        vault: Default::default(),
        log: LogConfig::default(),
    };
    let mut settings = settings;
    tune(&mut settings.broker);
    let (registry, mqtt_port) = start_broker(settings.clone(), &shutdown).await;

    let admin_token = auth.admin_token.clone();
    Platform {
        kafka,
        settings,
        registry,
        auth_base,
        mqtt_port,
        http: reqwest::Client::new(),
        admin_token,
        shutdown,
        auth,
        _dirs: vec![broker_dir],
        _dbs: vec![broker_db],
    }
}

/// A registered device's credentials.
#[derive(Clone)]
pub struct DeviceCreds(pub Value);

impl DeviceCreds {
    pub fn id(&self) -> &str {
        self.0["device_id"].as_str().unwrap()
    }
    pub fn secret(&self) -> &str {
        self.0["secret"].as_str().unwrap()
    }
    pub fn pem(&self, field: &str) -> String {
        self.0[field].as_str().unwrap().to_string()
    }
}

impl Platform {
    pub async fn register(&self, id: &str) -> DeviceCreds {
        let r = self
            .http
            .post(format!("{}/v1/devices", self.registry))
            .bearer_auth(&self.admin_token)
            .json(&json!({"device_id": id, "label": "test hub"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "registering {id}");
        DeviceCreds(r.json().await.unwrap())
    }

    /// `POST /v1/devices/{id}/{action}` (revoke, rotate) as the admin.
    pub async fn device_action(&self, id: &str, action: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/devices/{id}/{action}", self.registry))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/devices{query}` as the admin.
    pub async fn devices(&self, query: &str) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/v1/devices{query}", self.registry))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn metrics_text(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.registry))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until `/metrics` has exactly `line`.
    pub async fn wait_for_metric(&self, line: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let metrics = self.metrics_text().await;
            if metrics.lines().any(|l| l == line) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {line:?} in\n{metrics}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn mqtt_options(&self, creds: &DeviceCreds, password: &str) -> MqttOptions {
        device_options(creds, password, self.mqtt_port)
    }

    /// Connects as the device; returns the client and a stream of events (acks, errors).
    pub async fn connect(&self, creds: &DeviceCreds) -> Result<MqttDevice, String> {
        connect(self.mqtt_options(creds, creds.secret())).await
    }
}

/// MQTT options for a device: its certificate, the CA, id = username, `password`.
pub fn device_options(creds: &DeviceCreds, password: &str, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(creds.id(), "127.0.0.1", port);
    options.set_credentials(creds.id(), password);
    options.set_keep_alive(Duration::from_secs(10));
    options.set_max_packet_size(1024 * 1024, 1024 * 1024);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: creds.pem("ca_pem").into_bytes(),
        alpn: None,
        client_auth: Some((
            creds.pem("certificate_pem").into_bytes(),
            creds.pem("private_key_pem").into_bytes(),
        )),
    }));
    options
}

pub enum DeviceEvent {
    /// `acked_through` and its epoch.
    Ack(u64, u64),
    Disconnected(String),
}

pub struct MqttDevice {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<DeviceEvent>,
    pub id: String,
}

/// Connects and waits for the CONNACK (rumqttd refuses by closing the socket: that is an error).
pub async fn connect(options: MqttOptions) -> Result<MqttDevice, String> {
    let id = options.client_id();
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| "no CONNACK within 10 s".to_string())??;
    let (tx, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Ok(ack) = serde_json::from_slice::<Value>(&p.payload) {
                        if let Some(n) = ack["acked_through"].as_u64() {
                            let epoch = ack["epoch"].as_u64().unwrap_or(0);
                            let _ = tx.send(DeviceEvent::Ack(n, epoch));
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(DeviceEvent::Disconnected(e.to_string()));
                    return;
                }
            }
        }
    });
    client
        .subscribe(format!("/tenants/{id}/ack"), QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    Ok(MqttDevice { client, events, id })
}

impl MqttDevice {
    pub async fn publish_batch(&self, batch: &ReadingBatch) {
        self.client
            .publish(
                format!("/tenants/{}/readings", self.id),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(batch).unwrap(),
            )
            .await
            .unwrap();
    }

    /// Waits until an ack of at least `seq` arrives.
    pub async fn wait_ack(&mut self, seq: u64, within: Duration) -> Result<u64, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(DeviceEvent::Ack(n, _))) if n >= seq => return Ok(n),
                Ok(Some(DeviceEvent::Ack(..))) => continue,
                Ok(Some(DeviceEvent::Disconnected(e))) => return Err(format!("disconnected: {e}")),
                Ok(None) => return Err("event loop ended".into()),
                Err(_) => return Err(format!("no ack of {seq} within {within:?}")),
            }
        }
    }

    /// Waits until the broker drops this connection.
    pub async fn wait_disconnect(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(DeviceEvent::Disconnected(_))) | Ok(None) => return true,
                Ok(Some(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

impl MqttDevice {
    /// Waits until an ack of at least `seq` in `epoch` arrives.
    pub async fn wait_epoch_ack(
        &mut self,
        epoch: u64,
        seq: u64,
        within: Duration,
    ) -> Result<u64, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(DeviceEvent::Ack(n, e))) if e == epoch && n >= seq => return Ok(n),
                Ok(Some(DeviceEvent::Ack(..))) => continue,
                Ok(Some(DeviceEvent::Disconnected(e))) => return Err(format!("disconnected: {e}")),
                Ok(None) => return Err("event loop ended".into()),
                Err(_) => return Err(format!("no ack of {epoch}/{seq} within {within:?}")),
            }
        }
    }

    /// Acks received within `within`, `(epoch, acked_through)`.
    pub async fn acks_within(&mut self, within: Duration) -> Vec<(u64, u64)> {
        let deadline = tokio::time::Instant::now() + within;
        let mut acks = vec![];
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            if let DeviceEvent::Ack(n, e) = event {
                acks.push((e, n));
            }
        }
        acks
    }
}

/// A valid batch of `n` heart-rate readings with seqs `first..first+n`.
pub fn batch(device: &str, first: u64, n: u64) -> ReadingBatch {
    ReadingBatch {
        v: READING_BATCH_VERSION,
        device_id: device.to_string(),
        epoch: 0,
        received_at_ms: None,
        readings: (first..first + n)
            .map(|seq| Reading {
                seq,
                ts_ms: 1_764_000_000_000 + seq as i64 * 1000,
                kind: VitalKind::HeartRate,
                value: 60.0 + (seq % 40) as f64,
                unit: VitalKind::HeartRate.unit().into(),
            })
            .collect(),
    }
}

/// Every record of `topic`, waiting until `expect` arrived or `within` passed.
pub async fn read_topic(
    bootstrap: &str,
    topic: &str,
    expect: usize,
    within: Duration,
) -> Vec<(String, Value)> {
    read_topic_until(bootstrap, topic, within, |records| records.len() >= expect).await
}

/// Records of `topic` from the beginning, until `done(records)` or `within` passed.
pub async fn read_topic_until(
    bootstrap: &str,
    topic: &str,
    within: Duration,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("test-{}", uuid_like()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut records = vec![];
    let deadline = tokio::time::Instant::now() + within;
    while !done(&records) {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => records.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or(Value::Null),
            )),
            Ok(Err(e)) => panic!("consumer error: {e}"),
            Err(_) => break,
        }
    }
    records
}

fn uuid_like() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

/// Reading records until every `(device, n)` has seqs 1..=n (at least once) or `within` passed.
pub async fn read_readings(
    bootstrap: &str,
    expected: &[(&str, u64)],
    within: Duration,
) -> Vec<(String, Value)> {
    read_topic_until(
        bootstrap,
        episante_protocol::topics::KAFKA_READINGS,
        within,
        |records| {
            let seqs = seqs_by_device(records);
            expected.iter().all(|(device, n)| {
                seqs.get(*device).is_some_and(|s| {
                    let mut s = s.clone();
                    s.sort_unstable();
                    s.dedup();
                    s.len() as u64 >= *n
                })
            })
        },
    )
    .await
}

/// Seqs per device key found in reading-batch records.
pub fn seqs_by_device(records: &[(String, Value)]) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, batch) in records {
        assert_eq!(
            batch["device_id"].as_str(),
            Some(key.as_str()),
            "keyed by device id"
        );
        for r in batch["readings"].as_array().unwrap() {
            out.entry(key.clone())
                .or_default()
                .push(r["seq"].as_u64().unwrap());
        }
    }
    out
}
