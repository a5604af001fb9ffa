//! `login`, `logout`, `whoami`.

use std::io::{BufRead, Write};

use clap::Args;

use crate::context::{CliError, CliResult, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  episante login --email admin@episante.local\n  \
    echo \"$PASSWORD\" | episante login --email ops@example.org --password-stdin\n  \
    EPISANTE_PASSWORD=... episante --server https://episante.example.org login --email me@example.org"
)]
pub struct LoginArgs {
    #[arg(long, env = "EPISANTE_EMAIL")]
    pub email: String,
    /// Read the password from the first line of stdin (else EPISANTE_PASSWORD, else a prompt).
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn login(ctx: &mut Ctx, args: LoginArgs) -> CliResult {
    let password = match std::env::var("EPISANTE_PASSWORD") {
        Ok(p) if !args.password_stdin => p,
        _ => {
            if !args.password_stdin {
                eprint!("password for {}: ", args.email);
                std::io::stderr().flush().ok();
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.is_empty() {
        return Err(CliError::usage("no password given"));
    }
    let session = ctx.client.login(&args.email, &password).await?;
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
