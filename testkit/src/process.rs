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

/// A command that can be started, SIGKILLed and started again with the same arguments and
/// environment: what crash tests need.
pub struct RestartableProcess {
    program: std::path::PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    child: Option<std::process::Child>,
}

impl RestartableProcess {
    pub fn new(
        program: impl Into<std::path::PathBuf>,
        args: &[&str],
        envs: &[(&str, String)],
    ) -> Self {
        RestartableProcess {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            child: None,
        }
    }

    /// Starts the process (logging at `warn`, output inherited).
    pub fn start(&mut self) {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn");
        self.child = Some(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display())),
        );
    }

    /// `kill -9`, then reaps it.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RestartableProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}
