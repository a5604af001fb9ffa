//! The simulator binary against a real third-party broker (the machine's Mosquitto on 1883).

use std::process::Command;

fn run(dir: &std::path::Path, name: &str, seed: &str) -> (serde_json::Value, String) {
    let truth = dir.join(format!("{name}.jsonl"));
    let out = Command::new(env!("CARGO_BIN_EXE_episante-sim"))
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            "1883",
            "--devices",
            "12",
            "--duration",
            "2",
        ])
        .args([
            "--rate",
            "20",
            "--scenario",
            "mixed",
            "--speed",
            "120",
            "--seed",
            seed,
        ])
        .args([
            "--start-ms",
            "1764000000000",
            "--prefix",
            &format!("t{}x", std::process::id()),
        ])
        .args(["--report", "json", "--ground-truth"])
        .arg(&truth)
        .output()
        .expect("episante-sim runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    (report, std::fs::read_to_string(truth).unwrap())
}

#[test]
fn a_seeded_scenario_is_reproducible_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (report, truth_a) = run(dir.path(), "a", "7");
    let (_, truth_b) = run(dir.path(), "b", "7");
    let (_, truth_c) = run(dir.path(), "c", "8");
    assert_eq!(truth_a, truth_b, "same seed, same ground truth");
    assert_ne!(truth_a, truth_c, "another seed, other windows");
    assert_eq!(
        truth_a.lines().count(),
        8,
        "two devices in three get an anomaly"
    );
    for line in truth_a.lines() {
        let w: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(w["end_ms"].as_i64() > w["start_ms"].as_i64());
    }
    assert_eq!(report["devices_failed"], 0);
    assert_eq!(report["ack_kind"], "puback");
    assert!(report["messages_sent"].as_u64().unwrap() > 100);
    assert_eq!(
        report["messages_acked"], report["messages_sent"],
        "Mosquitto PUBACKed every message"
    );
}

#[test]
fn bad_flags_fail_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_episante-sim"))
        .args(["run", "--scenario", "apocalypse"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("apocalypse"));
    let out = Command::new(env!("CARGO_BIN_EXE_episante-sim"))
        .args([
            "run",
            "--registry",
            "http://127.0.0.1:1",
            "--devices",
            "1",
            "--duration",
            "1",
        ])
        .env_remove("EPISANTE_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));
}

#[test]
fn the_simulator_can_drive_real_edge_agents() {
    // The workspace test build builds every binary; the edge agent sits beside this one.
    let edge = env!("CARGO_BIN_EXE_episante-sim").replace("episante-sim", "episante-edge");
    assert!(
        std::path::Path::new(&edge).exists(),
        "build the workspace: {edge} missing"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_episante-sim"))
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            "1883",
            "--devices",
            "3",
            "--duration",
            "2",
        ])
        .args([
            "--rate",
            "5",
            "--prefix",
            &format!("e{}x", std::process::id()),
            "--report",
            "json",
        ])
        .args(["--via-edge", &edge])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["via_edge"], true);
    let sent = report["readings_sent"].as_u64().unwrap();
    assert!(sent >= 3 * 6, "{report}");
    assert_eq!(
        report["readings_acked"].as_u64(),
        Some(sent),
        "every reading acked to its agent"
    );
}
