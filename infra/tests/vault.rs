//! infra/vault/bootstrap.sh and init.sh against real OpenBao: every service token can use its
//! own paths and gets 403 on everybody else's; reruns change nothing; the real auth service runs
//! on its token.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use episante_kit::telemetry::LogConfig;
use episante_kit::{Secret, Shutdown, TokenConfig, VaultConfig};
use episante_testkit::process::ServerProcess;
use episante_testkit::{TestDb, TestVault};
use serde_json::{json, Value};

const SERVICES: [&str; 5] = ["auth", "records", "bookings", "alerts", "broker"];

fn bao() -> std::path::PathBuf {
    let bao = episante_testkit::tools::bao();
    assert!(
        bao.is_file(),
        "OpenBao not found at {}: run infra/dev/install-tools.sh",
        bao.display()
    );
    bao
}

fn run_script(script: &str, envs: &[(&str, String)]) -> String {
    let path = episante_infra::infra_dir().join("vault").join(script);
    let mut command = Command::new("bash");
    command
        .arg(&path)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_ADDR")
        .env_remove("BAO_TOKEN")
        .env("BAO", bao())
        .env("HOME", std::env::temp_dir());
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{script} failed: {}\n{stderr}",
        out.status
    );
    stderr
}

fn bootstrap(vault: &TestVault, secrets: &Path) -> String {
    run_script(
        "bootstrap.sh",
        &[
            ("VAULT_ADDR", vault.addr.clone()),
            ("VAULT_TOKEN", vault.token.clone()),
            ("SECRETS_DIR", secrets.display().to_string()),
        ],
    )
}

fn tokens(secrets: &Path) -> BTreeMap<&'static str, String> {
    SERVICES
        .iter()
        .map(|s| {
            let file = secrets.join(s).join("vault-token");
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o400, "{} mode {mode:o}", file.display());
            (*s, std::fs::read_to_string(file).unwrap())
        })
        .collect()
}

/// A Vault API call as `token`: (status, body).
async fn call(
    vault: &TestVault,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/{path}", vault.addr);
    let mut request = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        "LIST" => client.request(reqwest::Method::from_bytes(b"LIST").unwrap(), url),
        other => panic!("method {other}"),
    }
    .header("X-Vault-Token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn expect(
    vault: &TestVault,
    who: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    want: u16,
) -> Value {
    let (status, answer) = call(vault, token, method, path, body).await;
    assert_eq!(status, want, "{who}: {method} {path} → {status} {answer}");
    answer
}

const PLAINTEXT: &str = "UGF0aWVudDogSmVhbm5lIER1cG9udA=="; // base64

