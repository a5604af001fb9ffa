//! Auth's database: queries only, no policy. Policy (lockout, reuse detection) lives in `http` and
//! `domain`; this layer keeps each statement atomic where the policy depends on it.

pub mod login_failures;
pub mod password_resets;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod service_clients;
pub mod sign_in_addresses;
pub mod users;

/// Migrations embedded in the binary, run at start by `episante_kit::db::provision`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Constraint names and the client-facing message for their violation.
pub const CONSTRAINTS: &[(&str, &str)] = &[
    ("users_email_key", "a user with this email already exists"),
    (
        "service_clients_pkey",
        "a service client with this id already exists",
    ),
];
