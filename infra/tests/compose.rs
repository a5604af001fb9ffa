//! infra/docker-compose.yml: validated by Debian's docker-compose (`config` needs no daemon;
//! Docker itself cannot run on these machines), then checked statically: structure against the
//! Compose specification's vocabulary, start order and healthchecks, volumes and mounted files, no
//! secret in the file, the gateway's variables against the nginx templates, the services'
//! `EPISANTE_*` variables against their real configuration structs, and the multi-host cluster
//! (infra/cluster) against the file it takes its settings from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use episante_infra::template;
use serde::Serialize;
use serde_json::Value;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlLoader};

fn infra() -> PathBuf {
    episante_infra::infra_dir()
}

/// Resolves YAML merge keys (`<<: *anchor`), which compose supports and yaml-rust2 leaves as keys.
fn merge_keys(node: Yaml) -> Yaml {
    match node {
        Yaml::Hash(hash) => {
            let mut out = Hash::new();
            let mut merged = Hash::new();
            for (k, v) in hash {
                if k.as_str() == Some("<<") {
                    let sources = match merge_keys(v) {
                        Yaml::Array(items) => items,
                        other => vec![other],
                    };
                    for source in sources {
                        if let Yaml::Hash(h) = source {
                            for (mk, mv) in h {
                                merged.entry(mk).or_insert(mv);
                            }
                        } else {
                            panic!("<< of a non-mapping");
                        }
                    }
                } else {
                    out.insert(k, merge_keys(v));
                }
            }
            for (k, v) in merged {
                out.entry(k).or_insert(v);
            }
            Yaml::Hash(out)
        }
        Yaml::Array(items) => Yaml::Array(items.into_iter().map(merge_keys).collect()),
        other => other,
    }
}

fn compose() -> Yaml {
    let text = std::fs::read_to_string(infra().join("docker-compose.yml")).unwrap();
    merge_keys(
        YamlLoader::load_from_str(&text)
            .expect("valid YAML")
            .remove(0),
    )
}

