//! Notify's tables (`migrations/`): the deliveries (messages and their log), what messages are
//! checked against at send time (appointments' and alerts' latest state), who cares for whom, and
//! each person's preferences.

pub mod alerts;
pub mod appointments;
pub mod care_teams;
pub mod deliveries;
pub mod preferences;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
