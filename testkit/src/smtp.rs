//! A real SMTP server for tests: `aiosmtpd` (PyPI, installed by `infra/dev/install-tools.sh`)
//! on a free port, delivering every message into a Maildir the test reads.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestSmtp {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestSmtp {
    /// Starts the server on a free port and waits until it accepts connections.
    pub async fn start() -> TestSmtp {
        Self::start_on(crate::net::free_port()).await
    }

    /// Starts the server on `port` (a relay that comes back where it was).
    pub async fn start_on(port: u16) -> TestSmtp {
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd; infra/dev/install-tools.sh does)");
        let smtp = TestSmtp { port, dir, child };
        crate::net::wait_for_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(20))
            .await
            .expect("aiosmtpd listens");
        smtp
    }

    /// Where delivered messages land, one file each (`maildir/new`).
    pub fn new_dir(&self) -> PathBuf {
        self.dir.path().join("maildir/new")
    }

    /// How many messages were delivered so far (without reading them).
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.new_dir()).map_or(0, |d| d.count())
    }

    /// Every message delivered so far (raw RFC 5322 text), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(self.new_dir())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        let modified = e.metadata().ok()?.modified().ok()?;
                        Some((modified, std::fs::read_to_string(e.path()).ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort_by_key(|(t, _)| *t);
        files.into_iter().map(|(_, text)| text).collect()
    }

    /// Waits until at least `n` messages arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} message(s) after {timeout:?}, expected {n}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
