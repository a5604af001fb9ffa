//! The benchmark suite's bookkeeping (infra/bench/results.py), without running a benchmark: the
//! summary table in docs/BENCHMARKS.md matches the recorded results it names, a run is compared
//! with the last recorded one (a fall of more than 15 % flagged, not failed), and only a failed
//! correctness check fails the suite.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn repo() -> PathBuf {
    episante_infra::infra_dir()
        .parent()
        .expect("repository root")
        .to_path_buf()
}

fn results_py(args: &[&str], figures: Option<&Path>) -> Output {
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("infra/bench/results.py"))
        .args(args)
        .current_dir(repo());
    match figures {
        Some(path) => cmd.env("BENCH_RESULTS", path),
        None => cmd.env_remove("BENCH_RESULTS"),
    };
    cmd.output().expect("python3 runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn benchmarks_md_matches_the_recorded_results() {
    let out = results_py(&["docs", "docs/BENCHMARKS.md"], None);
    assert!(out.status.success(), "{}", text(&out));
}

/// One run's figures: bookings at `ratio` of pgbench, edge replay at `replay` readings/s.
fn run(dir: &Path, name: &str, ratio: f64, replay: f64, double_bookings: u32) -> PathBuf {
    let figures = dir.join(format!("{name}.jsonl"));
    let record = |args: &[&str]| {
        let out = results_py(args, Some(&figures));
        assert!(out.status.success(), "{}", text(&out));
    };
    let bookings = format!("{}", 8000.0 * ratio);
    record(&[
        "figure",
        "bookings",
        "distinct slots",
        &bookings,
        "bookings/s",
        "pgbench",
        "8000",
    ]);
    record(&[
        "figure",
        "edge",
        "replay",
        &replay.to_string(),
        "readings/s",
    ]);
    record(&["figure", "alerts", "p99", "120", "ms", "--lower-is-better"]);
    let ok = if double_bookings == 0 { "1" } else { "0" };
    record(&[
        "check",
        "bookings",
        "zero double bookings",
        ok,
        &format!("{double_bookings} overlapping"),
    ]);
    let out_path = dir.join(format!("{name}.json"));
    let out = results_py(
        &[
            "finish",
            figures.to_str().unwrap(),
            out_path.to_str().unwrap(),
            "quick",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    out_path
}

#[test]
fn a_run_is_compared_with_the_last_recorded_one() {
    let dir = tempfile::tempdir().unwrap();
    let old = run(dir.path(), "old", 0.50, 100_000.0, 0);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&old).unwrap()).unwrap();
    assert_eq!(doc["mode"], json!("quick"));
    assert!(doc["machine"].as_str().unwrap().contains("cores"));
    let bookings = &doc["figures"][0];
    assert_eq!(bookings["ratio"], json!(0.5));
    assert_eq!(bookings["peer"], json!("pgbench"));

    // Bookings' ratio down 20 %: flagged. Edge down 10 %: within the noise. Exit 0 either way.
    let new = run(dir.path(), "new", 0.40, 90_000.0, 0);
    let out = results_py(
        &["compare", new.to_str().unwrap(), old.to_str().unwrap()],
        None,
    );
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("FELL -20%: bookings / distinct slots"),
        "{report}"
    );
    assert!(!report.contains("FELL -10%"), "{report}");

    // A failed correctness check fails the comparison.
    let broken = run(dir.path(), "broken", 0.50, 100_000.0, 2);
    let out = results_py(
        &["compare", broken.to_str().unwrap(), old.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("check FAILED bookings: zero double bookings (2 overlapping)"));
}
