//! Alerts tests against real servers: PostgreSQL, tansu (Kafka protocol) where the bus matters,
//! and the auth service.

mod api;
mod consumer;
mod helpers;
mod notify;
mod scenarios;
mod stream;
