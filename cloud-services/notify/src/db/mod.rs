//! Notify's tables (`migrations/`): the deliveries (messages and their log) and the appointments'
//! latest state.

pub mod appointments;
pub mod deliveries;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
