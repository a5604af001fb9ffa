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
use sqlx::{ConnectOptions, Connection, PgPool};

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
    // An admin account that is not a superuser (a managed PostgreSQL, or a server shared by
    // several services, each with a CREATEROLE CREATEDB admin) must be a member of the service
    // role to create the database it owns and to grant on its tables.
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut admin)
            .await?;
    if !superuser {
        sqlx::query(&format!("GRANT \"{}\" TO CURRENT_USER", db.role))
            .execute(&mut admin)
            .await
            .context("making the admin account a member of the service role")?;
    }

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

/// A schema inside a service database that the admin account owns and the service role may only
/// use as granted: where tamper-evident tables (audit trails) live.
///
/// The service role owns its database and its `public` schema, so it can drop or rewrite anything
/// it created there — ownership handed over afterwards ([`make_append_only`]) still leaves a table
/// in a schema the role controls. A table in a schema the admin created (and owns) cannot be
/// dropped, truncated, altered, updated or deleted by the service role; it gets `USAGE` on the
/// schema and exactly the table privileges listed here.
pub struct AdminSchema<'a> {
    /// Lowercase identifier.
    pub name: &'a str,
    /// Numbered DDL scripts, run once each and in order, by the admin account (applied versions
    /// are kept in `<name>.schema_migrations`, which the service role cannot read). Objects must
    /// be schema-qualified: scripts run with `search_path = pg_catalog, pg_temp`.
    pub migrations: &'a [(i64, &'a str)],
    /// Tables the service role may read and append to (SELECT, INSERT, and USAGE on their
    /// sequences).
    pub append_only: &'a [&'a str],
    /// Tables the service role may only read.
    pub read_only: &'a [&'a str],
}

/// Advisory lock serialising [`provision_admin_schema`] across instances ("adminsc" in ASCII).
const ADMIN_SCHEMA_LOCK: i64 = 0x61646d696e7363;

/// Creates (if needed) and migrates `schema` in the service database as the admin account of
/// `config.admin_url`, then sets the service role's privileges on it to exactly those listed.
/// Idempotent and safe to run from several instances at once; run it after every [`provision`].
///
/// Refuses to go on if the schema exists and belongs to the service role (a compromised service
/// could create it first, to own what the admin would put in it). The admin session pins
/// `search_path` to `pg_catalog, pg_temp`, so objects the service role plants in `public` are
/// never picked up by the admin's statements.
pub async fn provision_admin_schema(
    config: &DatabaseConfig,
    db: &ServiceDatabase,
    schema: &AdminSchema<'_>,
) -> anyhow::Result<()> {
    check_identifier("schema", schema.name)?;
    check_identifier("role", &db.role)?;
    let name = schema.name;
    let role = &db.role;
    let options = PgConnectOptions::from_str(config.admin_url.expose())
        .context("database.admin_url is not a valid PostgreSQL URL")?
        .database(&db.name);
    let mut admin = options
        .connect()
        .await
        .context("connecting to the service database as admin")?;
    sqlx::query("SET search_path = pg_catalog, pg_temp")
        .execute(&mut admin)
        .await?;
    let mut tx = admin.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ADMIN_SCHEMA_LOCK)
        .execute(&mut *tx)
        .await?;
    let owner: Option<(String, bool)> = sqlx::query_as(
        "SELECT pg_get_userbyid(nspowner)::text, pg_has_role(current_user, nspowner, 'MEMBER') \
         FROM pg_namespace WHERE nspname = $1",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    match owner {
        Some((owner, admin_is_owner)) if owner == *role || !admin_is_owner => bail!(
            "schema {name} in database {} belongs to {owner}, not to the admin account: refusing \
             to use it (did the service role create it?)",
            db.name
        ),
        Some(_) => {}
        None => {
            sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("creating schema {name}"))?;
        }
    }
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS \"{name}\".schema_migrations (\
         version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    ))
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> =
        sqlx::query_scalar(&format!("SELECT version FROM \"{name}\".schema_migrations"))
            .fetch_all(&mut *tx)
            .await?;
    let mut migrations = schema.migrations.to_vec();
    migrations.sort_by_key(|(version, _)| *version);
    for (version, sql) in migrations {
        if applied.contains(&version) {
            continue;
        }
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("admin migration {version} of schema {name}"))?;
        sqlx::query(&format!(
            "INSERT INTO \"{name}\".schema_migrations (version) VALUES ($1)"
        ))
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    let mut statements = vec![
        format!("REVOKE ALL ON SCHEMA \"{name}\" FROM PUBLIC, \"{role}\""),
        format!("GRANT USAGE ON SCHEMA \"{name}\" TO \"{role}\""),
        format!("REVOKE ALL ON ALL TABLES IN SCHEMA \"{name}\" FROM PUBLIC, \"{role}\""),
        format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA \"{name}\" FROM PUBLIC, \"{role}\""),
        format!("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA \"{name}\" FROM PUBLIC, \"{role}\""),
    ];
    for table in schema.append_only.iter().chain(schema.read_only) {
        check_identifier("table", table)?;
    }
    for table in schema.append_only {
        statements.push(format!(
            "GRANT SELECT, INSERT ON \"{name}\".\"{table}\" TO \"{role}\""
        ));
        let sequences: Vec<String> = sqlx::query_scalar(
            "SELECT s.relname::text FROM pg_class s JOIN pg_depend d ON d.objid = s.oid \
             JOIN pg_class t ON d.refobjid = t.oid JOIN pg_namespace n ON t.relnamespace = n.oid \
             WHERE s.relkind = 'S' AND t.relname = $1 AND n.nspname = $2",
        )
        .bind(table)
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        for seq in sequences {
            check_identifier("sequence", &seq)?;
            statements.push(format!(
                "GRANT USAGE, SELECT ON SEQUENCE \"{name}\".\"{seq}\" TO \"{role}\""
            ));
        }
    }
    for table in schema.read_only {
        statements.push(format!(
            "GRANT SELECT ON \"{name}\".\"{table}\" TO \"{role}\""
        ));
    }
    for statement in statements {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .with_context(|| statement.clone())?;
    }
    tx.commit().await?;
    admin.close().await.ok();
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
