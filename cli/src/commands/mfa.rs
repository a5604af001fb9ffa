//! `episante mfa enroll` (the caller's authenticator app) and `episante mfa reset` (admin, for a
//! lost one). Enrolment shows the secret and `otpauth://` URI once, asks for a first code, and
//! prints the ten recovery codes once.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::secrets::read_secret;
use crate::context::{CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum MfaCmd {
    /// Enrol an authenticator app (TOTP) as your second factor.
    #[command(after_help = "Example:\n  episante mfa enroll")]
    Enroll,
    /// Remove a user's second factor and end their sessions (admin; lost authenticator).
    #[command(after_help = "Example:\n  episante mfa reset <user-id>")]
    Reset { user_id: String },
}

pub async fn run(ctx: &mut Ctx, cmd: MfaCmd) -> CliResult {
    match cmd {
        MfaCmd::Enroll => {
            let password = read_secret("your password: ")?;
            enroll_with(ctx, None, &password).await
        }
        MfaCmd::Reset { user_id } => {
            ctx.client
                .call(
                    Method::POST,
                    &format!("/v1/auth/users/{}/mfa/reset", super::q(&user_id)),
                    None,
                )
                .await?;
            ctx.note("second factor removed; the user's sessions have ended");
            Ok(())
        }
    }
}

/// Enrols with the stored session, or with an enrolment-only `token` (at login).
pub async fn enroll_with(ctx: &mut Ctx, token: Option<&str>, password: &str) -> CliResult {
    let body = json!({ "password": password });
    let enrolment = match token {
        Some(t) => {
            ctx.client
                .call_as(Some(t), Method::POST, "/v1/auth/mfa/enroll", Some(&body))
                .await?
        }
        None => {
            ctx.client
                .call(Method::POST, "/v1/auth/mfa/enroll", Some(&body))
                .await?
        }
    };
    eprintln!(
        "Add this account to your authenticator app (shown once):\n  secret: {}\n  URI:    {}",
        enrolment["secret"].as_str().unwrap_or_default(),
        enrolment["otpauth_uri"].as_str().unwrap_or_default()
    );
    let code = read_secret("code shown by the app: ")?;
    let body = json!({ "code": code.trim() });
    let confirmed = match token {
        Some(t) => {
            ctx.client
                .call_as(Some(t), Method::POST, "/v1/auth/mfa/confirm", Some(&body))
                .await?
        }
        None => {
            ctx.client
                .call(Method::POST, "/v1/auth/mfa/confirm", Some(&body))
                .await?
        }
    };
    eprintln!(
        "Second factor enabled. Recovery codes (each works once; shown once, keep them safe):"
    );
    for code in confirmed["recovery_codes"].as_array().into_iter().flatten() {
        println!("  {}", code.as_str().unwrap_or_default());
    }
    Ok(())
}