fn keys(node: &Yaml) -> Vec<String> {
    node.as_hash()
        .map(|h| {
            h.keys()
                .map(|k| k.as_str().expect("string key").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn services(doc: &Yaml) -> BTreeMap<String, Yaml> {
    doc["services"]
        .as_hash()
        .expect("services")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// `environment` as a map (compose allows a mapping or a list of KEY=VALUE).
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    match &service["environment"] {
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => {
                        panic!("{k:?}: booleans must be quoted in compose, got {b}")
                    }
                    other => panic!("{k:?}: unsupported value {other:?}"),
                };
                (k.as_str().unwrap().to_string(), value)
            })
            .collect(),
        Yaml::Array(items) => items
            .iter()
            .map(|i| {
                let (k, v) = i.as_str().unwrap().split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect(),
        Yaml::BadValue => BTreeMap::new(),
        other => panic!("environment: {other:?}"),
    }
}

// The Compose specification's vocabulary (top level and service level) for what we use.
const TOP_LEVEL: &[&str] = &[
    "name", "services", "networks", "volumes", "secrets", "configs", "include",
];
const SERVICE_KEYS: &[&str] = &[
    "build",
    "cap_add",
    "command",
    "depends_on",
    "entrypoint",
    "environment",
    "healthcheck",
    "image",
    "logging",
    "networks",
    "ports",
    "restart",
    "user",
    "volumes",
    "working_dir",
    "deploy",
    "labels",
    "expose",
    "ulimits",
    "stop_grace_period",
    "read_only",
    "tmpfs",
];
const HEALTHCHECK_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const CONDITIONS: &[&str] = &[
    "service_started",
    "service_healthy",
    "service_completed_successfully",
];
const RESTART: &[&str] = &["no", "always", "on-failure", "unless-stopped"];

/// Services whose image is built from infra/docker/service.Dockerfile (which has a HEALTHCHECK).
fn built_with_healthcheck(service: &Yaml) -> bool {
    service["build"]["dockerfile"].as_str() == Some("infra/docker/service.Dockerfile")
}

#[test]
fn compose_file_is_well_formed() {
    let doc = compose();
    for key in keys(&doc) {
        assert!(
            TOP_LEVEL.contains(&key.as_str()) || key.starts_with("x-"),
            "unknown top-level key {key}"
        );
    }
    let services = services(&doc);
    let declared_volumes: BTreeSet<String> = keys(&doc["volumes"]).into_iter().collect();
    let declared_networks: BTreeSet<String> = keys(&doc["networks"]).into_iter().collect();
    let mut used_volumes = BTreeSet::new();

    for (name, service) in &services {
        for key in keys(service) {
            assert!(
                SERVICE_KEYS.contains(&key.as_str()),
                "{name}: unknown key {key}"
            );
        }
        let image = service["image"].as_str();
        assert!(
            image.is_some() || !service["build"].is_badvalue(),
            "{name}: image or build"
        );
        if let Some(image) = image {
            if service["build"].is_badvalue() {
                let (_, tag) = image
                    .rsplit_once(':')
                    .unwrap_or_else(|| panic!("{name}: untagged image {image}"));
                assert_ne!(tag, "latest", "{name}: pin the image");
            }
        }
        if let Some(restart) = service["restart"].as_str() {
            assert!(RESTART.contains(&restart), "{name}: restart {restart}");
        }
        for network in service["networks"].as_vec().cloned().unwrap_or_default() {
            assert!(
                declared_networks.contains(network.as_str().unwrap()),
                "{name}: network {network:?}"
            );
        }
        if !service["healthcheck"].is_badvalue() {
            for key in keys(&service["healthcheck"]) {
                assert!(
                    HEALTHCHECK_KEYS.contains(&key.as_str()),
                    "{name}: healthcheck.{key}"
                );
            }
            let test = service["healthcheck"]["test"]
                .as_vec()
                .expect("healthcheck test list");
            assert!(
                matches!(test[0].as_str(), Some("CMD") | Some("CMD-SHELL")),
                "{name}"
            );
        }
        if let Some(build) = service["build"].as_hash() {
            let dockerfile = build
                .get(&Yaml::String("dockerfile".into()))
                .and_then(Yaml::as_str)
                .unwrap();
            assert!(
                infra().join("..").join(dockerfile).is_file(),
                "{name}: {dockerfile}"
            );
        }
        // Volumes: named ones declared, bind-mounted files present in the repository.
        for volume in service["volumes"].as_vec().cloned().unwrap_or_default() {
            let spec = volume.as_str().unwrap().to_string();
            let parts: Vec<&str> = spec.split(':').collect();
            assert!(parts.len() >= 2, "{name}: volume {spec}");
            let source = parts[0];
            if source.starts_with("./") {
                assert!(
                    infra().join(source).exists(),
                    "{name}: {source} does not exist"
                );
            } else if source == "../web/dist" {
                // The portal's build output: made by `npm run build:portal`, not committed.
                let package = std::fs::read_to_string(infra().join("../web/package.json")).unwrap();
                assert!(
                    package.contains("\"build:portal\""),
                    "{name}: no portal build"
                );
            } else if source.starts_with('/') {
                assert_eq!(source, "/var/run/docker.sock", "{name}: host path {source}");
                assert_eq!(
                    parts.get(2),
                    Some(&"ro"),
                    "{name}: the Docker socket read-only"
                );
            } else {
                assert!(
                    declared_volumes.contains(source),
                    "{name}: volume {source} not declared"
                );
                used_volumes.insert(source.to_string());
            }
        }
        // Start order: conditions exist and make sense.
        if let Some(deps) = service["depends_on"].as_hash() {
            for (dep, spec) in deps {
                let dep = dep.as_str().unwrap();
                let target = services
                    .get(dep)
                    .unwrap_or_else(|| panic!("{name} depends on unknown {dep}"));
                let condition = spec["condition"].as_str().expect("condition");
                assert!(CONDITIONS.contains(&condition), "{name}: {condition}");
                match condition {
                    "service_healthy" => assert!(
                        !target["healthcheck"].is_badvalue() || built_with_healthcheck(target),
                        "{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                    ),
                    "service_completed_successfully" => assert_eq!(
                        target["restart"].as_str(),
                        Some("no"),
                        "{dep} is a one-shot"
                    ),
                    _ => {}
                }
            }
        }
    }
    let unused: Vec<_> = declared_volumes.difference(&used_volumes).collect();
    assert!(unused.is_empty(), "declared but unused volumes: {unused:?}");

    // No dependency cycles.
    fn visit(
        name: &str,
        services: &BTreeMap<String, Yaml>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        assert!(
            !path.contains(&name.to_string()),
            "dependency cycle: {path:?} → {name}"
        );
        if done.contains(name) {
            return;
        }
        path.push(name.to_string());
        for dep in keys(&services[name]["depends_on"]) {
            visit(&dep, services, path, done);
        }
        path.pop();
        done.insert(name.to_string());
    }
    let mut done = BTreeSet::new();
    for name in services.keys() {
        visit(name, &services, &mut vec![], &mut done);
    }
}

#[test]
fn the_stack_has_every_part_the_platform_needs() {
    let doc = compose();
    let services = services(&doc);
    let image = |s: &str| {
        services[s]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for s in ["auth", "records", "bookings", "alerts", "broker"] {
        assert!(
            built_with_healthcheck(&services[s]),
            "{s} built from the service Dockerfile"
        );
        let args = &services[s]["build"]["args"];
        assert_eq!(args["BIN"].as_str(), Some(format!("episante-{s}").as_str()));
        let db = format!("{s}-db");
        assert!(
            image(&db).starts_with("postgres:"),
            "{db}: one PostgreSQL per service"
        );
        assert_eq!(
            services[s]["depends_on"][db.as_str()]["condition"].as_str(),
            Some("service_healthy")
        );
        assert_eq!(
            services[s]["depends_on"]["vault-bootstrap"]["condition"].as_str(),
            Some("service_completed_successfully")
        );
        // The service's secrets volume is mounted into it and its database only.
        let volume = format!("{s}-secrets");
        let mounted_in: Vec<&String> = services
            .iter()
            .filter(|(_, svc)| {
                svc["volumes"].as_vec().is_some_and(|v| {
                    v.iter()
                        .any(|m| m.as_str().unwrap().starts_with(&format!("{volume}:")))
                })
            })
            .map(|(n, _)| n)
            .collect();
        let mut expected: BTreeSet<String> =
            ["vault-bootstrap".to_string(), db.clone(), s.to_string()].into();
        if s == "records" {
            expected.insert("service-clients".into()); // writes its auth client secret
        }
        if s == "auth" {
            expected.insert("service-clients".into()); // reads the admin credentials
        }
        let actual: BTreeSet<String> = mounted_in.into_iter().cloned().collect();
        assert_eq!(actual, expected, "{volume} mounted only where needed");
    }
    assert!(image("kafka").starts_with("apache/kafka:"));
    assert_eq!(
        environment(&services["kafka"])["KAFKA_PROCESS_ROLES"],
        "broker,controller",
        "KRaft"
    );
    assert!(
        image("vault").starts_with("openbao/openbao:")
            || image("vault").starts_with("hashicorp/vault:")
    );
    assert!(image("gateway").starts_with("nginx:"));
    assert!(image("prometheus").starts_with("prom/prometheus:"));
    assert!(image("grafana").starts_with("grafana/grafana:"));
    assert!(image("loki").starts_with("grafana/loki:"));
    assert!(image("alloy").starts_with("grafana/alloy:"));
    assert_eq!(services["vault-bootstrap"]["restart"].as_str(), Some("no"));

    // Published ports: the gateway, MQTT for devices, Grafana. Nothing else faces the outside.
    let mut published = BTreeMap::new();
    for (name, svc) in &services {
        for port in svc["ports"].as_vec().cloned().unwrap_or_default() {
            published.insert(port.as_str().unwrap().to_string(), name.clone());
        }
    }
    let expected: BTreeMap<String, String> = [
        ("80:80", "gateway"),
        ("443:443", "gateway"),
        ("8883:8883", "broker"),
        ("3000:3000", "portal"),
        ("3001:3000", "grafana"),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), s.to_string()))
    .collect();
    assert_eq!(published, expected);
}

#[test]
fn no_secret_is_written_in_the_compose_file() {
    let doc = compose();
    for (name, service) in services(&doc) {
        for (key, value) in environment(&service) {
            let upper = key.to_uppercase();
            // The setting's own name (after the last `__` section separator).
            let setting = upper.rsplit("__").find(|p| *p != "FILE").unwrap_or(&upper);
            let sensitive = ["DATABASE_URL", "ADMIN_URL"].contains(&setting)
                || setting
                    .split('_')
                    .any(|w| ["PASSWORD", "TOKEN", "SECRET", "PRIVATE"].contains(&w));
            if sensitive && !upper.ends_with("_FILE") && !upper.ends_with("__FILE") {
                panic!("{name}: {key} carries a secret in the file; deliver it as {key}_FILE");
            }
            if upper.ends_with("_FILE") {
                // The file comes from a volume mounted into this service.
                let mounts: Vec<String> = service["volumes"]
                    .as_vec()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|v| v.as_str().unwrap().split(':').nth(1).unwrap().to_string())
                    .collect();
                assert!(
                    mounts.iter().any(|m| value.starts_with(&format!("{m}/"))),
                    "{name}: {key}={value} is not under a mounted volume {mounts:?}"
                );
            }
            assert!(
                !value.contains("postgres://"),
                "{name}: {key} has a connection string"
            );
        }
    }
}

#[test]
fn the_gateway_environment_fills_exactly_the_nginx_templates() {
    let doc = compose();
    let gateway = &services(&doc)["gateway"];
    let env = environment(gateway);
    let dir = infra().join("nginx");
    let mut needed = BTreeSet::new();
    for file in ["nginx.conf.template", "gateway.conf.template"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let names = template::placeholders(&text);
        let values: BTreeMap<&str, String> = env
            .iter()
            .filter(|(k, _)| names.contains(k))
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        template::render(&text, &values).unwrap_or_else(|e| panic!("{file}: {e}"));
        needed.extend(names);
        // Mounted where the nginx image's templates step finds it.
        let mounted =
            gateway["volumes"].as_vec().unwrap().iter().any(|v| {
                v.as_str() == Some(&format!("./nginx/{file}:/etc/nginx/templates/{file}:ro"))
            });
        assert!(mounted, "{file} mounted into /etc/nginx/templates");
    }
    let image_vars: BTreeSet<&str> = ["NGINX_ENVSUBST_OUTPUT_DIR"].into();
    for key in env.keys() {
        assert!(
            needed.contains(key) || image_vars.contains(key.as_str()),
            "gateway: {key} is used by no template"
        );
    }
    assert_eq!(env["NGINX_ENVSUBST_OUTPUT_DIR"], env["NGINX_CONF_DIR"]);
    for (service, port) in [
        ("auth", 8081),
        ("records", 8082),
        ("bookings", 8083),
        ("alerts", 8086),
        ("broker", 8085),
    ] {
        let var = format!("{}_UPSTREAM", service.to_uppercase());
        assert_eq!(env[&var], format!("{service}:{port}"));
    }
}

/// The `[section]` defaults of a service as JSON, to check keys against.
/// Issue 15: compose serves the API over TLS only. The gateway's plain port redirects to the
/// published HTTPS port, the certificate comes from its own secrets volume, and the healthcheck
/// uses the one plain-HTTP path left (/health).
#[test]
fn the_gateway_terminates_tls_and_redirects_plain_http() {
    let doc = compose();
    let gateway = &services(&doc)["gateway"];
    let env = environment(gateway);
    let ports: Vec<&str> = gateway["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let https_port = &env["GATEWAY_HTTPS_PORT"];
    assert!(
        ports.contains(&format!("{https_port}:{}", env["GATEWAY_HTTPS_LISTEN"]).as_str()),
        "the redirect names the published HTTPS port: {ports:?}"
    );
    for file in ["TLS_CERT", "TLS_KEY"] {
        assert!(env[file].starts_with("/run/secrets/episante/"), "{file}");
    }
    assert!(gateway["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .any(|v| v.as_str() == Some("gateway-secrets:/run/secrets/episante:ro")));
    let probe = format!("{:?}", gateway["healthcheck"]["test"]);
    assert!(probe.contains("http://127.0.0.1/health"), "{probe}");
    // The plain server of the template: /health and a redirect, no route to a service.
    let text = std::fs::read_to_string(infra().join("nginx/gateway.conf.template")).unwrap();
    let plain = text
        .split("\nserver {")
        .find(|block| block.contains("listen ${GATEWAY_HTTP_LISTEN}"))
        .expect("a plain-HTTP server block");
    let plain = &plain[..plain.find("\n}\n").unwrap_or(plain.len())];
    assert!(!plain.contains("proxy_pass"), "{plain}");
    assert!(!plain.contains("GATEWAY_HTTPS_LISTEN"), "{plain}");
    assert!(
        plain.contains("return 308 https://$host:${GATEWAY_HTTPS_PORT}$request_uri;"),
        "{plain}"
    );
}

fn section<T: Serialize + Default>() -> Value {
    serde_json::to_value(T::default()).unwrap()
}

fn check_env_key(service: &str, key: &str, sections: &BTreeMap<&str, Value>) {
    let Some(rest) = key.strip_prefix("EPISANTE_") else {
        return;
    };
    let rest = rest.strip_suffix("_FILE").unwrap_or(rest);
    if rest == "DATA_DIR" {
        return; // read by default_data_dir(), not a section
    }
    let mut parts = rest.split("__").map(str::to_lowercase);
    let section_name = parts.next().unwrap();
    let mut node = sections
        .get(section_name.as_str())
        .unwrap_or_else(|| panic!("{service}: {key}: no [{section_name}] section"));
    for part in parts {
        node = node.get(&part).unwrap_or_else(|| {
            panic!("{service}: {key}: no key {part} in [{section_name}]: {node}")
        });
    }
}

#[test]
fn services_environment_names_real_configuration_keys() {
    let doc = compose();
    let services = services(&doc);
    let shared = |extra: Vec<(&'static str, Value)>| -> BTreeMap<&'static str, Value> {
        let mut m: BTreeMap<&'static str, Value> = BTreeMap::from([
            ("database", section::<episante_kit::DatabaseConfig>()),
            ("tokens", section::<episante_kit::TokenConfig>()),
            ("vault", section::<episante_kit::VaultConfig>()),
            ("log", section::<episante_kit::telemetry::LogConfig>()),
            ("kafka", section::<episante_kit::events::EventBusConfig>()),
        ]);
        m.extend(extra);
        m
    };
    let mut checked = BTreeMap::new();
    checked.insert(
        "auth",
        shared(vec![(
            "auth",
            section::<episante_auth::config::AuthConfig>(),
        )]),
    );
    checked.insert(
        "broker",
        shared(vec![(
            "broker",
            section::<episante_broker::config::BrokerConfig>(),
        )]),
    );
    checked.insert(
        "records",
        shared(vec![(
            "records",
            section::<episante_records::config::RecordsConfig>(),
        )]),
    );
    checked.insert(
        "bookings",
        shared(vec![(
            "bookings",
            section::<episante_bookings::config::BookingsConfig>(),
        )]),
    );
    checked.insert(
        "alerts",
        shared(vec![(
            "alerts",
            section::<episante_alerts::config::AlertsConfig>(),
        )]),
    );
    for (service, sections) in &checked {
        let env = environment(&services[*service]);
        assert!(
            env.contains_key("DATABASE_URL_FILE"),
            "{service}: admin database URL"
        );
        assert_eq!(
            env.get("EPISANTE_LOG__FORMAT").map(String::as_str),
            Some("json"),
            "{service}"
        );
        for key in env.keys() {
            check_env_key(service, key, sections);
        }
    }
    assert_eq!(checked.len(), 5, "every service's variables are checked");
    // The portal's gateway: its [gateway] section, upstreams included, and the portal on 3000.
    let portal = BTreeMap::from([
        (
            "gateway",
            section::<episante_gateway::config::GatewayConfig>(),
        ),
        ("log", section::<episante_kit::telemetry::LogConfig>()),
    ]);
    let env = environment(&services["portal"]);
    for key in env.keys() {
        check_env_key("portal", key, &portal);
    }
    assert_eq!(
        env.get("EPISANTE_GATEWAY__BIND").map(String::as_str),
        Some("0.0.0.0:3000")
    );
    assert_eq!(services["portal"]["ports"][0].as_str(), Some("3000:3000"));
}

#[test]
fn the_entrypoint_turns_file_variables_into_values() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("token");
    std::fs::write(&secret, "s.abc123").unwrap();
    let out = std::process::Command::new("sh")
        .arg(infra().join("docker/entrypoint.sh"))
        .arg("env")
        .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
        .env("VAULT_TOKEN_FILE", &secret)
        .env("EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD_FILE", &secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = String::from_utf8(out.stdout).unwrap();
    assert!(env.lines().any(|l| l == "VAULT_TOKEN=s.abc123"), "{env}");
    assert!(env
        .lines()
        .any(|l| l == "EPISANTE_AUTH__BOOTSTRAP_ADMIN_PASSWORD=s.abc123"));
    assert!(
        !env.contains("TOKEN_FILE=") && !env.contains("PASSWORD_FILE="),
        "removed: {env}"
    );
    assert!(
        env.lines()
            .any(|l| l == "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "others kept"
    );

    let missing = std::process::Command::new("sh")
        .arg(infra().join("docker/entrypoint.sh"))
        .arg("true")
        .env("DATABASE_URL_FILE", dir.path().join("absent"))
        .output()
        .unwrap();
    assert!(
        !missing.status.success(),
        "a missing secret file stops the container"
    );
}

#[test]
fn the_health_probe_reports_up_and_down() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for (i, stream) in listener.incoming().take(2).enumerate() {
            let mut stream = stream.unwrap();
            let mut request = vec![];
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0);
                request.extend_from_slice(&buf[..n]);
            }
            assert!(request.starts_with(b"GET /health HTTP/1.1\r\n"));
            let status = if i == 0 {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok").unwrap();
        }
    });
    let timeout = std::time::Duration::from_secs(3);
    let url = format!("http://{addr}/health");
    assert_eq!(episante_infra::probe::check(&url, timeout), Ok(200));
    assert_eq!(episante_infra::probe::check(&url, timeout), Ok(503));
    server.join().unwrap();
    let closed = format!(
        "http://127.0.0.1:{}/health",
        episante_testkit::net::free_port()
    );
    assert!(episante_infra::probe::check(&closed, timeout).is_err());
    assert!(episante_infra::probe::check("https://x/health", timeout).is_err());
}

/// Debian's docker-compose validates the file for real (it needs no daemon for `config`): the
/// schema, interpolation and every reference, as `docker compose up` would read them.
#[test]
fn docker_compose_config_accepts_the_file() {
    let out = std::process::Command::new("docker-compose")
        .args(["-p", "episante", "-f"])
        .arg(infra().join("docker-compose.yml"))
        .args(["config", "--services"])
        .output()
        .expect("docker-compose (infra/dev/install-tools.sh installs Debian's package)");
    assert!(
        out.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let ours: BTreeSet<String> = services(&compose()).into_keys().collect();
    assert_eq!(listed, ours, "docker-compose reads the services we check");
}

/// `infra/cluster/compose_env.py env SERVICE`, the cluster's source of every service setting.
fn cluster_env(service: &str, maps: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut command = std::process::Command::new("python3");
    command
        .arg(infra().join("cluster/compose_env.py"))
        .args(["env", service])
        .env_remove("EPISANTE_MQTT_HOSTNAME")
        .env_remove("EPISANTE_GATEWAY_HOSTNAMES");
    for (from, to) in maps {
        command.arg("--map").arg(format!("{from}={to}"));
    }
    let out = command.output().expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Lines are NAME=shell-quoted value; unquote with the shell itself.
    let script = format!(
        "{}\nenv -0",
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| format!("export {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let out = std::process::Command::new("env")
        .args(["-i", "sh", "-c", &script])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !["PWD", "SHLVL", "_", "OLDPWD"].contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Compose's `${VAR:-default}` with the variables unset.
fn with_defaults(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed placeholder") + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map(|(_, d)| d).unwrap_or(""));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The cluster (infra/cluster/up.sh) runs compose's services with compose's settings: every
/// service of the compose file is either run by the cluster or named here as left out, and each
/// one's environment there is compose's, only its mounted container paths mapped to directories.
#[test]
fn the_cluster_runs_compose_services_with_compose_settings() {
    let lib = std::fs::read_to_string(infra().join("cluster/lib.sh")).unwrap();
    let up = std::fs::read_to_string(infra().join("cluster/up.sh")).unwrap();
    let list = |name: &str| -> Vec<String> {
        let start = lib.find(&format!("{name}=(")).expect(name) + name.len() + 2;
        let end = lib[start..].find(')').unwrap() + start;
        lib[start..end]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let app_services = list("SERVICES");
    let mut in_cluster: BTreeSet<String> = app_services.iter().cloned().collect();
    for s in &app_services {
        in_cluster.insert(format!("{s}-db")); // one server, one database + role each
    }
    for s in [
        "vault",
        "vault-bootstrap",
        "service-clients",
        "kafka",
        "gateway",
    ] {
        assert!(up.contains(s), "up.sh handles {s}");
        in_cluster.insert(s.into());
    }
    // Left out of the cluster: observability (its configuration is tested in observability.rs)
    // and the portal (the browser tests run it through `episante up`).
    let left_out: BTreeSet<String> = ["prometheus", "loki", "alloy", "grafana", "portal"]
        .map(String::from)
        .into();
    let all: BTreeSet<String> = services(&compose()).into_keys().collect();
    let covered: BTreeSet<String> = in_cluster.union(&left_out).cloned().collect();
    assert_eq!(
        all, covered,
        "a compose service the cluster neither runs nor leaves out on purpose (or the reverse)"
    );

    let doc = compose();
    let compose_services = services(&doc);
    let gateway = environment(&compose_services["gateway"]);
    for s in &app_services {
        let env = environment(&compose_services[s.as_str()]);
        let got = cluster_env(
            s,
            &[
                ("/run/secrets/episante", "/c/secrets/x"),
                ("/var/lib/episante", "/c/data/x-1"),
            ],
        );
        assert_eq!(
            got.keys().collect::<BTreeSet<_>>(),
            env.keys().collect::<BTreeSet<_>>(),
            "{s}"
        );
        for (name, value) in &env {
            let expected = with_defaults(value)
                .replace("/run/secrets/episante", "/c/secrets/x")
                .replace("/var/lib/episante", "/c/data/x-1");
            assert_eq!(got[name], expected, "{s}: {name}");
        }
        // up.sh's port for the service is the one compose binds and the gateway proxies to.
        let port = up
            .split_once("declare -A PORT=(")
            .unwrap()
            .1
            .split(')')
            .next()
            .unwrap()
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("[{s}]=")))
            .unwrap_or_else(|| panic!("up.sh has no port for {s}"))
            .to_string();
        assert!(
            env.iter()
                .any(|(k, v)| k.ends_with("BIND") && v.ends_with(&format!(":{port}"))),
            "{s}: compose binds {port}"
        );
        assert!(
            gateway.values().any(|v| v == &format!("{s}:{port}")),
            "{s}: the gateway's upstream is {s}:{port}"
        );
    }
}
