//! The `episante` binary as users run it, against a platform it starts itself (`episante up`) on
//! real PostgreSQL, with real signals.

mod client;
mod commands;
mod notify;
mod platform;
mod portal;
mod sessions;
mod up;
