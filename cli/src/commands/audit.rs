//! `audit`: the PII access trail (admin).

use clap::Subcommand;
use reqwest::Method;

use super::query;
use crate::context::{exit, rows, CliError, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// List audit entries, oldest first.
    #[command(
        after_help = "Examples:\n  episante audit list --patient 3f2c…\n  episante audit list --actor <user-id> --after 1200 -o json"
    )]
    List {
        #[arg(long)]
        patient: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        /// Entries after this sequence number.
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Check the hash chain; exits 1 if it is broken.
    #[command(after_help = "Example:\n  episante audit verify || alert-the-dpo")]
    Verify,
}

pub async fn run(ctx: &mut Ctx, cmd: AuditCmd) -> CliResult {
    match cmd {
        AuditCmd::List {
            patient,
            actor,
            after,
            limit,
        } => {
            let path = format!(
                "/v1/audit{}",
                query(&[
                    ("patient_id", patient),
                    ("actor", actor),
                    ("after_seq", after.map(|a| a.to_string())),
                    ("limit", Some(limit.to_string())),
                ])
            );
            let answer = ctx.client.get(&path).await?;
            ctx.list(
                &answer,
                &rows(&answer, "items"),
                &[
                    ("SEQ", "/seq"),
                    ("AT", "/at"),
                    ("ACTOR", "/actor"),
                    ("ROLE", "/actor_role"),
                    ("PATIENT", "/patient_id"),
                    ("ACTION", "/action"),
                    ("PURPOSE", "/purpose"),
                ],
            );
        }
        AuditCmd::Verify => {
            let verdict = ctx
                .client
                .call(Method::POST, "/v1/audit/verify", None)
                .await?;
            ctx.one(&verdict);
            if verdict["intact"] != true {
                // The service says what is wrong (a broken link, or entries removed since the
                // checkpoint); the entry number alone would be `null` for a truncation.
                let what = verdict["problem"].as_str().map_or_else(
                    || format!("broken at entry {}", verdict["first_broken_seq"]),
                    str::to_string,
                );
                return Err(CliError {
                    message: format!("the audit trail is not intact: {what}"),
                    code: exit::ERROR,
                });
            }
        }
    }
    Ok(())
}
