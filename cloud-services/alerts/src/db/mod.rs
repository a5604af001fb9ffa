//! Queries, one module per concern; migrations in `../migrations`.

pub mod alerts;
pub mod routing;
pub mod rules;
pub mod telemetry;
pub mod webhooks;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
