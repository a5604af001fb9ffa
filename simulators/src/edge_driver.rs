//! Driving real edge agents: one `episante-edge` process per simulated device, fed through its
//! sensor socket, so a simulation exercises the whole hub path (buffer, batching, acks).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use episante_protocol::VitalKind;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use crate::device_link::BrokerTarget;

pub struct DrivenAgent {
    _process: Child,
    socket: UnixStream,
    status_file: PathBuf,
}

fn kind_name(kind: VitalKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl DrivenAgent {
    /// Writes the device's credentials under `dir`, starts its agent and connects to its socket.
    pub async fn start(
        binary: &Path,
        target: &BrokerTarget,
        creds: Option<Value>,
        id: &str,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let socket_path = dir.join("sensors.sock");
        let mut command = Command::new(binary);
        command
            .args(["run", "--input", &format!("unix:{}", socket_path.display())])
            .env("EPISANTE_EDGE__DEVICE_ID", id)
            .env("EPISANTE_EDGE__BROKER_HOST", &target.host)
            .env("EPISANTE_EDGE__BROKER_PORT", target.port.to_string())
            .env("EPISANTE_EDGE__BUFFER_DIR", dir.join("buffer"))
            .env("EPISANTE_EDGE__BATCH_MAX_AGE_MS", "200")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        match &creds {
            Some(creds) => {
                for (file, field, var) in [
                    ("ca.pem", "ca_pem", "EPISANTE_EDGE__CA_PATH"),
                    ("cert.pem", "certificate_pem", "EPISANTE_EDGE__CERT_PATH"),
                    ("key.pem", "private_key_pem", "EPISANTE_EDGE__KEY_PATH"),
                ] {
                    std::fs::write(dir.join(file), creds[field].as_str().unwrap_or_default())?;
                    command.env(var, dir.join(file));
                }
                command.env(
                    "EPISANTE_EDGE__SECRET",
                    creds["secret"].as_str().unwrap_or_default(),
                );
            }
            None => {
                command
                    .env("EPISANTE_EDGE__ACK_MODE", "puback")
                    .env("EPISANTE_EDGE__TOPIC_PREFIX", format!("sim/{id}"));
            }
        }
        let process = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut socket = None;
        for _ in 0..200 {
            if let Ok(s) = UnixStream::connect(&socket_path).await {
                socket = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(DrivenAgent {
            _process: process,
            socket: socket.context("the edge agent's sensor socket never appeared")?,
            status_file: dir.join("buffer/status.json"),
        })
    }

    /// Sends one sample's readings as sensor lines.
    pub async fn send(&mut self, ts_ms: i64, sample: &[(VitalKind, f64)]) -> anyhow::Result<()> {
        let mut lines = String::new();
        for (kind, value) in sample {
            lines.push_str(&format!(
                "{{\"kind\":\"{}\",\"value\":{value},\"ts_ms\":{ts_ms}}}\n",
                kind_name(*kind)
            ));
        }
        self.socket.write_all(lines.as_bytes()).await?;
        Ok(())
    }

    /// How far the agent's readings are acknowledged (from its status file).
    pub fn acked_through(&self) -> u64 {
        std::fs::read(&self.status_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["acked_through"].as_u64())
            .unwrap_or(0)
    }
}
