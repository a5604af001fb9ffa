//! `episante-alerts`: runs the alerts service alone (`episante up` runs it with the others).
//! Start several with the same `[alerts] consumer_group` to share the partitions.

use clap::Parser;
use episante_kit::service_args::ServiceArgs;
use episante_kit::{telemetry, Shutdown};

#[derive(Parser)]
#[command(version, about = "EpiSante alerts service", long_about = None)]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let source = Cli::parse().args.config_source()?;
    let settings = episante_alerts::config::Settings::from_source(&source)?;
    telemetry::init(&settings.log);
    let listener = episante_kit::server::bind(&settings.alerts.bind).await?;
    let bus = episante_kit::events::connect(&settings.kafka)?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let service = episante_alerts::build(settings, bus, shutdown.clone()).await?;
    episante_alerts::serve(service, listener, shutdown).await
}
