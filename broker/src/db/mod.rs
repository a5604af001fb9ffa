//! The broker's database: the device registry.

pub mod devices;
pub mod health;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub const CONSTRAINTS: &[(&str, &str)] =
    &[("devices_pkey", "a device with this id already exists")];
