//! `alerts` (list, act, watch the live stream) and `rules` (per-patient overrides).

use std::time::Duration;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use super::{query, read_json};
use crate::context::{rows, CliError, CliResult, Ctx, OutputFormat};

#[derive(Subcommand, Debug)]
pub enum AlertsCmd {
    /// Alerts you may see, most severe first.
    #[command(
        after_help = "Examples:\n  episante alerts list\n  episante alerts list --state all --severity critical\n  episante alerts list --assigned-to me -o json"
    )]
    List {
        /// open (default), active, acknowledged, resolved or all.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        patient: Option<String>,
        /// A clinician id, or `me`.
        #[arg(long)]
        assigned_to: Option<String>,
    },
    /// An alert with its history.
    #[command(after_help = "Example:\n  episante alerts get <id> -o json")]
    Get { id: String },
    /// Acknowledge an active alert.
    #[command(after_help = "Example:\n  episante alerts ack 8d1e…")]
    Ack { id: String },
    /// Resolve an alert with a note.
    #[command(
        after_help = "Example:\n  episante alerts resolve 8d1e… --note \"sensor repositioned\""
    )]
    Resolve {
        id: String,
        #[arg(long)]
        note: String,
    },
    /// Assign an alert (to yourself by default).
    #[command(
        after_help = "Example:\n  episante alerts assign <id>    # to me\n  episante alerts assign <id> --to <clinician-id>"
    )]
    Assign {
        id: String,
        #[arg(long)]
        to: Option<String>,
    },
    /// Follow alert events live (Ctrl-C to stop); resumes by itself after a disconnect.
    #[command(
        after_help = "Examples:\n  episante alerts watch\n  episante alerts watch -o json | jq .snapshot.severity"
    )]
    Watch {
        /// Start after this event id (replays what happened since).
        #[arg(long)]
        since: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesCmd {
    /// A patient's rule overrides and the effective rules.
    #[command(after_help = "Example:\n  episante rules get <patient-id>")]
    Get { patient: String },
    /// Replace a patient's overrides from a JSON file (`-` for stdin): `{"overrides": [...]}`.
    #[command(
        after_help = "Example file:\n  {\"overrides\": [{\"key\": \"heart_rate.high\", \"kind\": \"threshold\", \"vital\": \"heart_rate\",\n    \"direction\": \"above\", \"threshold\": 120, \"hysteresis\": 5, \"sustain_secs\": 60, \"severity\": \"high\"}]}\n\n\
        Example:\n  episante rules set 3f2c… --file rules.json"
    )]
    Set {
        patient: String,
        #[arg(long)]
        file: String,
    },
    /// Back to the defaults.
    #[command(after_help = "Example:\n  episante rules reset <patient-id>")]
    Reset { patient: String },
}

const COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("SEVERITY", "/severity"),
    ("STATE", "/state"),
    ("PATIENT", "/patient_id"),
    ("RULE", "/rule_key"),
    ("VALUE", "/last_value"),
    ("SEEN", "/occurrences"),
    ("SINCE", "/created_at"),
];

pub async fn run(ctx: &mut Ctx, cmd: AlertsCmd) -> CliResult {
    let (method, path, body) = match cmd {
        AlertsCmd::List {
            state,
            severity,
            patient,
            assigned_to,
        } => {
            let answer = ctx
                .client
                .get(&format!(
                    "/v1/alerts{}",
                    query(&[
                        ("state", state),
                        ("severity", severity),
                        ("patient_id", patient),
                        ("assigned_to", assigned_to)
                    ])
                ))
                .await?;
            ctx.list(&answer, &rows(&answer, "alerts"), COLUMNS);
            return Ok(());
        }
        AlertsCmd::Get { id } => (Method::GET, format!("/v1/alerts/{id}"), None),
        AlertsCmd::Ack { id } => (Method::POST, format!("/v1/alerts/{id}/acknowledge"), None),
        AlertsCmd::Resolve { id, note } => (
            Method::POST,
            format!("/v1/alerts/{id}/resolve"),
            Some(json!({"note": note})),
        ),
        AlertsCmd::Assign { id, to } => (
            Method::POST,
            format!("/v1/alerts/{id}/assign"),
            Some(match to {
                Some(c) => json!({"clinician_id": c}),
                None => json!({}),
            }),
        ),
        AlertsCmd::Watch { since } => return watch(ctx, since).await,
    };
    let answer = ctx.client.call(method, &path, body.as_ref()).await?;
    ctx.one(&answer);
    Ok(())
}