#[tokio::test]
async fn each_service_token_reaches_its_own_secrets_and_nothing_else() {
    let vault = TestVault::start().await.expect("OpenBao starts");
    let secrets = tempfile::tempdir().unwrap();
    bootstrap(&vault, secrets.path());
    let t = tokens(secrets.path());
    let v = &vault;

    // auth: its signing-key path, read and write; nothing else.
    let auth = t["auth"].as_str();
    expect(
        v,
        "auth",
        auth,
        "POST",
        "secret/data/episante/auth/signing-keys",
        Some(json!({"data": {"keys": "[]"}})),
        200,
    )
    .await;
    expect(
        v,
        "auth",
        auth,
        "GET",
        "secret/data/episante/auth/signing-keys",
        None,
        200,
    )
    .await;
    expect(
        v,
        "auth",
        auth,
        "GET",
        "secret/data/episante/records/blind-index-key",
        None,
        403,
    )
    .await;
    expect(
        v,
        "auth",
        auth,
        "GET",
        "secret/data/episante/broker/postgres",
        None,
        403,
    )
    .await;
    expect(
        v,
        "auth",
        auth,
        "POST",
        "secret/data/episante/bookings/x",
        Some(json!({"data": {"a": "b"}})),
        403,
    )
    .await;
    expect(
        v,
        "auth",
        auth,
        "POST",
        "transit/encrypt/records-pii",
        Some(json!({"plaintext": PLAINTEXT})),
        403,
    )
    .await;

    // records: the records-pii key for data keys, encrypt/decrypt, rewrap, rotate; its own secrets.
    let records = t["records"].as_str();
    let enc = expect(
        v,
        "records",
        records,
        "POST",
        "transit/encrypt/records-pii",
        Some(json!({"plaintext": PLAINTEXT})),
        200,
    )
    .await;
    let ciphertext = enc["data"]["ciphertext"].as_str().unwrap().to_string();
    let dec = expect(
        v,
        "records",
        records,
        "POST",
        "transit/decrypt/records-pii",
        Some(json!({"ciphertext": ciphertext})),
        200,
    )
    .await;
    assert_eq!(dec["data"]["plaintext"], PLAINTEXT);
    let wrapped = expect(
        v,
        "records",
        records,
        "POST",
        "transit/datakey/wrapped/records-pii",
        Some(json!({})),
        200,
    )
    .await;
    assert!(
        wrapped["data"]["plaintext"].is_null(),
        "wrapped data key has no plaintext"
    );
    let plain = expect(
        v,
        "records",
        records,
        "POST",
        "transit/datakey/plaintext/records-pii",
        Some(json!({})),
        200,
    )
    .await;
    assert!(plain["data"]["plaintext"].is_string());
    expect(
        v,
        "records",
        records,
        "GET",
        "transit/keys/records-pii",
        None,
        200,
    )
    .await;
    let (status, _) = call(
        v,
        records,
        "POST",
        "transit/keys/records-pii/rotate",
        Some(json!({})),
    )
    .await;
    assert!(
        status == 200 || status == 204,
        "records rotates its key: {status}"
    );
    let rewrapped = expect(
        v,
        "records",
        records,
        "POST",
        "transit/rewrap/records-pii",
        Some(json!({"ciphertext": ciphertext})),
        200,
    )
    .await;
    assert!(
        rewrapped["data"]["ciphertext"]
            .as_str()
            .unwrap()
            .starts_with("vault:v2:"),
        "{rewrapped}"
    );
    let blind = expect(
        v,
        "records",
        records,
        "GET",
        "secret/data/episante/records/blind-index-key",
        None,
        200,
    )
    .await;
    let key = blind["data"]["data"]["key"]
        .as_str()
        .expect("blind index key");
    assert_eq!(key.len(), 44, "32 random bytes, base64");
    // …and nothing more: no other key, no key management, no export, no other secrets.
    expect(
        v,
        "records",
        records,
        "POST",
        "transit/keys/other-key",
        Some(json!({})),
        403,
    )
    .await;
    expect(
        v,
        "records",
        records,
        "POST",
        "transit/encrypt/other-key",
        Some(json!({"plaintext": PLAINTEXT})),
        403,
    )
    .await;
    expect(
        v,
        "records",
        records,
        "POST",
        "transit/keys/records-pii/config",
        Some(json!({"deletion_allowed": true})),
        403,
    )
    .await;
    expect(
        v,
        "records",
        records,
        "DELETE",
        "transit/keys/records-pii",
        None,
        403,
    )
    .await;
    expect(
        v,
        "records",
        records,
        "GET",
        "transit/export/encryption-key/records-pii",
        None,
        403,
    )
    .await;
    expect(
        v,
        "records",
        records,
        "POST",
        "secret/data/episante/records/blind-index-key",
        Some(json!({"data": {"key": "x"}})),
        403,
    )
    .await;
    expect(
        v,
        "records",
        records,
        "GET",
        "secret/data/episante/auth/signing-keys",
        None,
        403,
    )
    .await;
    expect(
        v,
        "records",
        records,
        "GET",
        "secret/data/episante/alerts/webhook-secret",
        None,
        403,
    )
    .await;

    // alerts: its webhook secret only.
    let alerts = t["alerts"].as_str();
    let webhook = expect(
        v,
        "alerts",
        alerts,
        "GET",
        "secret/data/episante/alerts/webhook-secret",
        None,
        200,
    )
    .await;
    assert!(webhook["data"]["data"]["secret"].is_string());
    expect(
        v,
        "alerts",
        alerts,
        "GET",
        "secret/data/episante/records/blind-index-key",
        None,
        403,
    )
    .await;
    expect(
        v,
        "alerts",
        alerts,
        "POST",
        "transit/decrypt/records-pii",
        Some(json!({"ciphertext": ciphertext})),
        403,
    )
    .await;

    // bookings and broker: their own subtree.
    let bookings = t["bookings"].as_str();
    expect(
        v,
        "bookings",
        bookings,
        "GET",
        "secret/data/episante/bookings/postgres",
        None,
        200,
    )
    .await;
    expect(
        v,
        "bookings",
        bookings,
        "GET",
        "secret/data/episante/alerts/webhook-secret",
        None,
        403,
    )
    .await;
    expect(
        v,
        "bookings",
        bookings,
        "GET",
        "secret/data/episante/auth/signing-keys",
        None,
        403,
    )
    .await;
    let broker = t["broker"].as_str();
    expect(
        v,
        "broker",
        broker,
        "POST",
        "secret/data/episante/broker/device-ca",
        Some(json!({"data": {"pem": "x"}})),
        200,
    )
    .await;
    expect(
        v,
        "broker",
        broker,
        "GET",
        "secret/data/episante/broker/device-ca",
        None,
        200,
    )
    .await;
    expect(
        v,
        "broker",
        broker,
        "GET",
        "secret/data/episante/auth/signing-keys",
        None,
        403,
    )
    .await;
    expect(
        v,
        "broker",
        broker,
        "POST",
        "transit/encrypt/records-pii",
        Some(json!({"plaintext": PLAINTEXT})),
        403,
    )
    .await;

    // Nobody administers Vault.
    for (service, token) in &t {
        expect(v, service, token, "GET", "sys/mounts", None, 403).await;
        expect(
            v,
            service,
            token,
            "POST",
            "sys/policies/acl/escalate",
            Some(json!({"policy": "path \"*\" { capabilities = [\"sudo\"] }"})),
            403,
        )
        .await;
        expect(
            v,
            service,
            token,
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["root"]})),
            403,
        )
        .await;
        let me = expect(
            v,
            service,
            token,
            "GET",
            "auth/token/lookup-self",
            None,
            200,
        )
        .await;
        assert!(me["data"]["orphan"].as_bool().unwrap(), "{me}");
        assert!(me["data"]["period"].as_u64().unwrap() > 0, "periodic: {me}");
    }
}

