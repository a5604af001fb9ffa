//! `episante-auth`: runs the auth service alone (`episante up` runs it with the others).

use std::path::PathBuf;

use clap::Parser;
use episante_kit::telemetry::{self, LogFormat};
use episante_kit::{ConfigSource, Shutdown};

#[derive(Parser)]
#[command(version, about = "EpiSante auth service", long_about = None)]
struct Args {
    /// TOML config file (sections [auth], [database], [tokens], [vault], [log]).
    #[arg(long, env = "EPISANTE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: json (for Loki) or pretty.
    #[arg(long)]
    log_format: Option<LogFormat>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let source = ConfigSource::load(args.config.as_deref())?;
    let mut settings = episante_auth::config::Settings::from_source(&source)?;
    if let Some(format) = args.log_format {
        settings.log.format = format;
    }
    telemetry::init(&settings.log);
    let listener = episante_kit::server::bind(&settings.auth.bind).await?;
    let service = episante_auth::build(settings).await?;
    if let Some(admin) = &service.bootstrap {
        match &admin.generated_password {
            Some(password) => eprintln!(
                "first admin created: {} / {password}  (shown once; change it)",
                admin.email
            ),
            None => eprintln!("first admin created: {} (configured password)", admin.email),
        }
    }
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    episante_auth::serve(service, listener, shutdown).await
}
