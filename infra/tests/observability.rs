//! Prometheus configuration, alerting rules (with their unit tests) and the Grafana dashboard,
//! checked with the real `promtool`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

fn infra(path: &str) -> PathBuf {
    episante_infra::infra_dir().join(path)
}

fn promtool() -> PathBuf {
    for candidate in ["/usr/bin/promtool", "/usr/local/bin/promtool"] {
        if Path::new(candidate).is_file() {
            return candidate.into();
        }
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("promtool not found: run infra/dev/install-tools.sh"))
}

fn promtool_ok(args: &[&str], dir: &Path) -> String {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(infra(path)).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .remove(0)
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let dir = infra("prometheus");
    let out = promtool_ok(&["check", "config", "prometheus.yml"], &dir);
    assert!(out.contains("SUCCESS"), "{out}");
    let out = promtool_ok(&["check", "rules", "rules.yml"], &dir);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn alerting_rules_pass_their_unit_tests_and_every_alert_has_one() {
    let dir = infra("prometheus");
    let out = promtool_ok(&["test", "rules", "rules_test.yml"], &dir);
    assert!(out.contains("SUCCESS"), "{out}");

    let rules = yaml("prometheus/rules.yml");
    let alerts: BTreeSet<String> = rules["groups"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_vec().unwrap().iter())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect();
    let tests = yaml("prometheus/rules_test.yml");
    let firing: BTreeSet<String> = tests["tests"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_vec().unwrap().iter())
        .filter(|case| !case["exp_alerts"].as_vec().unwrap().is_empty())
        .map(|case| case["alertname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(firing, alerts, "every alert has a test where it fires");
    for required in [
        "ServiceDown",
        "KafkaConsumerLagHigh",
        "DeadLetterGrowth",
        "IngestRateDrop",
        "CriticalAlertUnacknowledged",
        "HttpErrorRatioHigh",
        "HttpLatencyP99High",
    ] {
        assert!(alerts.contains(required), "missing alert {required}");
    }
}

#[test]
fn every_service_is_scraped() {
    let config = yaml("prometheus/prometheus.yml");
    let jobs: BTreeSet<(String, i64)> = config["scrape_configs"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|job| {
            let sd = &job["dns_sd_configs"][0];
            Some((sd["names"][0].as_str()?.to_string(), sd["port"].as_i64()?))
        })
        .collect();
    let expected: BTreeSet<(String, i64)> = [
        ("auth", 8081),
        ("records", 8082),
        ("bookings", 8083),
        ("broker", 8085),
        ("alerts", 8086),
    ]
    .iter()
    .map(|(n, p)| (n.to_string(), *p))
    .collect();
    assert_eq!(jobs, expected);
}

/// `episante_*` metric names in `expr` (without the `_total`/`_bucket`/`_sum`/`_count` suffixes
/// Prometheus adds).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("episante_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let mut name = &expr[start..end];
        for suffix in ["_total", "_bucket", "_sum", "_count"] {
            if let Some(stripped) = name.strip_suffix(suffix) {
                name = stripped;
                break;
            }
        }
        names.insert(name.to_string());
        i = end;
    }
    names
}

/// Metric names the code registers (`"episante_…"` string literals in the crates' sources).
fn registered_metrics() -> (BTreeSet<String>, Vec<&'static str>) {
    let root = episante_infra::infra_dir().join("..");
    let mut names = BTreeSet::new();
    let mut crates = vec![];
    for (prefix, dir) in [
        ("episante_http_", "cloud-services/kit/src"),
        ("episante_broker_", "broker/src"),
        ("episante_alerts_", "cloud-services/alerts/src"),
        ("episante_records_", "cloud-services/records/src"),
        ("episante_bookings_", "cloud-services/bookings/src"),
        ("episante_auth_", "cloud-services/auth/src"),
    ] {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        crates.push(prefix);
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(d).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for piece in text.split('"').skip(1).step_by(2) {
                        if piece.starts_with("episante_")
                            && piece.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            names.insert(piece.to_string());
                        }
                    }
                }
            }
        }
    }
    (names, crates)
}

fn rule_exprs() -> Vec<String> {
    yaml("prometheus/rules.yml")["groups"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_vec().unwrap().iter())
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect()
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(infra("grafana/dashboards/episante.json")).unwrap();
    serde_json::from_str(&text).expect("dashboard is JSON")
}

