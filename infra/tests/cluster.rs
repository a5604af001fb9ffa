//! The multi-host cluster under faults (infra/cluster): `up.sh` starts every service as its own
//! process in its own network namespace (two brokers behind HAProxy, two instances of each HTTP
//! service behind nginx, two alerts consumers in one group, OpenBao, tansu, one PostgreSQL), then
//! `chaos.sh --quick` runs a labelled fleet from the ward host while it kills brokers, consumers,
//! gateway upstreams and Kafka, partitions a consumer from Kafka and degrades the ward's link.
//! The run must lose no reading, count none twice, and raise exactly one alert per anomaly
//! episode. Uses the binaries of this build (target/…/episante-*), started through the images'
//! entrypoint script.
//!
//! Needs root (namespaces), like the rest of the suite on CI; the cluster's names (epc-*,
//! 172.30.0.0/24) are fixed, so a cluster started by hand must be down while this runs.

use std::path::PathBuf;
use std::process::Command;

/// target/<profile>, where this test binary and the service binaries of the build are.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

struct Cluster {
    dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(episante_infra::infra_dir().join("cluster/down.sh"))
            .arg("--keep-data")
            .env("EPISANTE_CLUSTER_DIR", self.dir.path())
            .status();
    }
}

fn show_logs(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            eprintln!("--- {} (last lines)", entry.path().display());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

#[test]
fn the_cluster_loses_nothing_through_kills_partitions_and_a_bad_network() {
    let bins = bin_dir();
    for bin in [
        "episante-auth",
        "episante-records",
        "episante-bookings",
        "episante-alerts",
        "episante-broker",
        "episante-sim",
    ] {
        assert!(
            bins.join(bin).exists(),
            "{} is not built: run the workspace's tests (infra/dev/test.sh) or `cargo build --workspace --bins`",
            bins.join(bin).display()
        );
    }
    let cluster = Cluster {
        dir: tempfile::Builder::new()
            .prefix("episante-cluster")
            .tempdir()
            .unwrap(),
    };
    let dir = cluster.dir.path().to_path_buf();
    let up = Command::new(episante_infra::infra_dir().join("cluster/up.sh"))
        .env("EPISANTE_CLUSTER_DIR", &dir)
        .env("EPISANTE_BIN_DIR", &bins)
        .status()
        .unwrap();
    if !up.success() {
        show_logs(&dir);
        panic!("up.sh failed");
    }
    let chaos = Command::new(episante_infra::infra_dir().join("cluster/chaos.sh"))
        .arg("--quick")
        .env("EPISANTE_CLUSTER_DIR", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&chaos.stdout);
    eprintln!("{}", String::from_utf8_lossy(&chaos.stderr));
    println!("{stdout}");
    let report: serde_json::Value = match serde_json::from_str(&stdout) {
        Ok(report) => report,
        Err(e) => {
            show_logs(&dir);
            panic!("chaos.sh printed no report ({e})");
        }
    };
    let sent = report["readings_sent"].as_u64().unwrap();
    assert!(sent > 0, "the fleet sent readings");
    assert_eq!(report["readings_lost"], 0, "{report:#}");
    assert_eq!(report["readings_counted_twice"], 0, "{report:#}");
    assert_eq!(report["readings_acked_end_to_end"], sent, "{report:#}");
    assert!(
        report["alert_episodes_expected"].as_u64().unwrap() > 0,
        "the scenario has anomalies"
    );
    assert_eq!(report["recall_total"], 1.0, "{report:#}");
    assert_eq!(report["duplicate_alerts"], 0, "{report:#}");
    assert_eq!(report["faults"].as_array().unwrap().len(), 7);
    assert!(
        chaos.status.success(),
        "chaos.sh failed a correctness check"
    );
}
