//! `teams`: care teams (admin) — who looks after whom.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use crate::context::{rows, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum TeamsCmd {
    /// List care teams.
    #[command(after_help = "Example:\n  episante teams list")]
    List,
    /// Create a care team.
    #[command(after_help = "Example:\n  episante teams create \"Cardiology ward\"")]
    Create { name: String },
    /// Show a team with its members and patients.
    #[command(after_help = "Example:\n  episante teams get <team-id>")]
    Get { id: String },
    /// Add a clinician (user id) to a team.
    #[command(after_help = "Example:\n  episante teams add-member <team-id> <clinician-id>")]
    AddMember { team: String, clinician: String },
    /// Remove a clinician from a team.
    #[command(after_help = "Example:\n  episante teams remove-member <team-id> <clinician-id>")]
    RemoveMember { team: String, clinician: String },
    /// Put a patient in the team's care.
    #[command(after_help = "Example:\n  episante teams add-patient <team-id> <patient-id>")]
    AddPatient { team: String, patient: String },
    /// Take a patient out of the team's care.
    #[command(after_help = "Example:\n  episante teams remove-patient <team-id> <patient-id>")]
    RemovePatient { team: String, patient: String },
}

pub async fn run(ctx: &mut Ctx, cmd: TeamsCmd) -> CliResult {
    let (method, path, body) = match cmd {
        TeamsCmd::List => {
            let answer = ctx.client.get("/v1/care-teams").await?;
            ctx.list(
                &answer,
                &rows(&answer, "items"),
                &[("ID", "/id"), ("NAME", "/name"), ("CREATED", "/created_at")],
            );
            return Ok(());
        }
        TeamsCmd::Create { name } => (
            Method::POST,
            "/v1/care-teams".to_string(),
            Some(json!({"name": name})),
        ),
        TeamsCmd::Get { id } => (Method::GET, format!("/v1/care-teams/{id}"), None),
        TeamsCmd::AddMember { team, clinician } => (
            Method::PUT,
            format!("/v1/care-teams/{team}/members/{clinician}"),
            None,
        ),
        TeamsCmd::RemoveMember { team, clinician } => (
            Method::DELETE,
            format!("/v1/care-teams/{team}/members/{clinician}"),
            None,
        ),
        TeamsCmd::AddPatient { team, patient } => (
            Method::PUT,
            format!("/v1/care-teams/{team}/patients/{patient}"),
            None,
        ),
        TeamsCmd::RemovePatient { team, patient } => (
            Method::DELETE,
            format!("/v1/care-teams/{team}/patients/{patient}"),
            None,
        ),
    };
    let answer = ctx.client.call(method, &path, body.as_ref()).await?;
    ctx.one(&answer);
    Ok(())
}
