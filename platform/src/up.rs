//! `episante up`: every service in one process.
//!
//! Defaults that serve on one machine: PostgreSQL at `DATABASE_URL` or 127.0.0.1:5432, signing
//! keys in a local 0600 file unless Vault is configured. A default port that is taken is replaced
//! by a free one (and said so); a port chosen explicitly must be free.
//!
//! Every listener binds the loopback address unless told otherwise (`--listen 0.0.0.0` or
//! `EPISANTE_LISTEN`, or a bind address set in the configuration): a developer's `up` must not
//! serve patient data to the café's Wi-Fi by default.

use anyhow::Context;
use clap::Args;
use episante_kit::service::Service;
use episante_kit::service::ServiceSettings;
use episante_kit::service_args::ServiceArgs;
use episante_kit::telemetry;
use episante_kit::Shutdown;
use tokio::net::TcpListener;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Address every listener binds unless its own address is configured: loopback by default;
    /// `--listen 0.0.0.0` serves the network (then put TLS in front, see docs/DEPLOYMENT.md).
    #[arg(long, env = "EPISANTE_LISTEN", default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,
    /// Port of the gateway: every API under one address (default 80; `EPISANTE_GATEWAY__BIND`).
    #[arg(long)]
    pub gateway_port: Option<u16>,
    /// Port of the auth service (default 8081; `EPISANTE_AUTH__BIND` sets the whole address).
    #[arg(long)]
    pub auth_port: Option<u16>,
    /// Port of the records service (default 8082; `EPISANTE_RECORDS__BIND`).
    #[arg(long)]
    pub records_port: Option<u16>,
    /// Port of the bookings service (default 8083; `EPISANTE_BOOKINGS__BIND`).
    #[arg(long)]
    pub bookings_port: Option<u16>,
    /// Port of the broker's device-registry API (default 8085; `EPISANTE_BROKER__HTTP_BIND`).
    #[arg(long)]
    pub registry_port: Option<u16>,
    /// Port of the alerts service (default 8086; `EPISANTE_ALERTS__BIND`).
    #[arg(long)]
    pub alerts_port: Option<u16>,
    /// Port of the notify service (default 8087; `EPISANTE_NOTIFY__BIND`).
    #[arg(long)]
    pub notify_port: Option<u16>,
    /// Port of the MQTT-over-mTLS listener (default 8883; `EPISANTE_BROKER__MQTT_BIND`).
    #[arg(long)]
    pub mqtt_port: Option<u16>,
    /// Also run a small simulated ward: a clinician, patients in their care, and devices with
    /// anomalies, so alerts appear within a minute.
    #[arg(long)]
    pub demo: bool,
}

/// Binds `bind`; if it was a default and is taken (or needs privileges), binds a free port on the
/// same host instead.
async fn listen(service: &str, bind: &str, explicit: bool) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(bind).await {
        Ok(listener) => Ok(listener),
        Err(e)
            if !explicit
                && matches!(
                    e.kind(),
                    std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
                ) =>
        {
            let host = bind.rsplit_once(':').map_or("0.0.0.0", |(h, _)| h);
            let listener = TcpListener::bind(format!("{host}:0")).await?;
            eprintln!(
                "note: {bind} is not available ({e}); {service} listens on port {} instead",
                listener.local_addr()?.port()
            );
            Ok(listener)
        }
        Err(e) => Err(e).with_context(|| format!("{service} cannot listen on {bind}")),
    }
}

