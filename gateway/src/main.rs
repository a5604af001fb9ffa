//! `episante-gateway`: the gateway alone — browser sessions, the web portal and `/api/v1/…`
//! routed to the services named in `[gateway.upstreams]` (compose's `portal` service on port
//! 3000; `episante up` runs the same gateway in-process).

use clap::Parser;
use episante_gateway::config::GatewayConfig;
use episante_gateway::Portal;
use episante_kit::service_args::ServiceArgs;
use episante_kit::telemetry::{self, LogConfig};
use episante_kit::Shutdown;

#[derive(Parser)]
#[command(
    version,
    about = "EpiSante gateway: web portal, browser sessions, one API address"
)]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let source = Cli::parse().args.config_source()?;
    let config: GatewayConfig = source.section("gateway")?;
    let log: LogConfig = source.section("log")?;
    telemetry::init(&log);
    let listener = episante_kit::server::bind(&config.bind).await?;
    tracing::info!(addr = %listener.local_addr()?, portal = ?config.portal_dir, "gateway listening");
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let portal = Portal {
        dir: config.portal_dir,
        behind_tls: config.behind_tls,
    };
    episante_gateway::serve_with_portal(listener, config.upstreams, portal, shutdown).await?;
    Ok(())
}
