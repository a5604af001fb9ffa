//! `episante`: one command for the whole platform.
//!
//! `episante up` runs every service in one process on one machine, with embedded defaults wherever
//! they can serve, so that trying EpiSante is one command. Every other command is an admin or
//! clinician operation over the HTTP API (through the gateway; never a database), scriptable:
//! `--output json` prints the API's JSON unchanged, and exit codes are 0 ok, 1 error, 2 usage,
//! 3 not found, 4 authentication required.

mod commands;
mod context;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use episante_runtime::service_args::ServiceArgs;

use crate::commands::alerts::{AlertsCmd, RulesCmd};
use crate::commands::audit::AuditCmd;
use crate::commands::bookings::{
    AppointmentsCmd, PractitionersCmd, SlotsCmd, TypesCmd, WaitlistCmd,
};
use crate::commands::devices::DevicesCmd;
use crate::commands::patients::PatientsCmd;
use crate::commands::session::LoginArgs;
use crate::commands::teams::TeamsCmd;
use crate::commands::users::UsersCmd;
use crate::context::{CliError, OutputFormat};

#[derive(Parser)]
#[command(
    name = "episante",
    version,
    about = "EpiSante remote-monitoring platform",
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 authentication required.\n\n\
        Examples:\n  episante up --demo\n  episante login --email admin@episante.local\n  \
        episante patients list --name dupont\n  episante alerts watch"
)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    /// The platform's address (its gateway).
    #[arg(long, global = true, env = "EPISANTE_SERVER")]
    server: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum)]
    output: Option<OutputFormat>,
    /// Print only results (no progress, no confirmations).
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole platform on this machine until Ctrl-C.
    #[command(
        after_help = "Examples:\n  episante up\n  episante up --demo\n  episante up --auth-port 9081 --gateway-port 8080\n  \
        EPISANTE_KAFKA__BROKERS=127.0.0.1:9092 episante up --log-format json"
    )]
    Up(episante_platform::UpArgs),
    /// Log in; the session is stored in the user's config directory (mode 0600).
    Login(LoginArgs),
    /// Forget (and revoke) the stored session.
    #[command(after_help = "Example:\n  episante logout")]
    Logout,
    /// Who the stored session is.
    #[command(
        after_help = "Examples:\n  episante whoami\n  episante whoami -o json | jq -r .role"
    )]
    Whoami,
    /// Your password: change it; admins issue reset tokens; reset with one.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante password change\n  episante password issue-reset <user-id>\n  episante password reset"
    )]
    Password(commands::password::PasswordCmd),
    /// Second factor (TOTP authenticator app): enrol yours; admins reset a lost one.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante mfa enroll\n  episante mfa reset <user-id>"
    )]
    Mfa(commands::mfa::MfaCmd),
    /// User administration (admin).
    #[command(
        subcommand,
        after_help = "Examples:\n  episante users list --role clinician\n  episante users create --email a@b.org --name \"Dr A\" --role clinician --password '…'\n  episante users deactivate <id>"
    )]
    Users(UsersCmd),
    /// Patient records.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante patients list --name dupont\n  episante patients get <id> -o json\n  episante patients import ward.csv"
    )]
    Patients(PatientsCmd),
    /// Care teams (admin).
    #[command(
        subcommand,
        after_help = "Examples:\n  episante teams create \"Ward 3\"\n  episante teams add-member <team> <clinician-id>\n  episante teams add-patient <team> <patient-id>"
    )]
    Teams(TeamsCmd),
    /// Device registry and assignment.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante devices register hub0042 -o json > creds.json\n  episante devices assign hub0042 --patient <id>\n  episante devices revoke hub0042"
    )]
    Devices(DevicesCmd),
    /// Practitioners and their availability.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante practitioners list --specialty cardiology\n  episante practitioners set-availability <id> --file week.json"
    )]
    Practitioners(PractitionersCmd),
    /// Appointment types.
    #[command(
        subcommand,
        name = "appointment-types",
        after_help = "Examples:\n  episante appointment-types list\n  episante appointment-types create --name Follow-up --minutes 20"
    )]
    AppointmentTypes(TypesCmd),
    /// Free slots.
    #[command(
        subcommand,
        after_help = "Example:\n  episante slots search --type <type-id> --from 2026-12-01 --to 2026-12-07"
    )]
    Slots(SlotsCmd),
    /// Appointments: book, cancel, reschedule.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante appointments book --practitioner <id> --type <type-id> --at 2026-12-02T09:00:00Z\n  episante appointments cancel <id>\n  episante appointments reschedule <id> --at 2026-12-03T14:00:00Z"
    )]
    Appointments(AppointmentsCmd),
    /// Waitlist.
    #[command(
        subcommand,
        after_help = "Example:\n  episante waitlist join --practitioner <id> --from 2026-12-01 --to 2026-12-15"
    )]
    Waitlist(WaitlistCmd),
    /// Alerts: list, acknowledge, resolve, assign, watch live.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante alerts list --severity critical\n  episante alerts ack <id>\n  episante alerts watch -o json"
    )]
    Alerts(AlertsCmd),
    /// Per-patient alert rules.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante rules get <patient-id>\n  episante rules set <patient-id> --file rules.json"
    )]
    Rules(RulesCmd),
    /// Notifications: your preferences (channels per kind, phone, quiet hours, on call) and the
    /// delivery log.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante notify prefs show\n  episante notify prefs set --phone +33612345678 --channel alert_page=sms,email\n  episante notify deliveries --status failed"
    )]
    Notify(commands::notify::NotifyCmd),
    /// The PII audit trail (admin).
    #[command(
        subcommand,
        after_help = "Examples:\n  episante audit list --patient <id>\n  episante audit verify"
    )]
    Audit(AuditCmd),
    /// The device-fleet simulator.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante sim run --registry http://127.0.0.1:8085 --token $TOKEN --devices 10 --scenario mixed --speed 60\n  episante sim bench --port 8883 --registry http://127.0.0.1:8085 --token $TOKEN"
    )]
    Sim(SimCmd),
    /// Shell completions.
    #[command(
        after_help = "Examples:\n  episante completions bash > /etc/bash_completion.d/episante\n  episante completions zsh > \"${fpath[1]}/_episante\""
    )]
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum SimCmd {
    /// A fleet of simulated patients' devices with labelled anomalies.
    #[command(
        after_help = "Examples:\n  episante sim run --registry http://127.0.0.1:8085 --token $TOKEN --devices 100\n  \
        episante sim run --scenario mixed --speed 60 --duration 120 --seed 7 --ground-truth truth.jsonl ..."
    )]
    Run(episante_sim::fleet::RunArgs),
    /// Raw MQTT publish benchmark (prints one JSON object).
    #[command(
        after_help = "Example:\n  episante sim bench --port 8883 --registry http://127.0.0.1:8085 --token $TOKEN --readings 50"
    )]
    Bench(episante_sim::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.exit_code()
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let command = match cli.command {
        Command::Up(args) => {
            return episante_platform::run(&cli.service, args)
                .await
                .map_err(CliError::from)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "episante",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        Command::Sim(SimCmd::Run(args)) => {
            return episante_sim::fleet::run(args).await.map_err(CliError::from)
        }
        Command::Sim(SimCmd::Bench(args)) => {
            return episante_sim::bench::run(args).await.map_err(CliError::from)
        }
        other => other,
    };
    let mut ctx = context::resolve(cli.server, cli.output, cli.quiet)?;
    let ctx = &mut ctx;
    match command {
        Command::Login(args) => commands::session::login(ctx, args).await,
        Command::Logout => commands::session::logout(ctx).await,
        Command::Whoami => commands::session::whoami(ctx).await,
        Command::Password(cmd) => commands::password::run(ctx, cmd).await,
        Command::Mfa(cmd) => commands::mfa::run(ctx, cmd).await,
        Command::Users(cmd) => commands::users::run(ctx, cmd).await,
        Command::Patients(cmd) => commands::patients::run(ctx, cmd).await,
        Command::Teams(cmd) => commands::teams::run(ctx, cmd).await,
        Command::Devices(cmd) => commands::devices::run(ctx, cmd).await,
        Command::Practitioners(cmd) => commands::bookings::practitioners(ctx, cmd).await,
        Command::AppointmentTypes(cmd) => commands::bookings::types(ctx, cmd).await,
        Command::Slots(cmd) => commands::bookings::slots(ctx, cmd).await,
        Command::Appointments(cmd) => commands::bookings::appointments(ctx, cmd).await,
        Command::Waitlist(cmd) => commands::bookings::waitlist(ctx, cmd).await,
        Command::Alerts(cmd) => commands::alerts::run(ctx, cmd).await,
        Command::Rules(cmd) => commands::alerts::rules(ctx, cmd).await,
        Command::Audit(cmd) => commands::audit::run(ctx, cmd).await,
        Command::Notify(cmd) => commands::notify::run(ctx, cmd).await,
        Command::Up(_) | Command::Completions { .. } | Command::Sim(_) => {
            unreachable!("handled above")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and subcommand shows examples in its `--help`.
    #[test]
    fn every_help_has_examples() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            let has = cmd
                .get_after_help()
                .is_some_and(|h| h.to_string().contains("Example"));
            if !has && cmd.get_name() != "help" {
                missing.push(path.clone());
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no examples in: {missing:#?}");
    }
}
