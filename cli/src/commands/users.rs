//! `users`: user administration (admin).

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::query;
use crate::context::{rows, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum UsersCmd {
    /// List users.
    #[command(
        after_help = "Examples:\n  episante users list\n  episante users list --role clinician -o json"
    )]
    List {
        #[arg(long)]
        role: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Create a user (the password comes from EPISANTE_NEW_PASSWORD or --password).
    #[command(
        after_help = "Example:\n  episante users create --email dr.house@example.org --name \"Gregory House\" --role clinician --password 'a long passphrase'"
    )]
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, clinician, patient, device or service.
        #[arg(long)]
        role: String,
        #[arg(long, env = "EPISANTE_NEW_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Show a user.
    #[command(after_help = "Example:\n  episante users get <id>")]
    Get { id: String },
    /// Deactivate a user (sessions revoked).
    #[command(after_help = "Example:\n  episante users deactivate <id>")]
    Deactivate { id: String },
}

const COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("EMAIL", "/email"),
    ("NAME", "/display_name"),
    ("ROLE", "/role"),
    ("ACTIVE", "/active"),
];

pub async fn run(ctx: &mut Ctx, cmd: UsersCmd) -> CliResult {
    match cmd {
        UsersCmd::List {
            role,
            limit,
            offset,
        } => {
            let path = format!(
                "/v1/auth/users{}",
                query(&[
                    ("role", role),
                    ("limit", Some(limit.to_string())),
                    ("offset", Some(offset.to_string()))
                ])
            );
            let answer = ctx.client.get(&path).await?;
            ctx.list(&answer, &rows(&answer, "users"), COLUMNS);
        }
        UsersCmd::Create {
            email,
            name,
            role,
            password,
        } => {
            let user = ctx
                .client
                .call(
                    Method::POST,
                    "/v1/auth/users",
                    Some(&json!({"email": email, "display_name": name, "role": role, "password": password})),
                )
                .await?;
            ctx.one(&user);
        }
        UsersCmd::Get { id } => {
            let user = ctx.client.get(&format!("/v1/auth/users/{id}")).await?;
            ctx.one(&user);
        }
        UsersCmd::Deactivate { id } => {
            let user = ctx
                .client
                .call(
                    Method::POST,
                    &format!("/v1/auth/users/{id}/deactivate"),
                    None,
                )
                .await?;
            ctx.one(&user);
        }
    }
    Ok(())
}
