//! `episante`: one command for the whole platform.
//!
//! `episante up` runs every service in one process on one machine, with embedded defaults wherever
//! they can serve, so that trying EpiSante is one command. Admin subcommands (talking only to the
//! HTTP APIs) join as their services arrive.

mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use episante_kit::service_args::ServiceArgs;

#[derive(Parser)]
#[command(
    name = "episante",
    version,
    about = "EpiSante remote-monitoring platform"
)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
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
            Command::Up(args) => up::run(&cli.service, args).await,
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
