//! A child server process that dies with its owner.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Kills (SIGKILL) and reaps the child on drop. Output goes to `log` so a failing test can
/// show what the server said.
pub struct ServerProcess {
    child: Child,
    name: String,
    log: std::path::PathBuf,
}

impl ServerProcess {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start {name}: {e} (run infra/dev/install-tools.sh)")
            })?;
        Ok(ServerProcess {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        })
    }

    /// The last lines the server wrote, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fails if the process has already exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("{} exited with {status}:\n{}", self.name, self.log_tail());
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
