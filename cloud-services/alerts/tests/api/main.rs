//! Alerts tests against real servers: PostgreSQL, tansu (Kafka protocol) where the bus matters,
//! and the auth service.

mod api;
mod consumer;
mod epochs;
mod helpers;
mod holds;
mod notify;
mod scenarios;
mod session_end;
mod stream;
