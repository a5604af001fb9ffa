//! `episante up`: every service in one process.
//!
//! Defaults that serve on one machine: PostgreSQL at `DATABASE_URL` or 127.0.0.1:5432, signing
//! keys in a local 0600 file unless Vault is configured. A default port that is taken is replaced
//! by a free one (and said so); a port chosen explicitly must be free.

use anyhow::Context;
use clap::Args;
use episante_kit::service_args::ServiceArgs;
use episante_kit::telemetry;
use episante_kit::Shutdown;
use tokio::net::TcpListener;

#[derive(Args, Debug, Default)]
pub struct UpArgs {
    /// Port of the auth service (default 8081; `EPISANTE_AUTH__BIND` sets the whole address).
    #[arg(long)]
    pub auth_port: Option<u16>,
    /// Port of the broker's device-registry API (default 8085; `EPISANTE_BROKER__HTTP_BIND`).
    #[arg(long)]
    pub registry_port: Option<u16>,
    /// Port of the MQTT-over-mTLS listener (default 8883; `EPISANTE_BROKER__MQTT_BIND`).
    #[arg(long)]
    pub mqtt_port: Option<u16>,
}

/// Binds `bind`; if it was a default and is taken, binds a free port on the same host instead.
async fn listen(service: &str, bind: &str, explicit: bool) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(bind).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && !explicit => {
            let host = bind.rsplit_once(':').map_or("0.0.0.0", |(h, _)| h);
            let listener = TcpListener::bind(format!("{host}:0")).await?;
            eprintln!(
                "note: {bind} is taken; {service} listens on port {} instead",
                listener.local_addr()?.port()
            );
            Ok(listener)
        }
        Err(e) => Err(e).with_context(|| format!("{service} cannot listen on {bind}")),
    }
}

fn display_url(listener: &TcpListener) -> String {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    format!("http://127.0.0.1:{port}")
}

pub async fn run(service_args: &ServiceArgs, args: UpArgs) -> anyhow::Result<()> {
    let mut source = service_args.config_source()?;
    if let Some(port) = args.auth_port {
        source = source.with("auth.bind", format!("0.0.0.0:{port}"));
    }
    if let Some(port) = args.registry_port {
        source = source.with("broker.http_bind", format!("0.0.0.0:{port}"));
    }
    if let Some(port) = args.mqtt_port {
        source = source.with("broker.mqtt_bind", format!("0.0.0.0:{port}"));
    }
    let auth = episante_auth::config::Settings::from_source(&source)?;
    telemetry::init(&auth.log);

    let auth_listener = listen("auth", &auth.auth.bind, source.is_set("auth.bind")).await?;
    let auth_url = display_url(&auth_listener);
    // Other services verify tokens against this instance's JWKS.
    let data_dir = auth.auth.data_dir.clone();
    let service = episante_auth::build(auth).await.map_err(|e| {
        e.context(
            "the auth service could not start. PostgreSQL must be reachable at DATABASE_URL \
             (default postgres://postgres@127.0.0.1:5432/postgres); on Debian: \
             apt-get install postgresql, or run `docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`",
        )
    })?;

    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();

    // The broker verifies tokens against this auth instance unless told otherwise.
    let mut broker = episante_broker::config::Settings::from_source(&source)?;
    if !source.is_set("tokens.jwks_url") {
        broker.tokens.jwks_url = format!("{auth_url}/.well-known/jwks.json");
    }
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
    let broker_service = episante_broker::build(broker, shutdown.clone()).await?;
    let mqtt_port = broker_service.mqtt_addr.port();
    let bus = broker_service.bus.describe();

    println!("EpiSante is up. Ctrl-C stops everything.");
    println!("  auth     {auth_url}   (JWKS {auth_url}/.well-known/jwks.json, API {auth_url}/openapi.json)");
    println!("  devices  {registry_url}   (device registry, API {registry_url}/openapi.json)");
    println!("  mqtt     mqtts://localhost:{mqtt_port}   (mutual TLS; credentials from POST {registry_url}/v1/devices)");
    println!("  events   {bus}");
    println!("  metrics  {auth_url}/metrics  {registry_url}/metrics");
    if let Some(admin) = &service.bootstrap {
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

    // Whichever service stops first (error or signal) stops the others.
    let stop = shutdown.clone();
    let auth_task = tokio::spawn(async move {
        let result = episante_auth::serve(service, auth_listener, stop.clone()).await;
        stop.trigger();
        result
    });
    let stop = shutdown.clone();
    let broker_task = tokio::spawn(async move {
        let result = episante_broker::serve(broker_service, registry_listener, stop.clone()).await;
        stop.trigger();
        result
    });
    let (auth_result, broker_result) = tokio::join!(auth_task, broker_task);
    auth_result.context("auth service task")??;
    broker_result.context("broker task")??;
    println!("EpiSante stopped.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
