//! `episante-sim`: loads EpiSante (or any MQTT broker) with simulated devices.
//!
//! `bench` is the raw, emqtt-bench-like mode: N devices publish M QoS 1 messages of R readings
//! each as fast as the broker accepts them, and the report gives messages/s, readings/s, PUBACK
//! latency and — against the EpiSante broker — end-to-end latency (publish → Kafka confirmed →
//! `acked_through` back at the device). Against a plain broker such as Mosquitto it measures the
//! same load with PUBACKs only, so the two can be compared in one run.

use clap::{Parser, Subcommand};
use episante_sim::{bench, fleet, storm};

#[derive(Parser)]
#[command(
    name = "episante-sim",
    version,
    about = "EpiSante device-fleet simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A fleet of simulated patients' devices publishing vitals, with labelled anomalies.
    #[command(
        after_help = "Examples:\n  episante-sim run --registry http://127.0.0.1:8085 --token $TOKEN --devices 100\n  \
        episante-sim run --scenario mixed --speed 60 --duration 120 --seed 7 --ground-truth truth.jsonl ...\n  \
        episante-sim run --host 127.0.0.1 --port 1883 --devices 1000   # plain MQTT, e.g. Mosquitto"
    )]
    Run(fleet::RunArgs),
    /// Raw MQTT publish benchmark (prints one JSON object).
    #[command(
        after_help = "Examples:\n  episante-sim bench --port 1883 --devices 100 --messages 1000\n  \
        episante-sim bench --port 8883 --registry http://127.0.0.1:8085 --token $TOKEN --readings 50"
    )]
    Bench(bench::BenchArgs),
    /// Connect storm: every device connecting at once (prints one JSON object per broker).
    #[command(
        after_help = "Example:\n  episante-sim storm --port 8883 --registry http://127.0.0.1:8085 --token $TOKEN --devices 10000 --peer-port 18883"
    )]
    Storm(storm::StormArgs),
}

fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Bench(args) => bench::run(args).await,
            Command::Run(args) => fleet::run(args).await,
            Command::Storm(args) => storm::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