/// Where this machine reaches `listener`: its own address, or loopback for a wildcard bind.
fn display_url(listener: &TcpListener) -> String {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// What to do when PostgreSQL, which every service and the bus need, is not there.
const POSTGRES_HINT: &str = "PostgreSQL must be reachable at DATABASE_URL \
     (default postgres://postgres@127.0.0.1:5432/postgres); on Debian: \
     apt-get install postgresql, or run `docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`";

type ServiceTask = tokio::task::JoinHandle<anyhow::Result<()>>;

/// Runs `serve` until it ends; its end (error or shutdown) stops every other service.
fn supervise(
    name: &'static str,
    shutdown: &Shutdown,
    serve: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) -> (&'static str, ServiceTask) {
    let stop = shutdown.clone();
    (
        name,
        tokio::spawn(async move {
            let result = serve.await;
            stop.trigger();
            result
        }),
    )
}

pub async fn run(service_args: &ServiceArgs, args: UpArgs) -> anyhow::Result<()> {
    let mut source = service_args.config_source()?;
    for (port, key) in [
        (args.gateway_port, "gateway.bind"),
        (args.auth_port, "auth.bind"),
        (args.records_port, "records.bind"),
        (args.bookings_port, "bookings.bind"),
        (args.registry_port, "broker.http_bind"),
        (args.alerts_port, "alerts.bind"),
        (args.notify_port, "notify.bind"),
        (args.mqtt_port, "broker.mqtt_bind"),
    ] {
        if let Some(port) = port {
            source = source.with(
                key,
                std::net::SocketAddr::new(args.listen, port).to_string(),
            );
        }
    }
    // Binds not configured keep their default port on the `--listen` address.
    let host = args.listen;
    let bind_default = |key: &str, bind: &mut String| {
        if !source.is_set(key) {
            *bind = on_host(bind, host);
        }
    };
    let mut auth = episante_auth::config::Settings::from_source(&source)?;
    bind_default("auth.bind", &mut auth.auth.bind);
    // The built-in gateway reaches auth over loopback and replaces `X-Forwarded-For` with the
    // client's address: trust it, so login back-off and throttling see real clients.
    if !source.is_set("auth.trusted_proxies") {
        auth.auth.trusted_proxies = vec!["127.0.0.1".into(), "::1".into()];
    }
    telemetry::init(&auth.log);
    // Records calls the registry and alerts with its own client credentials, minted per start.
    let records_secret = episante_kit::Secret::new(random_secret());
    auth.auth
        .bootstrap_clients
        .push(episante_auth::config::BootstrapClient {
            client_id: "records".into(),
            secret: records_secret.clone(),
            // Only what records uses: device lookups (assignment) and vitals (FHIR export).
            scopes: vec![
                episante_kit::Scope::DevicesRead.as_str().into(),
                episante_kit::Scope::VitalsRead.as_str().into(),
            ],
        });

    // Notify reads contacts (auth) and practitioners (bookings) with its own credentials.
    let notify_secret = episante_kit::Secret::new(random_secret());
    auth.auth
        .bootstrap_clients
        .push(episante_auth::config::BootstrapClient {
            client_id: "notify".into(),
            secret: notify_secret.clone(),
            scopes: vec![
                episante_kit::Scope::ContactsRead.as_str().into(),
                episante_kit::Scope::ScheduleRead.as_str().into(),
            ],
        });

    let mut gateway: episante_gateway::config::GatewayConfig = source.section("gateway")?;
    bind_default("gateway.bind", &mut gateway.bind);
    let gateway_listener = listen("gateway", &gateway.bind, source.is_set("gateway.bind")).await?;
    let auth_listener = listen("auth", &auth.auth.bind, source.is_set("auth.bind")).await?;
    let auth_url = display_url(&auth_listener);
    let jwks_url = format!("{auth_url}/.well-known/jwks.json");
    let data_dir = auth.auth.data_dir.clone();
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let bus_config: episante_kit::events::EventBusConfig = source.section("kafka")?;
    let log_config: episante_kit::events::postgres::LogBusConfig = source.section("bus")?;
    let database: episante_kit::DatabaseConfig = source.section("database")?;
    let bus =
        episante_kit::events::connect_platform(&bus_config, &database, &log_config, &shutdown)
            .await
            .map_err(|e| e.context(format!("the event bus could not start. {POSTGRES_HINT}")))?;
    let auth_service = episante_auth::AuthService::build(auth, bus.clone(), shutdown.clone())
        .await
        .map_err(|e| e.context(format!("the auth service could not start. {POSTGRES_HINT}")))?;

    let with_jwks = |mut tokens: episante_kit::TokenConfig| {
        if !source.is_set("tokens.jwks_url") {
            tokens.jwks_url = jwks_url.clone();
        }
        tokens
    };

    // Broker (device registry + MQTT).
    let mut broker = episante_broker::config::Settings::from_source(&source)?;
    broker.tokens = with_jwks(broker.tokens);
    bind_default("broker.http_bind", &mut broker.broker.http_bind);
    bind_default("broker.mqtt_bind", &mut broker.broker.mqtt_bind);
    let registry_listener = listen(
        "device registry",
        &broker.broker.http_bind,
        source.is_set("broker.http_bind"),
    )
    .await?;
    let registry_url = display_url(&registry_listener);
    if !source.is_set("broker.mqtt_bind")
        && std::net::TcpListener::bind(&broker.broker.mqtt_bind).is_err()
    {
        let host = broker
            .broker
            .mqtt_bind
            .rsplit_once(':')
            .map_or("0.0.0.0", |(h, _)| h)
            .to_string();
        eprintln!(
            "note: {} is taken; MQTT listens on a free port instead",
            broker.broker.mqtt_bind
        );
        broker.broker.mqtt_bind = format!("{host}:0");
    }
    let broker_service =
        episante_broker::build_with_bus(broker, bus.clone(), shutdown.clone()).await?;
    let mqtt_port = broker_service.mqtt_addr.port();

    // Alerts.
    let mut alerts = episante_alerts::config::Settings::from_source(&source)?;
    alerts.tokens = with_jwks(alerts.tokens);
    // The demo shows escalation within minutes rather than the 5 and 10 of a real ward.
    if args.demo && !source.is_set("alerts.escalate_after_secs") {
        alerts.alerts.escalate_after_secs = crate::demo::ESCALATE_AFTER_SECS;
    }
    if args.demo && !source.is_set("alerts.escalate_to_on_call_after_secs") {
        alerts.alerts.escalate_to_on_call_after_secs = crate::demo::ESCALATE_TO_ON_CALL_AFTER_SECS;
    }
    bind_default("alerts.bind", &mut alerts.alerts.bind);
    let alerts_listener =
        listen("alerts", &alerts.alerts.bind, source.is_set("alerts.bind")).await?;
    let alerts_url = display_url(&alerts_listener);
    let alerts_service =
        episante_alerts::AlertsService::build(alerts, bus.clone(), shutdown.clone()).await?;

    // Records.
    let mut records = episante_records::config::Settings::from_source(&source)?;
    records.tokens = with_jwks(records.tokens);
    bind_default("records.bind", &mut records.records.bind);
    let records_listener = listen(
        "records",
        &records.records.bind,
        source.is_set("records.bind"),
    )
    .await?;
    let records_url = display_url(&records_listener);
    if !source.is_set("records.auth_url") {
        records.records.auth_url = auth_url.clone();
    }
    if !source.is_set("records.registry_url") {
        records.records.registry_url = registry_url.clone();
    }
    if !source.is_set("records.alerts_url") {
        records.records.alerts_url = Some(alerts_url.clone());
    }
    records.records.client_id = "records".into();
    records.records.client_secret = Some(records_secret);
    let records_service =
        episante_records::RecordsService::build(records, bus.clone(), shutdown.clone()).await?;

    // Bookings.
    let mut bookings = episante_bookings::config::Settings::from_source(&source)?;
    bookings.tokens = with_jwks(bookings.tokens);
    bind_default("bookings.bind", &mut bookings.bookings.bind);
    let bookings_listener = listen(
        "bookings",
        &bookings.bookings.bind,
        source.is_set("bookings.bind"),
    )
    .await?;
    let bookings_url = display_url(&bookings_listener);
    bus.ensure_topics(&[episante_protocol::topics::KAFKA_BOOKING_EVENTS])
        .await?;
    let bookings_service =
        episante_bookings::BookingsService::build(bookings, bus.clone(), shutdown.clone()).await?;

    let gateway_url = display_url(&gateway_listener);

    // Notify.
    let mut notify = episante_notify::config::Settings::from_source(&source)?;
    notify.tokens = with_jwks(notify.tokens);
    bind_default("notify.bind", &mut notify.notify.bind);
    let notify_listener =
        listen("notify", &notify.notify.bind, source.is_set("notify.bind")).await?;
    let notify_url = display_url(&notify_listener);
    if !source.is_set("notify.auth_url") {
        notify.notify.auth_url = auth_url.clone();
    }
    if !source.is_set("notify.bookings_url") {
        notify.notify.bookings_url = bookings_url.clone();
    }
    if !source.is_set("notify.portal_url") {
        notify.notify.portal_url = gateway_url.clone();
    }
    if !source.is_set("notify.mailbox_dir") {
        notify.notify.mailbox_dir = data_dir.parent().unwrap_or(&data_dir).join("notify/mail");
    }
    notify.notify.client_id = "notify".into();
    notify.notify.client_secret = Some(notify_secret);
    let notify_service =
        episante_notify::NotifyService::build(notify, bus.clone(), shutdown.clone()).await?;
    let mail_destination = notify_service.mail_destination.clone();

    let upstreams = episante_gateway::Upstreams {
        auth: Some(auth_url.clone()),
        records: Some(records_url.clone()),
        bookings: Some(bookings_url.clone()),
        alerts: Some(alerts_url.clone()),
        devices: Some(registry_url.clone()),
        notify: Some(notify_url.clone()),
    };

    let portal = episante_gateway::Portal {
        dir: portal_dir(&gateway),
        behind_tls: gateway.behind_tls,
    };
    println!("EpiSante is up. Ctrl-C stops everything.");
    match &portal.dir {
        Some(dir) => println!(
            "  portal   {gateway_url}/   (the web portal, from {})",
            dir.display()
        ),
        None => println!(
            "  portal   not built: run `npm ci --prefix web && npm run --prefix web build:portal`"
        ),
    }
    println!("  gateway  {gateway_url}   (every API under {gateway_url}/api/v1/…; `episante --server {gateway_url}`)");
    println!("  auth     {auth_url}   (JWKS {auth_url}/.well-known/jwks.json, API {auth_url}/openapi.json)");
    println!("  records  {records_url}   (patients, care teams, audit, FHIR; API {records_url}/openapi.json)");
    println!("  bookings {bookings_url}   (practitioners, slots, appointments; API {bookings_url}/openapi.json)");
    println!(
        "  alerts   {alerts_url}   (alerts, live stream, vitals; API {alerts_url}/openapi.json)"
    );
    println!("  devices  {registry_url}   (device registry, API {registry_url}/openapi.json)");
    println!("  notify   {notify_url}   (messages and their delivery log, API {notify_url}/openapi.json)");
    println!("  mail     {mail_destination}");
    println!("  mqtt     mqtts://localhost:{mqtt_port}   (mutual TLS; credentials from POST {registry_url}/v1/devices)");
    println!("  events   {}", bus.describe());
    println!("  metrics  {auth_url}/metrics  {records_url}/metrics  {bookings_url}/metrics  {alerts_url}/metrics  {notify_url}/metrics  {registry_url}/metrics");
    if let Some(admin) = &auth_service.bootstrap {
        match &admin.generated_password {
            Some(password) => {
                let file = data_dir.join("initial-admin-password");
                episante_kit::private_file::write_private_file(
                    &file,
                    format!("{password}\n").as_bytes(),
                )
                .with_context(|| format!("writing {}", file.display()))?;
                println!(
                    "  first admin: {} / {password}\n  (shown once; also saved to {}, mode 0600)",
                    admin.email,
                    file.display()
                );
            }
            None => println!(
                "  first admin: {} (password from your configuration)",
                admin.email
            ),
        }
    }
    let hint = episante_client::local_server_hint();
    if let Err(e) = write_hint(&hint, &gateway_url) {
        tracing::warn!(path = %hint.display(), error = %e, "could not record the gateway address for the CLI");
    }

    let demo_auth = args.demo.then(|| auth_service.state.clone());
    let mut tasks = vec![
        supervise(
            "auth",
            &shutdown,
            episante_kit::service::serve(auth_service, auth_listener, shutdown.clone()),
        ),
        supervise(
            "broker",
            &shutdown,
            episante_broker::serve(broker_service, registry_listener, shutdown.clone()),
        ),
        supervise(
            "alerts",
            &shutdown,
            episante_kit::service::serve(alerts_service, alerts_listener, shutdown.clone()),
        ),
        supervise(
            "records",
            &shutdown,
            episante_kit::service::serve(records_service, records_listener, shutdown.clone()),
        ),
        supervise(
            "bookings",
            &shutdown,
            episante_kit::service::serve(bookings_service, bookings_listener, shutdown.clone()),
        ),
        supervise(
            "notify",
            &shutdown,
            episante_kit::service::serve(notify_service, notify_listener, shutdown.clone()),
        ),
    ];
    let stop = shutdown.clone();
    tasks.push(supervise("gateway", &shutdown, async move {
        episante_gateway::serve_with_portal(gateway_listener, upstreams, portal, stop)
            .await
            .context("gateway")
    }));
    if let Some(auth_state) = demo_auth {
        let ward = crate::demo::DemoWard {
            records: records_url.clone(),
            registry: registry_url.clone(),
            auth: auth_url.clone(),
            notify: notify_url.clone(),
            mqtt_port,
            auth_state,
        };
        tokio::spawn(crate::demo::run(ward, shutdown.clone()));
    }
    let mut failed = false;
    for (name, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed = true;
                eprintln!("error: {name}: {e:#}");
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {name} task: {e}");
            }
        }
    }
    if let Err(e) = bus.close().await {
        failed = true;
        eprintln!("error: event bus: {e}");
    }
    let _ = std::fs::remove_file(&hint);
    println!("EpiSante stopped.");
    if failed {
        anyhow::bail!("a service failed");
    }
    Ok(())
}

