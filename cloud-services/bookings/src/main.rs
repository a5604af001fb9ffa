//! `episante-bookings`: runs the bookings service alone (`episante up` runs it with the others).

use clap::Parser;
use episante_kit::service_args::ServiceArgs;
use episante_kit::{telemetry, Shutdown};
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;

#[derive(Parser)]
#[command(version, about = "EpiSante bookings service", long_about = None)]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let source = Cli::parse().args.config_source()?;
    let settings = episante_bookings::config::Settings::from_source(&source)?;
    telemetry::init(&settings.log);
    let listener = episante_kit::server::bind(&settings.bookings.bind).await?;
    let bus = episante_kit::events::connect(&settings.kafka)?;
    bus.ensure_topics(&[KAFKA_BOOKING_EVENTS]).await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let service = episante_bookings::build(settings, bus, shutdown.clone()).await?;
    episante_bookings::serve(service, listener, shutdown).await
}