#[tokio::test]
async fn bootstrap_writes_the_containers_files_and_reruns_change_nothing() {
    let vault = TestVault::start().await.expect("OpenBao starts");
    let secrets = tempfile::tempdir().unwrap();
    let dir = secrets.path();
    let first = bootstrap(&vault, dir);
    assert!(
        first.contains("creating transit key records-pii"),
        "{first}"
    );
    let tokens_before = tokens(dir);
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let files_before: Vec<String> = [
        "auth/database-url",
        "auth/database-password",
        "auth/admin-password",
        "records/postgres-password",
        "grafana/admin-password",
        "gateway/tls.crt",
    ]
    .iter()
    .map(|p| read(p))
    .collect();
    let blind_before = vault
        .read("secret/data/episante/records/blind-index-key")
        .await
        .unwrap();

    for service in SERVICES {
        let url = read(&format!("{service}/database-url"));
        let password = read(&format!("{service}/postgres-password"));
        assert_eq!(
            url,
            format!("postgres://postgres:{password}@{service}-db:5432/postgres")
        );
        assert_eq!(password.len(), 48);
        assert_eq!(read(&format!("{service}/database-password")).len(), 48);
    }
    assert!(read("gateway/tls.crt").starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(read("gateway/tls.key").contains("PRIVATE KEY"));
    assert_eq!(read("auth/admin-email"), "admin@episante.local");
    assert!(read("auth/admin-password").len() >= 40);

    let second = bootstrap(&vault, dir);
    assert!(!second.contains("issuing token"), "{second}");
    assert!(!second.contains("generating"), "{second}");
    assert_eq!(tokens(dir), tokens_before, "valid tokens are kept");
    let files_after: Vec<String> = [
        "auth/database-url",
        "auth/database-password",
        "auth/admin-password",
        "records/postgres-password",
        "grafana/admin-password",
        "gateway/tls.crt",
    ]
    .iter()
    .map(|p| read(p))
    .collect();
    assert_eq!(files_after, files_before);
    let blind_after = vault
        .read("secret/data/episante/records/blind-index-key")
        .await
        .unwrap();
    assert_eq!(
        blind_after["data"]["data"], blind_before["data"]["data"],
        "the blind-index key is never replaced"
    );

    // A revoked token is replaced on the next run.
    vault
        .write(
            "auth/token/revoke",
            json!({"token": tokens_before["alerts"]}),
        )
        .await
        .unwrap();
    let third = bootstrap(&vault, dir);
    assert!(third.contains("alerts: issuing token"), "{third}");
    let after = tokens(dir);
    assert_ne!(after["alerts"], tokens_before["alerts"]);
    assert_eq!(after["auth"], tokens_before["auth"]);
}

#[tokio::test]
async fn the_auth_service_keeps_its_signing_keys_in_vault_with_its_own_token() {
    let vault = TestVault::start().await.expect("OpenBao starts");
    let secrets = tempfile::tempdir().unwrap();
    bootstrap(&vault, secrets.path());
    let token = std::fs::read_to_string(secrets.path().join("auth/vault-token")).unwrap();

    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let settings = episante_auth::config::Settings {
        auth: episante_auth::config::AuthConfig {
            database: db.service_database(),
            data_dir: dir.path().to_path_buf(),
            bootstrap_admin_email: "root@episante.test".into(),
            bootstrap_admin_password: Some(Secret::new("correct horse battery staple")),
            ..Default::default()
        },
        database: db.config(),
        tokens: TokenConfig::default(),
        vault: VaultConfig {
            addr: Some(vault.addr.clone()),
            token: Some(Secret::new(token)),
        },
        log: LogConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = episante_auth::build(settings)
        .await
        .expect("auth builds with its Vault token");
    let shutdown = Shutdown::new();
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    let jwks: Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"]
        .as_str()
        .expect("a published key")
        .to_string();
    let stored = vault
        .read("secret/data/episante/auth/signing-keys")
        .await
        .unwrap();
    assert!(
        stored["data"]["data"].to_string().contains(&kid),
        "{stored}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no local key file when Vault is configured"
    );
    shutdown.trigger();
}

/// OpenBao as compose runs it (Raft storage, sealed on every start): init.sh initialises it once,
/// unseals it on each start and bootstraps it.
#[tokio::test]
async fn init_initialises_once_and_unseals_on_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = episante_testkit::net::free_port();
    let cluster = episante_testkit::net::free_port();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The compose config with local paths and ports.
    let config = std::fs::read_to_string(episante_infra::infra_dir().join("vault/openbao.hcl"))
        .unwrap()
        .replace("http://vault:8200", &format!("http://127.0.0.1:{port}"))
        .replace("http://vault:8201", &format!("http://127.0.0.1:{cluster}"))
        .replace("/openbao/data", &data.display().to_string())
        .replace(
            "address     = \"0.0.0.0:8200\"",
            &format!("address = \"127.0.0.1:{port}\"\n  cluster_address = \"127.0.0.1:{cluster}\""),
        );
    assert!(config.contains(&format!("127.0.0.1:{port}\"")), "{config}");
    let config_path = dir.path().join("openbao.hcl");
    std::fs::write(&config_path, config).unwrap();
    let addr = format!("http://127.0.0.1:{port}");
    let envs = vec![
        ("VAULT_ADDR", addr.clone()),
        ("INIT_DIR", dir.path().join("init").display().to_string()),
        (
            "SECRETS_DIR",
            dir.path().join("secrets").display().to_string(),
        ),
    ];
    let start = |n: u32| {
        let mut command = Command::new(bao());
        command
            .args(["server", &format!("-config={}", config_path.display())])
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR");
        ServerProcess::spawn("OpenBao", command, &dir.path().join(format!("bao-{n}.log"))).unwrap()
    };

    let mut server = start(1);
    episante_testkit::net::wait_for_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(20))
        .await
        .unwrap();
    let first = run_script("init.sh", &envs);
    assert!(first.contains("initialising"), "{first}");
    let token_before =
        std::fs::read_to_string(dir.path().join("secrets/records/vault-token")).unwrap();
    let init_mode = std::fs::metadata(dir.path().join("init/init.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(init_mode & 0o777, 0o600);
    server.kill();

    // Restarted: sealed again; init.sh unseals, keeps everything.
    let _server = start(2);
    episante_testkit::net::wait_for_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(20))
        .await
        .unwrap();
    let second = run_script("init.sh", &envs);
    assert!(!second.contains("initialising"), "{second}");
    assert!(second.contains("unsealing"), "{second}");
    assert!(
        second.contains("records: existing token still valid"),
        "{second}"
    );
    let token = std::fs::read_to_string(dir.path().join("secrets/records/vault-token")).unwrap();
    assert_eq!(token, token_before);
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{addr}/v1/transit/encrypt/records-pii"))
        .header("X-Vault-Token", token)
        .json(&json!({"plaintext": PLAINTEXT}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

// Multi-threaded: the script (run blocking) talks to the auth service running on this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_clients_get_their_auth_client_secret_through_vault() {
    let vault = TestVault::start().await.expect("OpenBao starts");
    let auth = episante_test_auth::TestAuth::start().await;
    let secrets = tempfile::tempdir().unwrap();
    let dir = secrets.path();
    std::fs::create_dir_all(dir.join("auth")).unwrap();
    std::fs::write(
        dir.join("auth/admin-email"),
        episante_test_auth::ADMIN_EMAIL,
    )
    .unwrap();
    std::fs::write(
        dir.join("auth/admin-password"),
        episante_test_auth::ADMIN_PASSWORD,
    )
    .unwrap();
    let envs = vec![
        ("VAULT_ADDR", vault.addr.clone()),
        ("VAULT_TOKEN", vault.token.clone()),
        ("AUTH_URL", auth.base.clone()),
        ("SECRETS_DIR", dir.display().to_string()),
        ("CLIENTS", "records alerts".to_string()),
    ];
    let first = run_script("service-clients.sh", &envs);
    assert!(
        first.contains("records: registering service client"),
        "{first}"
    );
    let secret = std::fs::read_to_string(dir.join("records/client-secret")).unwrap();
    let mode = std::fs::metadata(dir.join("records/client-secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o400);
    let stored = vault
        .read("secret/data/episante/records/service-client")
        .await
        .unwrap();
    assert_eq!(stored["data"]["data"]["client_secret"], secret.as_str());

    // The secret works for the client-credentials grant.
    let token = reqwest::Client::new()
        .post(format!("{}/v1/auth/token", auth.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "records"),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);

    // Least privilege: records holds only what it calls; a client it does not know, nothing.
    let scopes = |auth: &episante_test_auth::TestAuth| {
        let request = reqwest::Client::new()
            .get(format!("{}/v1/auth/service-clients", auth.base))
            .bearer_auth(&auth.admin_token);
        async move {
            let list: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            list.as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["client_id"].as_str().unwrap().to_string(),
                        c["scopes"].clone(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let granted = scopes(&auth).await;
    assert_eq!(
        granted["records"],
        serde_json::json!(["devices:read", "vitals:read"])
    );
    assert_eq!(granted["alerts"], serde_json::json!([]));
    // Scopes changed by hand (or a client from before scopes) are set back by the next run.
    let emptied = reqwest::Client::new()
        .put(format!(
            "{}/v1/auth/service-clients/records/scopes",
            auth.base
        ))
        .bearer_auth(&auth.admin_token)
        .json(&serde_json::json!({"scopes": ["devices:manage"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(emptied.status(), 200);

    // Rerun: nothing registered again, same secret written out.
    std::fs::remove_file(dir.join("records/client-secret")).unwrap();
    let second = run_script("service-clients.sh", &envs);
    assert!(!second.contains("registering"), "{second}");
    assert_eq!(
        std::fs::read_to_string(dir.join("records/client-secret")).unwrap(),
        secret
    );
    assert_eq!(
        scopes(&auth).await["records"],
        serde_json::json!(["devices:read", "vitals:read"])
    );
}
