//! Each service owns one PostgreSQL database, reached through its own role.
//!
//! [`provision`] turns an admin URL into a ready pool: it creates the service's role and database
//! when missing (the database owned by the role, `CONNECT` revoked from everybody else, so one
//! service cannot read another's tables), runs the service's embedded migrations as that role, and
//! connects as that role. Running it again is harmless, which is what makes restarts and
//! multi-instance starts boring.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::config::DatabaseConfig;
use crate::secret::Secret;

/// The database and role a service owns (a section field of each service's config).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceDatabase {
    pub name: String,
    pub role: String,
    /// The role's password. Unset, a fresh random one is set at every start — fine for one
    /// instance; several instances of a service must share a configured one.
    pub password: Option<Secret>,
}

impl ServiceDatabase {
    /// Database and role both named `name`.
    pub fn named(name: &str) -> Self {
        ServiceDatabase {
            name: name.to_string(),
            role: name.to_string(),
            password: None,
        }
    }
}

/// PostgreSQL identifiers we create are restricted so they can be quoted into DDL safely.
fn check_identifier(kind: &str, ident: &str) -> anyhow::Result<()> {
    let ok = !ident.is_empty()
        && ident.len() <= 63
        && ident.starts_with(|c: char| c.is_ascii_lowercase())
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!("{kind} name {ident:?} must be lowercase letters, digits and '_' (max 63)");
    }
    Ok(())
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// SQLSTATEs that mean "someone else created it first" during concurrent provisioning.
fn is_already_exists(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("42710") | Some("42P04") | Some("23505")))
}

/// Creates (if needed) and migrates the service database, returning a pool connected as its role.
pub async fn provision(
    config: &DatabaseConfig,
    db: &ServiceDatabase,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    check_identifier("database", &db.name)?;
    check_identifier("role", &db.role)?;
    let admin_options = PgConnectOptions::from_str(config.admin_url.expose())
        .context("database.admin_url is not a valid PostgreSQL URL")?;
    let mut admin = admin_options
        .clone()
        .log_statements(tracing::log::LevelFilter::Debug)
        .connect()
        .await
        .context("cannot connect to PostgreSQL with database.admin_url (is it running?)")?;

    let password = db
        .password
        .clone()
        .unwrap_or_else(|| Secret::new(Alphanumeric.sample_string(&mut rand::thread_rng(), 32)));

    let role_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&db.role)
            .fetch_one(&mut admin)
            .await?;
    if !role_exists {
        let created = sqlx::query(&format!("CREATE ROLE \"{}\" LOGIN", db.role))
            .execute(&mut admin)
            .await;
        if let Err(e) = created {
            if !is_already_exists(&e) {
                return Err(e).context("creating the service role");
            }
        }
    }
    sqlx::query(&format!(
        "ALTER ROLE \"{}\" LOGIN PASSWORD {}",
        db.role,
        quote_literal(password.expose())
    ))
    .execute(&mut admin)
    .await
    .context("setting the service role's password")?;

    let db_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&db.name)
            .fetch_one(&mut admin)
            .await?;
    if !db_exists {
        let created = sqlx::query(&format!(
            "CREATE DATABASE \"{}\" OWNER \"{}\"",
            db.name, db.role
        ))
        .execute(&mut admin)
        .await;
        if let Err(e) = created {
            if !is_already_exists(&e) {
                return Err(e).context("creating the service database");
            }
        }
    }
    sqlx::query(&format!(
        "REVOKE ALL ON DATABASE \"{}\" FROM PUBLIC",
        db.name
    ))
    .execute(&mut admin)
    .await?;
    admin.close().await.ok();

    let options = admin_options
        .username(&db.role)
        .password(password.expose())
        .database(&db.name)
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to database {} as {}", db.name, db.role))?;
    migrator
        .run(&pool)
        .await
        .with_context(|| format!("migrating database {}", db.name))?;
    Ok(pool)
}

/// Makes `tables` of a provisioned service database append-only for the service's own role.
///
/// Migrations run as the service role, so it owns what it creates — and an owner can always
/// UPDATE or DELETE. For tables that must be tamper-evident (audit trails), ownership is handed to
/// the administrative account of `config.admin_url` and the service role keeps only SELECT and
/// INSERT (plus USAGE on the tables' sequences, which move with their table). Idempotent; run it after every `provision`.
pub async fn make_append_only(
    config: &DatabaseConfig,
    db: &ServiceDatabase,
    tables: &[&str],
) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(config.admin_url.expose())
        .context("database.admin_url is not a valid PostgreSQL URL")?
        .database(&db.name);
    let mut admin = options
        .connect()
        .await
        .context("connecting to the service database as admin")?;
    for table in tables {
        check_identifier("table", table)?;
        let sequences: Vec<String> = sqlx::query_scalar(
            "SELECT s.relname::text FROM pg_class s JOIN pg_depend d ON d.objid = s.oid \
             JOIN pg_class t ON d.refobjid = t.oid \
             WHERE s.relkind = 'S' AND t.relname = $1",
        )
        .bind(table)
        .fetch_all(&mut admin)
        .await?;
        let mut statements = vec![
            format!("ALTER TABLE \"{table}\" OWNER TO CURRENT_USER"),
            format!("REVOKE ALL ON \"{table}\" FROM \"{}\"", db.role),
            format!("GRANT SELECT, INSERT ON \"{table}\" TO \"{}\"", db.role),
        ];
        for seq in sequences {
            check_identifier("sequence", &seq)?;
            statements.push(format!(
                "GRANT USAGE, SELECT ON SEQUENCE \"{seq}\" TO \"{}\"",
                db.role
            ));
        }
        for statement in statements {
            sqlx::query(&statement)
                .execute(&mut admin)
                .await
                .with_context(|| statement.clone())?;
        }
    }
    admin.close().await.ok();
    Ok(())
}

/// Drops a service database and its role (used by tests and `episante` reset commands).
pub async fn drop_database(admin_url: &str, name: &str, role: &str) -> anyhow::Result<()> {
    check_identifier("database", name)?;
    check_identifier("role", role)?;
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .execute(&mut admin)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("db", "episante_auth").is_ok());
        for bad in ["", "Auth", "a-b", "x\"; drop", "1abc"] {
            assert!(check_identifier("db", bad).is_err(), "{bad}");
        }
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
