//! The ingest spine against real servers: the broker (our MQTT front door on rumqttd's router)
//! with its own database,
//! the auth service for tokens, a tansu Kafka broker, and real MQTT clients (rumqttc and
//! Mosquitto's `mosquitto_pub`).

mod helpers;

mod bridge;
mod crash;
mod device_edge;
mod registry;
mod security;
mod shared_ca;
