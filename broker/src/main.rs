//! `episante-broker`: the ingest broker alone (`episante up` runs it with the others).

use std::path::PathBuf;

use clap::Parser;
use episante_kit::telemetry::{self, LogFormat};
use episante_kit::{ConfigSource, Shutdown};

#[derive(Parser)]
#[command(version, about = "EpiSante ingest broker (MQTT over mTLS → Kafka)")]
struct Args {
    /// TOML config file (sections [broker], [kafka], [database], [tokens], [log]).
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
    let mut settings = episante_broker::config::Settings::from_source(&source)?;
    if let Some(format) = args.log_format {
        settings.log.format = format;
    }
    telemetry::init(&settings.log);
    let listener = episante_kit::server::bind(&settings.broker.http_bind).await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let service = episante_broker::build(settings, shutdown.clone()).await?;
    episante_broker::serve(service, listener, shutdown).await
}
