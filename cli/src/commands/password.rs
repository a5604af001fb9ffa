//! `episante password change` (yours), `issue-reset` (admin: a one-time reset token for a user)
//! and `reset` (set a new password with such a token). Nothing secret is echoed.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::secrets::{read_new_password, read_secret};
use crate::context::{CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum PasswordCmd {
    /// Change your password (your other sessions end).
    #[command(after_help = "Example:\n  episante password change")]
    Change,
    /// Issue a one-time password-reset token for a user (admin); hand it over out of band.
    #[command(
        name = "issue-reset",
        after_help = "Example:\n  episante password issue-reset <user-id>"
    )]
    IssueReset { user_id: String },
    /// Set a new password with a reset token (asked for without echo).
    #[command(after_help = "Example:\n  episante password reset")]
    Reset,
}

pub async fn run(ctx: &mut Ctx, cmd: PasswordCmd) -> CliResult {
    match cmd {
        PasswordCmd::Change => {
            let current = read_secret("current password: ")?;
            let new = read_new_password("new password (12+ characters): ")?;
            ctx.client
                .call(
                    Method::POST,
                    "/v1/auth/password",
                    Some(&json!({ "current_password": current, "new_password": new })),
                )
                .await?;
            ctx.note("password changed; your other sessions have ended");
        }
        PasswordCmd::IssueReset { user_id } => {
            let issued = ctx
                .client
                .call(
                    Method::POST,
                    &format!("/v1/auth/users/{}/password-reset", super::q(&user_id)),
                    None,
                )
                .await?;
            ctx.one(&issued);
        }
        PasswordCmd::Reset => {
            let token = read_secret("reset token: ")?;
            let new = read_new_password("new password (12+ characters): ")?;
            ctx.client
                .call_as(
                    None,
                    Method::POST,
                    "/v1/auth/password/reset",
                    Some(&json!({ "reset_token": token.trim(), "new_password": new })),
                )
                .await?;
            ctx.note("password set; log in with it");
        }
    }
    Ok(())
}