/// The portal's built files: configured, else `web/dist` found from the working directory up.
fn portal_dir(config: &episante_gateway::config::GatewayConfig) -> Option<std::path::PathBuf> {
    if let Some(dir) = &config.portal_dir {
        return Some(dir.clone());
    }
    let here = std::env::current_dir().ok()?;
    here.ancestors()
        .map(|dir| dir.join("web/dist"))
        .find(|dist| dist.join("index.html").is_file())
}

/// `bind`'s port on `host` (a bind without a parsable port is left as it is: the listener will
/// say what is wrong with it).
fn on_host(bind: &str, host: std::net::IpAddr) -> String {
    match bind
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
    {
        Some(port) => std::net::SocketAddr::new(host, port).to_string(),
        None => bind.to_string(),
    }
}

fn write_hint(path: &std::path::Path, gateway_url: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        path,
        serde_json::json!({ "server": gateway_url }).to_string(),
    )
}

fn random_secret() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_binds_move_to_the_listen_address() {
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(on_host("0.0.0.0:8081", loopback), "127.0.0.1:8081");
        assert_eq!(
            on_host("0.0.0.0:80", "::".parse().unwrap()),
            "[::]:80".to_string()
        );
        assert_eq!(on_host("nonsense", loopback), "nonsense");
    }

    #[test]
    fn up_listens_on_loopback_unless_told_otherwise() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            up: UpArgs,
        }
        let default = Cli::try_parse_from(["up"]).unwrap();
        assert_eq!(default.up.listen.to_string(), "127.0.0.1");
        let open = Cli::try_parse_from(["up", "--listen", "0.0.0.0"]).unwrap();
        assert_eq!(open.up.listen.to_string(), "0.0.0.0");
        assert!(Cli::try_parse_from(["up", "--listen", "everywhere"]).is_err());
    }

    #[tokio::test]
    async fn a_taken_default_port_is_replaced_but_an_explicit_one_is_not() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let fallback = listen("auth", &addr, false).await.unwrap();
        assert_ne!(fallback.local_addr().unwrap().to_string(), addr);
        let err = listen("auth", &addr, true).await.unwrap_err();
        assert!(format!("{err:#}").contains("cannot listen"));
    }
}