fn dashboard_targets(dash: &Value) -> Vec<(i64, String, String, String)> {
    // (panel id, refId, datasource uid, expr)
    let mut out = vec![];
    for panel in dash["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        for target in panel["targets"].as_array().unwrap() {
            let uid = target["datasource"]["uid"]
                .as_str()
                .or(panel["datasource"]["uid"].as_str())
                .unwrap()
                .to_string();
            out.push((
                panel["id"].as_i64().unwrap(),
                target["refId"].as_str().unwrap().to_string(),
                uid,
                target["expr"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

#[test]
fn rules_and_dashboard_use_only_metrics_the_services_export() {
    let (registered, checked) = registered_metrics();
    let mut used = BTreeSet::new();
    for expr in rule_exprs() {
        used.extend(metric_names(&expr));
    }
    for (_, _, _, expr) in dashboard_targets(&dashboard()) {
        used.extend(metric_names(&expr));
    }
    let mut unchecked = vec![];
    for name in &used {
        if checked.iter().any(|p| name.starts_with(p)) {
            assert!(
                registered.contains(name),
                "{name} is not registered by any service"
            );
        } else {
            unchecked.push(name.clone());
        }
    }
    // Metrics of services whose crate does not exist yet are named from the issue; say so.
    if !unchecked.is_empty() {
        eprintln!("not checked (crate not in the tree yet): {unchecked:?}");
    }
    for required in [
        "episante_http_requests",
        "episante_http_request_duration_seconds",
        "episante_broker_readings_in",
        "episante_broker_dead_lettered",
        "episante_broker_kafka_delivery_seconds",
        "episante_alerts_consumer_lag",
        "episante_alerts_unacknowledged_critical",
        "episante_alerts_active",
        "episante_alerts_reading_to_alert_seconds",
    ] {
        assert!(used.contains(required), "{required} is used nowhere");
    }
}

#[test]
fn dashboard_is_valid_and_every_promql_expression_parses() {
    let dash = dashboard();
    assert!(dash["uid"].is_string() && dash["title"].is_string());
    let panels = dash["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        let id = panel["id"].as_i64().expect("panel id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        let grid = &panel["gridPos"];
        for k in ["x", "y", "w", "h"] {
            assert!(grid[k].is_i64(), "panel {id} gridPos.{k}");
        }
        assert!(
            grid["x"].as_i64().unwrap() + grid["w"].as_i64().unwrap() <= 24,
            "panel {id} too wide"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["title"].as_str().is_some_and(|t| !t.is_empty()),
            "panel {id} title"
        );
        assert!(
            panel["datasource"]["uid"].is_string(),
            "panel {id} has no datasource"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} has no targets");
        let mut refs = BTreeSet::new();
        for t in targets {
            assert!(
                refs.insert(t["refId"].as_str().unwrap()),
                "panel {id}: duplicate refId"
            );
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {id}: empty expr"
            );
        }
    }

    // Datasources must be the provisioned ones.
    let provisioned: BTreeSet<String> = yaml("grafana/provisioning/datasources/episante.yml")
        ["datasources"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap().to_string())
        .collect();
    let targets = dashboard_targets(&dash);
    for (id, _, uid, _) in &targets {
        assert!(
            provisioned.contains(uid),
            "panel {id}: datasource {uid} is not provisioned"
        );
    }

    // Every PromQL expression, with Grafana's variables given values, as a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut count = 0;
    for (id, ref_id, uid, expr) in &targets {
        if uid == "loki" {
            assert!(
                expr.starts_with('{') && expr.contains('}'),
                "panel {id}: LogQL selector"
            );
            continue;
        }
        assert_eq!(uid, "prometheus");
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "30s")
            .replace("$__range", "1h");
        assert!(
            !expr.contains('$'),
            "panel {id}: unknown variable in {expr}"
        );
        rules.push_str(&format!(
            "      - record: dashboard:panel_{id}_{ref_id}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
        count += 1;
    }
    assert!(count >= 10, "only {count} PromQL expressions");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard_rules.yml"), rules).unwrap();
    let out = promtool_ok(&["check", "rules", "dashboard_rules.yml"], dir.path());
    assert!(
        out.contains(&format!("SUCCESS: {count} rules found")),
        "{out}"
    );

    // The panels the issue asks for.
    let titles: Vec<String> = panels
        .iter()
        .filter_map(|p| p["title"].as_str().map(str::to_lowercase))
        .collect();
    for wanted in [
        "ingest",
        "kafka confirmed",
        "reading → alert",
        "severity",
        "http p99",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel about {wanted}: {titles:?}"
        );
    }
}

#[test]
fn grafana_provisioning_points_at_the_mounted_dashboards() {
    let provider = yaml("grafana/provisioning/dashboards/episante.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let compose = std::fs::read_to_string(infra("docker-compose.yml")).unwrap();
    assert!(
        compose.contains(&format!("./grafana/dashboards:{path}:ro")),
        "compose mounts the dashboards at {path}"
    );
    assert!(compose.contains("./grafana/provisioning:/etc/grafana/provisioning:ro"));
    assert!(compose.contains("\"3001:3000\""), "Grafana on 3001");
}
