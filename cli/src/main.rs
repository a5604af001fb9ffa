//! `episante`: one command for the whole platform.
//!
//! `episante up` runs every service in one process on one machine, with embedded defaults wherever
//! they can serve, so that trying EpiSante is one command. Admin subcommands (talking only to the
//! HTTP APIs) join as their services arrive.

mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use episante_kit::telemetry::LogFormat;

#[derive(Parser)]
#[command(
    name = "episante",
    version,
    about = "EpiSante remote-monitoring platform"
)]
struct Cli {
    /// TOML config file shared by all services (also `EPISANTE_CONFIG`).
    #[arg(long, global = true, env = "EPISANTE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: json (for Loki) or pretty.
    #[arg(long, global = true)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole platform on this machine until Ctrl-C.
    #[command(
        after_help = "Examples:\n  episante up\n  episante up --auth-port 9081\n  \
        DATABASE_URL=postgres://postgres@db:5432/postgres episante up --log-format json"
    )]
    Up(up::UpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up::run(cli.config.as_deref(), cli.log_format, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
