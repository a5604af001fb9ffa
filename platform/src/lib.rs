//! The whole platform in one process: `episante up` (auth, records, alerts, bookings, the broker
//! and the gateway on one machine, one shared event bus) and its `--demo` ward.
//!
//! A crate of its own so that the admin CLI's commands depend on the HTTP client alone: only
//! this crate links every service, and only the demo mints tokens through auth's key ring
//! (in-process, no password needed).

mod demo;
pub mod up;

pub use up::{run, UpArgs};
