//! `episante up`: every service in one process.
//!
//! Defaults that serve on one machine: PostgreSQL at `DATABASE_URL` or 127.0.0.1:5432, signing
//! keys in a local 0600 file unless Vault is configured. A default port that is taken is replaced
//! by a free one (and said so); a port chosen explicitly must be free.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use episante_kit::telemetry::{self, LogFormat};
use episante_kit::{ConfigSource, Shutdown};
use tokio::net::TcpListener;

#[derive(Args, Debug, Default)]
pub struct UpArgs {
    /// Port of the auth service (default 8081; `EPISANTE_AUTH__BIND` sets the whole address).
    #[arg(long)]
    pub auth_port: Option<u16>,
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

pub async fn run(
    config: Option<&Path>,
    log_format: Option<LogFormat>,
    args: UpArgs,
) -> anyhow::Result<()> {
    let mut source = ConfigSource::load(config)?;
    if let Some(port) = args.auth_port {
        source = source.with("auth.bind", format!("0.0.0.0:{port}"));
    }
    let mut auth = episante_auth::config::Settings::from_source(&source)?;
    if let Some(format) = log_format {
        auth.log.format = format;
    }
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

    println!("EpiSante is up. Ctrl-C stops everything.");
    println!("  auth     {auth_url}   (JWKS {auth_url}/.well-known/jwks.json, API {auth_url}/openapi.json)");
    println!("  metrics  {auth_url}/metrics   health {auth_url}/health   ready {auth_url}/ready");
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

    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let auth_task = tokio::spawn(episante_auth::serve(
        service,
        auth_listener,
        shutdown.clone(),
    ));
    let result = auth_task.await.context("auth service task")?;
    shutdown.trigger();
    result?;
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
