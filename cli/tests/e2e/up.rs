//! `episante up`: endpoints, first admin, the gateway, clean stop; and its failure messages.

use std::process::Command;

use crate::platform::Platform;

#[tokio::test]
async fn up_prints_endpoints_and_admin_then_stops_cleanly_on_sigterm() {
    let config = tempfile::tempdir().unwrap();
    let mut platform = Platform::start(config.path());
    assert_eq!(platform.admin_email, "admin@episante.local");
    let saved =
        std::fs::read_to_string(platform.data.path().join("auth/initial-admin-password")).unwrap();
    assert_eq!(saved.trim(), platform.admin_password);

    let http = reqwest::Client::new();
    for service in ["auth", "records", "bookings", "alerts", "devices"] {
        let ready = http
            .get(format!("{}/ready", platform.url(service)))
            .send()
            .await
            .unwrap();
        assert!(ready.status().is_success(), "{service} is ready");
    }
    let mqtt_url = platform.url("mqtt");
    let mqtt_port: u16 = mqtt_url.rsplit_once(':').unwrap().1.parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", mqtt_port)).is_ok(),
        "MQTT accepts connections"
    );
    assert!(
        platform.lines.iter().any(|l| l.contains("in-memory bus")),
        "no Kafka configured: memory bus"
    );
    // The gateway: one address, every API.
    let gateway = platform.url("gateway").to_string();
    let login = http
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": platform.admin_email, "password": platform.admin_password}))
        .send()
        .await
        .unwrap();
    assert!(
        login.status().is_success(),
        "the printed credentials work through the gateway"
    );
    let token = login.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/api/v1/patients",
        "/api/v1/alerts",
        "/api/v1/devices",
        "/api/v1/practitioners",
        "/api/v1/care-teams",
    ] {
        let answer = http
            .get(format!("{gateway}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
    }
    let missing = http
        .get(format!("{gateway}/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // The CLI finds the local platform by itself.
    assert!(config.path().join("local-platform.json").exists());

    let status = Command::new("kill")
        .args(["-TERM", &platform.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = platform.child.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit}");
    let rest: Vec<String> = platform.rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("EpiSante stopped")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn the_demo_ward_shows_its_clinician_alerts_within_a_minute() {
    let config = tempfile::tempdir().unwrap();
    let mut platform = Platform::start_with(config.path(), &["--demo"]);
    let (email, password) = platform.demo_clinician();
    let gateway = platform.url("gateway").to_string();
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"]
        .as_str()
        .expect("the printed demo credentials work");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(75);
    loop {
        let alerts: serde_json::Value = http
            .get(format!("{gateway}/api/v1/alerts?state=all"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !alerts["alerts"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no demo alert within a minute"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[test]
fn an_unreachable_database_is_explained() {
    let output = Command::new(env!("CARGO_BIN_EXE_episante"))
        .arg("up")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")
        .env("EPISANTE_AUTH__BIND", "127.0.0.1:0")
        .env("EPISANTE_GATEWAY__BIND", "127.0.0.1:0")
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
        .env("EPISANTE_GATEWAY__BIND", "127.0.0.1:0")
        .env_remove("VAULT_ADDR")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
}

/// Linux routes all of 127.0.0.0/8 to loopback: a listener on 0.0.0.0 answers 127.0.0.2, one on
/// 127.0.0.1 does not — which tells a wildcard bind from a loopback one without a second machine.
#[tokio::test]
async fn up_binds_loopback_unless_told_to_listen_wider() {
    let cases: [(&[&str], bool); 2] = [
        (&["--gateway-port", "0"], false),
        (&["--listen", "0.0.0.0", "--gateway-port", "0"], true),
    ];
    for (args, wide) in cases {
        let config = tempfile::tempdir().unwrap();
        let platform = Platform::start_with(config.path(), args);
        let gateway = platform.url("gateway");
        let port: u16 = gateway.rsplit_once(':').unwrap().1.parse().unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "{args:?}: loopback reaches the gateway"
        );
        assert_eq!(
            std::net::TcpStream::connect(("127.0.0.2", port)).is_ok(),
            wide,
            "{args:?}: another address reaches the gateway only with --listen 0.0.0.0"
        );
    }
}
