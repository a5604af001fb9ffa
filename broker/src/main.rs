//! `episante-broker`: the ingest broker alone (`episante up` runs it with the others).

use clap::Parser;
use episante_kit::service::ServiceSettings;
use episante_kit::service_args::ServiceArgs;
use episante_kit::{telemetry, Shutdown};

#[derive(Parser)]
#[command(version, about = "EpiSante ingest broker (MQTT over mTLS → Kafka)")]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let source = Cli::parse().args.config_source()?;
    let settings = episante_broker::config::Settings::from_source(&source)?;
    telemetry::init(&settings.log);
    let listener = episante_kit::server::bind(&settings.broker.http_bind).await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let service = episante_broker::build(settings, shutdown.clone()).await?;
    episante_broker::serve(service, listener, shutdown).await
}