pub async fn rules(ctx: &mut Ctx, cmd: RulesCmd) -> CliResult {
    let (method, path, body) = match cmd {
        RulesCmd::Get { patient } => (
            Method::GET,
            format!("/v1/patients/{patient}/alert-rules"),
            None,
        ),
        RulesCmd::Set { patient, file } => {
            let body = read_json(&file)?;
            (
                Method::PUT,
                format!("/v1/patients/{patient}/alert-rules"),
                Some(body),
            )
        }
        RulesCmd::Reset { patient } => (
            Method::PUT,
            format!("/v1/patients/{patient}/alert-rules"),
            Some(json!({"overrides": []})),
        ),
    };
    let answer = ctx.client.call(method, &path, body.as_ref()).await?;
    match ctx.output {
        OutputFormat::Json => ctx.one(&answer),
        OutputFormat::Table => ctx.list(
            &answer,
            &rows(&answer, "effective"),
            &[
                ("KEY", "/key"),
                ("KIND", "/kind"),
                ("VITAL", "/vital"),
                ("DIRECTION", "/direction"),
                ("THRESHOLD", "/threshold"),
                ("SEVERITY", "/severity"),
            ],
        ),
    }
    Ok(())
}

fn print_event(ctx: &Ctx, event: &Value) {
    match ctx.output {
        OutputFormat::Json => println!("{event}"),
        OutputFormat::Table => {
            let a = &event["snapshot"];
            println!(
                "{}  {:<12} {:<8} {:<12} patient {}  {}  {}",
                event["at"].as_str().unwrap_or_default(),
                event["kind"].as_str().unwrap_or_default(),
                a["severity"].as_str().unwrap_or_default(),
                a["state"].as_str().unwrap_or_default(),
                a["patient_id"].as_str().unwrap_or_default(),
                a["rule_key"].as_str().unwrap_or_default(),
                a["last_value"],
            );
        }
    }
}

/// Follows the SSE stream, reconnecting with `Last-Event-ID` after any disconnect.
async fn watch(ctx: &mut Ctx, since: Option<i64>) -> CliResult {
    let mut last = since;
    let mut backoff = Duration::from_millis(500);
    loop {
        let headers: Vec<(&str, String)> = last
            .map(|id| vec![("last-event-id", id.to_string())])
            .unwrap_or_default();
        let response = match ctx
            .client
            .send(Method::GET, "/v1/alerts/stream", None, &headers)
            .await
        {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                return Err(episante_client::read(r)
                    .await
                    .err()
                    .map(CliError::from)
                    .unwrap_or_else(|| CliError::failed("stream refused")))
            }
            Err(episante_client::ClientError::Unreachable { server, reason }) => {
                if !ctx.quiet {
                    eprintln!("disconnected from {server} ({reason}); retrying in {backoff:?}");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(15));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        backoff = Duration::from_millis(500);
        ctx.note("watching alert events (Ctrl-C to stop)…");
        let mut response = response;
        let mut parser = episante_client::sse::SseParser::default();
        while let Ok(Some(chunk)) = response.chunk().await {
            for event in parser.feed(&chunk) {
                last = event.id.as_deref().and_then(|id| id.parse().ok()).or(last);
                if let Ok(event) = serde_json::from_str::<Value>(&event.data) {
                    print_event(ctx, &event);
                }
            }
        }
        if !ctx.quiet {
            eprintln!("stream ended; reconnecting…");
        }
        tokio::time::sleep(backoff).await;
    }
}
