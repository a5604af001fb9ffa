//! `episante up` as a user runs it: the real binary, a real database, signals.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use episante_testkit::TestDb;

/// Kills the platform if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn up_prints_endpoints_and_admin_then_stops_cleanly_on_sigterm() {
    let db = TestDb::new();
    let broker_db = TestDb::new();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_episante"))
        .arg("up")
        .env("DATABASE_URL", episante_testkit::postgres::admin_url())
        .env("EPISANTE_AUTH__DATABASE__NAME", &db.name)
        .env("EPISANTE_AUTH__DATABASE__ROLE", &db.name)
        .env("EPISANTE_AUTH__BIND", "127.0.0.1:0")
        .env("EPISANTE_BROKER__DATABASE__NAME", &broker_db.name)
        .env("EPISANTE_BROKER__DATABASE__ROLE", &broker_db.name)
        .env("EPISANTE_BROKER__HTTP_BIND", "127.0.0.1:0")
        .env("EPISANTE_BROKER__MQTT_BIND", "127.0.0.1:0")
        .env_remove("EPISANTE_KAFKA__BROKERS")
        .env("EPISANTE_DATA_DIR", data.path())
        .env_remove("VAULT_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = vec![];
    while !lines.iter().any(|l: &String| l.contains("first admin")) {
        lines.push(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("startup output"),
        );
    }
    let auth_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with("auth"))
        .unwrap();
    let base = auth_line.split_whitespace().nth(1).unwrap().to_string();
    let admin_line = lines.iter().find(|l| l.contains("first admin")).unwrap();
    let creds = admin_line.split(": ").nth(1).unwrap();
    let (email, password) = creds.split_once(" / ").unwrap();
    assert_eq!(email, "admin@episante.local");
    let saved = std::fs::read_to_string(data.path().join("auth/initial-admin-password")).unwrap();
    assert_eq!(saved.trim(), password);

    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert!(health.status().is_success());
    let devices_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with("devices"))
        .unwrap();
    let registry = devices_line.split_whitespace().nth(1).unwrap();
    let ready = http.get(format!("{registry}/ready")).send().await.unwrap();
    assert!(ready.status().is_success(), "the broker's registry is up");
    let mqtt_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with("mqtt"))
        .unwrap();
    let mqtt_url = mqtt_line.split_whitespace().nth(1).unwrap();
    let mqtt_port: u16 = mqtt_url.rsplit_once(':').unwrap().1.parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", mqtt_port)).is_ok(),
        "MQTT accepts connections"
    );
    assert!(
        lines.iter().any(|l| l.contains("in-memory bus")),
        "no Kafka configured: memory bus"
    );
    let login = http
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "the printed credentials work");

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("EpiSante stopped")),
        "{rest:?}"
    );
}

#[test]
fn an_unreachable_database_is_explained() {
    let output = Command::new(env!("CARGO_BIN_EXE_episante"))
        .arg("up")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")
        .env("EPISANTE_AUTH__BIND", "127.0.0.1:0")
        .env_remove("VAULT_ADDR")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PostgreSQL must be reachable at DATABASE_URL"),
        "{stderr}"
    );
}

#[test]
fn an_explicit_port_that_is_taken_is_an_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = Command::new(env!("CARGO_BIN_EXE_episante"))
        .args(["up", "--auth-port", &port.to_string()])
        .env("EPISANTE_AUTH__BIND", format!("127.0.0.1:{port}"))
        .env_remove("VAULT_ADDR")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
}
