//! EpiSante edge agent: the wearable hub's side of the telemetry spine.
//!
//! `input` turns sensor lines into readings, `buffer` keeps them on disk (checksummed, torn-write
//! safe, bounded), `agent` publishes them over MQTT and deletes them only when acknowledged,
//! `status` reports what the agent is doing. Configuration: `config` (section `[edge]`).

pub mod agent;
pub mod buffer;
pub mod config;
pub mod input;
pub mod status;
