//! `episante-auth`: runs the auth service alone (`episante up` runs it with the others).

use clap::Parser;
use episante_kit::service_args::ServiceArgs;
use episante_kit::{telemetry, Shutdown};

#[derive(Parser)]
#[command(version, about = "EpiSante auth service", long_about = None)]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let source = Cli::parse().args.config_source()?;
    let settings = episante_auth::config::Settings::from_source(&source)?;
    telemetry::init(&settings.log);
    let listener = episante_kit::server::bind(&settings.auth.bind).await?;
    let bus_config: episante_kit::events::EventBusConfig = source.section("kafka")?;
    let bus = episante_kit::events::connect(&bus_config)?;
    let shutdown = Shutdown::new();
    let service = episante_auth::build_with_bus(settings, bus, shutdown.clone()).await?;
    if let Some(admin) = &service.bootstrap {
        match &admin.generated_password {
            Some(password) => eprintln!(
                "first admin created: {} / {password}  (shown once; change it)",
                admin.email
            ),
            None => eprintln!("first admin created: {} (configured password)", admin.email),
        }
    }
    shutdown.trigger_on_signals();
    episante_auth::serve(service, listener, shutdown).await
}
