//! The ingest spine against real servers: the broker (embedded rumqttd) with its own database,
//! the auth service for tokens, a tansu Kafka broker, and real MQTT clients (rumqttc and
//! Mosquitto's `mosquitto_pub`).

mod helpers;

mod bridge;
mod crash;
mod registry;
mod security;
