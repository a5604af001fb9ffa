//! A tansu (Kafka-protocol) broker per test.

use std::process::Command;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

use crate::net::{free_port, wait_for_tcp};
use crate::process::ServerProcess;

/// A tansu broker with sqlite storage in a private directory. Topics are not auto-created:
/// call [`TestKafka::create_topics`].
pub struct TestKafka {
    /// `bootstrap.servers` value.
    pub bootstrap: String,
    process: ServerProcess,
    port: u16,
    dir: tempfile::TempDir,
}

impl TestKafka {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let process = Self::launch(dir.path(), port).await?;
        Ok(TestKafka {
            bootstrap: format!("127.0.0.1:{port}"),
            process,
            port,
            dir,
        })
    }

    async fn launch(dir: &std::path::Path, port: u16) -> anyhow::Result<ServerProcess> {
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(crate::tools::tansu());
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .current_dir(dir);
        let log = dir.join(format!("tansu-{}.log", std::process::id()));
        let mut process = ServerProcess::spawn("tansu", command, &log)?;
        if let Err(e) = wait_for_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(20)).await {
            process.ensure_running()?;
            return Err(e);
        }
        Ok(process)
    }

    /// Kills the broker (SIGKILL), keeping its data, to test outages.
    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Starts the broker again on the same port and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.kill();
        self.process = Self::launch(self.dir.path(), self.port).await?;
        Ok(())
    }

    /// Creates topics with `partitions` partitions each.
    pub async fn create_topics(&self, names: &[&str], partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()?;
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &options).await? {
            result.map_err(|(topic, e)| anyhow::anyhow!("creating topic {topic}: {e}"))?;
        }
        Ok(())
    }
}
