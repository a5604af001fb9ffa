//! `devices`: the device registry (register, rotate, revoke) and assignment to patients.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use crate::context::{rows, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum DevicesCmd {
    /// List registered devices with their fleet health (online, last seen, hub backlog).
    #[command(
        after_help = "Examples:\n  episante devices list\n  episante devices list --offline   # silent hubs\n  episante devices list -o json"
    )]
    List {
        /// Only active devices with no open session.
        #[arg(long)]
        offline: bool,
    },
    /// Show a device.
    #[command(after_help = "Example:\n  episante devices get hub0042")]
    Get { id: String },
    /// Register a device; prints its one-time secret and mTLS certificate (keep them safe).
    #[command(
        after_help = "Examples:\n  episante devices register hub0042 --label \"Ward 3, bed 12\"\n  episante devices register hub0042 -o json > hub0042-credentials.json"
    )]
    Register {
        id: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// New secret and certificate; the old ones stop working at once.
    #[command(after_help = "Example:\n  episante devices rotate hub0042 -o json > new-creds.json")]
    Rotate { id: String },
    /// Revoke a device: it can no longer connect.
    #[command(after_help = "Example:\n  episante devices revoke hub0042")]
    Revoke { id: String },
    /// Assign a device to a patient.
    #[command(after_help = "Example:\n  episante devices assign hub0042 --patient 3f2c…")]
    Assign {
        id: String,
        #[arg(long)]
        patient: String,
    },
    /// Unassign a device from a patient.
    #[command(after_help = "Example:\n  episante devices unassign hub0042 --patient <id>")]
    Unassign {
        id: String,
        #[arg(long)]
        patient: String,
    },
}

pub async fn run(ctx: &mut Ctx, cmd: DevicesCmd) -> CliResult {
    let (method, path, body) = match cmd {
        DevicesCmd::List { offline } => {
            let path = if offline {
                "/v1/devices?offline=true"
            } else {
                "/v1/devices"
            };
            let answer = ctx.client.get(path).await?;
            ctx.list(
                &answer,
                &rows(&answer, "devices"),
                &[
                    ("ID", "/device_id"),
                    ("LABEL", "/label"),
                    ("ONLINE", "/online"),
                    ("LAST SEEN", "/last_seen_at"),
                    ("BACKLOG", "/backlog"),
                    ("REVOKED", "/revoked"),
                ],
            );
            return Ok(());
        }
        DevicesCmd::Get { id } => (Method::GET, format!("/v1/devices/{id}"), None),
        DevicesCmd::Register { id, label } => (
            Method::POST,
            "/v1/devices".into(),
            Some(json!({"device_id": id, "label": label})),
        ),
        DevicesCmd::Rotate { id } => (Method::POST, format!("/v1/devices/{id}/rotate"), None),
        DevicesCmd::Revoke { id } => (Method::POST, format!("/v1/devices/{id}/revoke"), None),
        DevicesCmd::Assign { id, patient } => (
            Method::POST,
            format!("/v1/patients/{patient}/devices"),
            Some(json!({"device_id": id})),
        ),
        DevicesCmd::Unassign { id, patient } => (
            Method::DELETE,
            format!("/v1/patients/{patient}/devices/{id}"),
            None,
        ),
    };
    let answer = ctx.client.call(method, &path, body.as_ref()).await?;
    if answer.is_null() {
        ctx.note("done");
    } else {
        ctx.one(&answer);
    }
    Ok(())
}
