//! `episante-edge`: run the edge agent, or show its status.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use episante_edge::agent::Agent;
use episante_edge::config::EdgeConfig;
use episante_edge::input::{self, InputCounters};
use episante_edge::status::AgentStatus;
use episante_runtime::service_args::ServiceArgs;
use episante_runtime::telemetry::{self, LogConfig};
use episante_runtime::Shutdown;

#[derive(Parser)]
#[command(
    name = "episante-edge",
    version,
    about = "EpiSante edge agent for wearable hubs"
)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Debug, ValueEnum)]
enum Output {
    Table,
    Json,
    Prometheus,
}

#[derive(Subcommand)]
enum Command {
    /// Buffer sensor readings and publish them until Ctrl-C / SIGTERM.
    #[command(
        after_help = "Input lines: {\"kind\":\"heart_rate\",\"value\":72,\"ts_ms\":1764000000000}\n\
        Examples:\n  episante-edge --config hub.toml run --input stdin\n  \
        episante-edge run --input unix:/run/episante/sensors.sock\n  episante-edge run --simulate 1000"
    )]
    Run {
        /// `stdin` or `unix:PATH` (line-delimited JSON).
        #[arg(long, default_value = "stdin", conflicts_with = "simulate")]
        input: String,
        /// Demo mode: simulated sensors, one reading of each vital every N ms.
        #[arg(long, value_name = "MS")]
        simulate: Option<u64>,
    },
    /// Show the running (or last) agent's status.
    Status {
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
        /// Status file (default: from the config's buffer dir).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let source = cli.service.config_source()?;
    let config: EdgeConfig = source.section("edge")?;
    match cli.command {
        Command::Status { output, file } => {
            let status = AgentStatus::read(&file.unwrap_or_else(|| config.status_path()))?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&status)?),
                Output::Prometheus => print!("{}", status.to_prometheus()),
                Output::Table => {
                    let age = |ms: Option<i64>| {
                        ms.map_or("-".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
                    };
                    println!("device            {}", status.device_id);
                    println!("running           {}", status.online);
                    println!("connection        {}", status.connection);
                    println!("agent version     {}", status.agent_version);
                    println!("stream epoch      {}", status.epoch);
                    println!(
                        "buffered          {} readings ({} bytes on disk)",
                        status.buffered, status.buffer_disk_bytes
                    );
                    println!("oldest unsent     {}", age(status.oldest_unsent_age_ms));
                    println!("acked through     seq {}", status.acked_through);
                    println!(
                        "last ack          {}",
                        age(status.last_ack_at_ms.map(|t| status.updated_at_ms - t))
                    );
                    println!("dropped (full)    {}", status.dropped_full);
                    println!("input rejected    {}", status.input_rejected);
                }
            }
            Ok(())
        }
        Command::Run { input, simulate } => {
            let log: LogConfig = source.section("log")?;
            telemetry::init(&log);
            let counters = Arc::new(InputCounters::default());
            let agent = Agent::open(config, counters.clone())?;
            let (tx, rx) = tokio::sync::mpsc::channel(10_000);
            match (simulate, input.as_str()) {
                (Some(ms), _) => {
                    tokio::spawn(input::simulate(tx, Duration::from_millis(ms.max(1)), 42));
                }
                (None, "stdin") => {
                    tokio::spawn(input::read_stdin(tx, counters));
                }
                (None, other) => {
                    let path = other
                        .strip_prefix("unix:")
                        .ok_or_else(|| {
                            anyhow::anyhow!("--input must be stdin or unix:PATH, not {other:?}")
                        })?
                        .to_string();
                    tokio::spawn(async move {
                        if let Err(e) =
                            input::serve_unix(std::path::Path::new(&path), tx, counters).await
                        {
                            tracing::error!(error = %e, "sensor socket failed");
                        }
                    });
                }
            }
            let shutdown = Shutdown::new();
            shutdown.trigger_on_signals();
            agent.run(rx, shutdown).await
        }
    }
}
