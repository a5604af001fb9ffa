//! The bookings service's configuration: section `[bookings]` plus the shared `[database]`,
//! `[tokens]`, `[kafka]` and `[log]` sections (see `episante_kit::config`).
//!
//! The booking rules are configuration, not code, because clinics differ: how late a patient may
//! cancel, how far apart two appointments of one specialty must be, how long a freed slot is held
//! for the first patient on the waitlist.

use episante_kit::db::ServiceDatabase;
use episante_kit::events::EventBusConfig;
use episante_kit::service::ServiceSettings;
use episante_kit::telemetry::LogConfig;
use episante_kit::{DatabaseConfig, TokenConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BookingsConfig {
    /// HTTP listen address (`EPISANTE_BOOKINGS__BIND`).
    pub bind: String,
    pub database: ServiceDatabase,
    /// A patient may cancel or reschedule until this many hours before the appointment
    /// (admins may always cancel). Doctolib's default is 4 h.
    pub cancellation_window_hours: u32,
    /// A patient cannot hold two active appointments of the same specialty whose starts are
    /// less than this many days apart; 0 turns the rule off.
    pub same_specialty_min_days: u32,
    /// How long a slot freed by a cancellation is held for the first patient on the waitlist.
    pub waitlist_hold_secs: u64,
    /// Longest date range one slot search may span.
    pub max_search_days: u32,
    /// How often the outbox relay looks for due rows when nothing wakes it earlier.
    pub relay_interval_ms: u64,
    /// Outbox rows published per relay transaction.
    pub relay_batch: i64,
    /// Idempotency keys are remembered this long.
    pub idempotency_ttl_hours: u32,
}

impl Default for BookingsConfig {
    fn default() -> Self {
        BookingsConfig {
            bind: "0.0.0.0:8083".into(),
            database: ServiceDatabase::named("episante_bookings"),
            cancellation_window_hours: 4,
            same_specialty_min_days: 7,
            waitlist_hold_secs: 900,
            max_search_days: 31,
            relay_interval_ms: 500,
            relay_batch: 100,
            idempotency_ttl_hours: 24,
        }
    }
}

/// Everything the bookings service reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub bookings: BookingsConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub kafka: EventBusConfig,
    pub log: LogConfig,
}

impl ServiceSettings for Settings {
    fn bind(&self) -> &str {
        &self.bookings.bind
    }

    fn log(&self) -> &LogConfig {
        &self.log
    }
}
