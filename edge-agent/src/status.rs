//! The agent's local status: written to a file every second (what `episante-edge status` shows)
//! and published on the device's status topic as the heartbeat.
//!
//! Fields are only ever added, each with a default, so heartbeats and status files of older agents
//! still parse.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentStatus {
    pub device_id: String,
    pub online: bool,
    /// `connected`, `connecting` or `disconnected`.
    pub connection: String,
    /// The agent's version (`CARGO_PKG_VERSION`); empty from agents that predate the field.
    #[serde(default)]
    pub agent_version: String,
    /// The buffer's stream epoch, which every published batch carries (0: the legacy stream).
    #[serde(default)]
    pub epoch: u64,
    /// Readings buffered and not yet acknowledged.
    pub buffered: u64,
    pub acked_through: u64,
    pub next_seq: u64,
    pub oldest_unsent_age_ms: Option<i64>,
    /// Milliseconds since the Unix epoch of the last ack, if any since start.
    pub last_ack_at_ms: Option<i64>,
    pub dropped_full: u64,
    pub input_rejected: u64,
    pub buffer_disk_bytes: u64,
    pub updated_at_ms: i64,
}

impl AgentStatus {
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "no status at {} ({e}); is the agent running?",
                path.display()
            )
        })?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Prometheus text for the same numbers.
    pub fn to_prometheus(&self) -> String {
        let connected = i32::from(self.connection == "connected");
        format!(
            "# TYPE episante_edge_connected gauge\nepisante_edge_connected {connected}\n\
             # TYPE episante_edge_buffered_readings gauge\nepisante_edge_buffered_readings {}\n\
             # TYPE episante_edge_acked_through gauge\nepisante_edge_acked_through {}\n\
             # TYPE episante_edge_oldest_unsent_age_seconds gauge\nepisante_edge_oldest_unsent_age_seconds {}\n\
             # TYPE episante_edge_dropped_readings counter\nepisante_edge_dropped_readings_total {}\n\
             # TYPE episante_edge_input_rejected counter\nepisante_edge_input_rejected_total {}\n\
             # TYPE episante_edge_stream_epoch gauge\nepisante_edge_stream_epoch {}\n\
             # TYPE episante_edge_build_info gauge\nepisante_edge_build_info{{version=\"{}\"}} 1\n",
            self.buffered,
            self.acked_through,
            self.oldest_unsent_age_ms.unwrap_or(0) as f64 / 1000.0,
            self.dropped_full,
            self.input_rejected,
            self.epoch,
            self.agent_version,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_from_before_epochs_still_parses() {
        let old = r#"{"device_id":"hub1","online":true,"connection":"connected","buffered":3,
            "acked_through":7,"next_seq":11,"oldest_unsent_age_ms":null,"last_ack_at_ms":null,
            "dropped_full":0,"input_rejected":0,"buffer_disk_bytes":87,"updated_at_ms":1}"#;
        let status: AgentStatus = serde_json::from_str(old).unwrap();
        assert_eq!((status.epoch, status.agent_version.as_str()), (0, ""));
        assert_eq!(status.buffered, 3);

        let new = serde_json::to_value(AgentStatus {
            agent_version: "1.2.3".into(),
            epoch: 1_764_000_000_000,
            ..status
        })
        .unwrap();
        assert_eq!(new["epoch"], 1_764_000_000_000u64);
        assert_eq!(new["agent_version"], "1.2.3");
        assert_eq!(
            new["acked_through"], 7,
            "the old fields are all still there"
        );
    }
}
