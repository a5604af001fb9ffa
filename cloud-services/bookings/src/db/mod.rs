//! Bookings' database: queries only, no policy. The invariants that must hold under concurrency
//! live in the schema (`migrations/`): the exclusion constraint against double booking, the
//! unique reminder per appointment and kind, the idempotency key per caller.

pub mod appointment_types;
pub mod appointments;
pub mod idempotency;
pub mod outbox;
pub mod practitioners;
pub mod waitlist;

// Statuses and time zones are stored as text and read back typed: a handler never re-parses one.
episante_kit::text_column!(
    crate::domain::appointment::Status,
    crate::domain::practitioner::TimeZone,
);

/// Migrations embedded in the binary, run at start by `episante_kit::db::provision`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Constraint names and the client-facing message for their violation (409).
pub const CONSTRAINTS: &[(&str, &str)] = &[
    (
        "appointments_no_overlap",
        "this slot is already booked (or overlaps a booked appointment)",
    ),
    (
        "practitioners_user_id_key",
        "this user already has a practitioner profile",
    ),
    (
        "appointment_types_name_key",
        "an appointment type with this name already exists",
    ),
];

/// Foreign-key violations in request bodies name things that do not exist: 422, not 500.
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}
