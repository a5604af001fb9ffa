//! `login`, `logout`, `whoami`. Secrets are never echoed (`secrets`); accounts with a second
//! factor are asked for a code, and users whose role requires one and who have none enrol on the
//! spot (`mfa::enroll_with`).

use clap::Args;
use episante_client::LoginChallenge;

use super::mfa;
use super::secrets::read_secret;
use crate::context::{CliError, CliResult, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  episante login --email admin@episante.local\n  \
    echo \"$PASSWORD\" | episante login --email ops@example.org --password-stdin\n  \
    EPISANTE_PASSWORD=... EPISANTE_TOTP=123456 episante login --email me@example.org"
)]
pub struct LoginArgs {
    #[arg(long, env = "EPISANTE_EMAIL")]
    pub email: String,
    /// Read the password from the first line of stdin (else EPISANTE_PASSWORD, else a prompt
    /// that does not echo).
    #[arg(long)]
    pub password_stdin: bool,
    /// The one-time code of your authenticator app (else asked when the account needs one).
    #[arg(long, env = "EPISANTE_TOTP")]
    pub totp: Option<String>,
}

/// `totp` for a 6-digit code, else `recovery_code`.
fn code_field(code: &str) -> &'static str {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        "totp"
    } else {
        "recovery_code"
    }
}

pub async fn login(ctx: &mut Ctx, args: LoginArgs) -> CliResult {
    let password = match std::env::var("EPISANTE_PASSWORD") {
        Ok(p) if !args.password_stdin => p,
        _ if args.password_stdin => {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
        _ => read_secret(&format!("password for {}: ", args.email))?,
    };
    if password.is_empty() {
        return Err(CliError::usage("no password given"));
    }
    let mut code = args.totp.clone();
    let mut enrolled = false;
    let session = loop {
        let extra: Vec<(&str, &str)> = code
            .as_deref()
            .map(|c| vec![(code_field(c), c.trim())])
            .unwrap_or_default();
        match ctx
            .client
            .login_with(&args.email, &password, &extra)
            .await?
        {
            Ok(session) => break session,
            Err(LoginChallenge::Code) if code.is_none() => {
                code = Some(read_secret(
                    "one-time code from your authenticator app (or a recovery code): ",
                )?);
            }
            Err(LoginChallenge::Code) => {
                return Err(CliError::failed("the one-time code was not accepted"));
            }
            Err(LoginChallenge::Enrolment { token }) if !enrolled => {
                ctx.note("your role must log in with a second factor: let us enrol one now");
                mfa::enroll_with(ctx, Some(&token), &password).await?;
                enrolled = true;
                code = Some(read_secret(
                    "now a new code from the app (wait for it to change): ",
                )?);
            }
            Err(LoginChallenge::Enrolment { .. }) => {
                return Err(CliError::failed("enrolment did not complete"));
            }
        }
    };
    ctx.note(format!(
        "logged in to {} as {} (session stored in {})",
        session.server,
        session.email,
        episante_client::SessionStore::default_location()
            .path
            .display()
    ));
    if ctx.output == crate::context::OutputFormat::Json {
        println!(
            "{}",
            serde_json::json!({"server": session.server, "email": session.email, "expires_at": session.expires_at})
        );
    }
    Ok(())
}

pub async fn logout(ctx: &mut Ctx) -> CliResult {
    ctx.client.logout().await?;
    ctx.note("logged out");
    Ok(())
}

pub async fn whoami(ctx: &mut Ctx) -> CliResult {
    let me = ctx.client.get("/v1/auth/me").await?;
    ctx.one(&me);
    Ok(())
}
