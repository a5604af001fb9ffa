//! `episante up` in a child process with fresh databases and random ports; its printed endpoints.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use episante_testkit::TestDb;

pub struct Platform {
    pub child: Child,
    pub lines: Vec<String>,
    pub rx: Receiver<String>,
    /// Service name → URL, from the banner (`gateway`, `auth`, `records`, `devices`, `mqtt`…).
    pub endpoints: HashMap<String, String>,
    pub admin_email: String,
    pub admin_password: String,
    pub data: tempfile::TempDir,
    dbs: Vec<TestDb>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVICES: &[(&str, &str)] = &[
    ("AUTH", "BIND"),
    ("RECORDS", "BIND"),
    ("BOOKINGS", "BIND"),
    ("ALERTS", "BIND"),
    ("BROKER", "HTTP_BIND"),
    ("NOTIFY", "BIND"),
];

impl Platform {
    pub fn start(config_dir: &Path) -> Platform {
        Self::start_with(config_dir, &[])
    }

    /// `episante up ARGS…`.
    pub fn start_with(config_dir: &Path, args: &[&str]) -> Platform {
        Self::start_env(config_dir, args, &[])
    }

    /// `episante up ARGS…` with extra environment variables (set last: they win).
    pub fn start_env(config_dir: &Path, args: &[&str], env: &[(&str, String)]) -> Platform {
        let data = tempfile::tempdir().unwrap();
        let mut dbs = vec![TestDb::new()];
        dbs.extend(SERVICES.iter().map(|_| TestDb::new()));
        let (child, rx) = Self::spawn(config_dir, args, env, data.path(), &dbs);
        let mut platform = Platform {
            child,
            admin_email: String::new(),
            admin_password: String::new(),
            lines: vec![],
            rx,
            endpoints: HashMap::new(),
            data,
            dbs,
        };
        platform.read_banner("first admin");
        let admin_line = platform
            .lines
            .iter()
            .find(|l| l.contains("first admin"))
            .unwrap();
        let creds = admin_line.split(": ").nth(1).unwrap();
        let (email, password) = creds.split_once(" / ").unwrap();
        (platform.admin_email, platform.admin_password) = (email.to_string(), password.to_string());
        platform
    }

    /// Starts `up` again on the same databases and data directory (after `child` ended or was
    /// killed), with the same arguments and environment.
    pub fn restart(&mut self, config_dir: &Path, args: &[&str], env: &[(&str, String)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, rx) = Self::spawn(config_dir, args, env, self.data.path(), &self.dbs);
        self.child = child;
        self.rx = rx;
        self.lines.clear();
        self.endpoints.clear();
        self.read_banner("  metrics ");
    }

    /// Reads `up`'s output up to the line containing `last`, and its endpoints.
    fn read_banner(&mut self, last: &str) {
        while !self.lines.iter().any(|l| l.contains(last)) {
            self.lines.push(
                self.rx
                    .recv_timeout(Duration::from_secs(90))
                    .expect("startup output"),
            );
        }
        for line in &self.lines {
            let mut words = line.split_whitespace();
            if let (Some(name), Some(url)) = (words.next(), words.next()) {
                if url.contains("://") {
                    self.endpoints.insert(name.to_string(), url.to_string());
                }
            }
        }
    }

    /// The database of `service` (`alerts`, …), for tests that count what it stored.
    pub fn database(&self, service: &str) -> &TestDb {
        let index = SERVICES
            .iter()
            .position(|(s, _)| s.eq_ignore_ascii_case(service))
            .unwrap_or_else(|| panic!("no service {service}"));
        &self.dbs[index + 1]
    }

    /// `dbs`: the bus's, then one per entry of [`SERVICES`].
    fn spawn(
        config_dir: &Path,
        args: &[&str],
        env: &[(&str, String)],
        data: &Path,
        dbs: &[TestDb],
    ) -> (Child, Receiver<String>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_episante"));
        command
            .arg("up")
            .args(args)
            .env("DATABASE_URL", episante_testkit::postgres::admin_url())
            .env("EPISANTE_BROKER__MQTT_BIND", "127.0.0.1:0")
            .env("EPISANTE_GATEWAY__BIND", "127.0.0.1:0")
            .env("EPISANTE_ALERTS__DROPOUT_WATCHDOG_SECS", "0")
            // Simulated anomalies run fast: keep their alerts open for the test's duration.
            .env("EPISANTE_ALERTS__RESOLVE_HOLD_SECS", "86400")
            .env_remove("EPISANTE_KAFKA__BROKERS")
            .env("EPISANTE_DATA_DIR", data)
            .env("EPISANTE_CONFIG_DIR", config_dir)
            .env_remove("VAULT_ADDR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command.env("EPISANTE_BUS__DATABASE__NAME", &dbs[0].name);
        command.env("EPISANTE_BUS__DATABASE__ROLE", &dbs[0].name);
        for ((service, bind), db) in SERVICES.iter().zip(&dbs[1..]) {
            command
                .env(format!("EPISANTE_{service}__DATABASE__NAME"), &db.name)
                .env(format!("EPISANTE_{service}__DATABASE__ROLE"), &db.name)
                .env(format!("EPISANTE_{service}__{bind}"), "127.0.0.1:0");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        (child, rx)
    }

    /// The demo clinician's (email, password), from the line `up --demo` prints once its ward
    /// exists: "  demo: clinician EMAIL / PASSWORD looks after …".
    pub fn demo_clinician(&mut self) -> (String, String) {
        let demo = loop {
            if let Some(line) = self.lines.iter().find(|l| l.contains("demo: clinician")) {
                break line.clone();
            }
            let line = self
                .rx
                .recv_timeout(Duration::from_secs(90))
                .expect("the demo announces its clinician");
            self.lines.push(line);
        };
        let creds = demo.split("clinician ").nth(1).unwrap();
        let mut words = creds.split_whitespace();
        let email = words.next().unwrap().to_string();
        let _slash = words.next();
        (email, words.next().unwrap().to_string())
    }

    pub fn url(&self, name: &str) -> &str {
        self.endpoints
            .get(name)
            .unwrap_or_else(|| panic!("no {name} endpoint in {:?}", self.lines))
    }
}
