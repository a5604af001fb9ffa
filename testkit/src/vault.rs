//! An OpenBao dev server (Vault API) per test.

use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, wait_for_http};
use crate::process::ServerProcess;

pub const ROOT_TOKEN: &str = "root";

/// In-memory, unsealed, root token `root`, KV v2 mounted at `secret/`.
pub struct TestVault {
    pub addr: String,
    pub token: String,
    http: reqwest::Client,
    _process: ServerProcess,
    _dir: tempfile::TempDir,
}

impl TestVault {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port();
            let mut command = Command::new(crate::tools::bao());
            command
                .args([
                    "server",
                    "-dev",
                    &format!("-dev-root-token-id={ROOT_TOKEN}"),
                    "-dev-no-store-token",
                    &format!("-dev-listen-address=127.0.0.1:{port}"),
                ])
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .env_remove("VAULT_ADDR")
                .env_remove("VAULT_TOKEN")
                .env_remove("BAO_ADDR")
                .env_remove("BAO_TOKEN");
            let mut process =
                ServerProcess::spawn("OpenBao", command, &dir.path().join("bao.log"))?;
            let addr = format!("http://127.0.0.1:{port}");
            match wait_for_http(&format!("{addr}/v1/sys/health"), Duration::from_secs(20)).await {
                Ok(()) => {
                    return Ok(TestVault {
                        addr,
                        token: ROOT_TOKEN.into(),
                        http: reqwest::Client::new(),
                        _process: process,
                        _dir: dir,
                    })
                }
                Err(e) => {
                    let exited = process.ensure_running().err();
                    last_error = Some(exited.unwrap_or(e));
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// `POST {addr}/v1/{path}` with `body` as the root token; returns the JSON answer (or null).
    pub async fn write(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .post(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", &self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("Vault {path}: {status}: {text}");
        }
        Ok(if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// `GET {addr}/v1/{path}` as the root token; the JSON answer.
    pub async fn read(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", &self.token)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("Vault {path}: {status}: {}", response.text().await?);
        }
        Ok(response.json().await?)
    }

    /// Mounts the transit secrets engine at `transit/`.
    pub async fn enable_transit(&self) -> anyhow::Result<()> {
        self.write("sys/mounts/transit", serde_json::json!({"type": "transit"}))
            .await
            .map(|_| ())
    }
}
