//! Queries, one module per concern; migrations in `../migrations`.

pub mod alerts;
pub mod routing;
pub mod rules;
pub mod telemetry;
pub mod webhooks;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

use crate::domain::alert::{AlertState, EventKind, Severity};

// Severity, state and event kind are `text` columns read back as their enums.
episante_kit::text_column!(Severity, AlertState, EventKind);
