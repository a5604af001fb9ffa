//! The admin commands end to end: the real binary against a platform started by `episante up`,
//! JSON output that parses, the documented exit codes, clear messages for bad input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::platform::Platform;

struct Cli<'a> {
    server: String,
    config: &'a Path,
}

impl Cli<'_> {
    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_episante"))
            .args(["--server", &self.server])
            .args(args)
            .env("EPISANTE_CONFIG_DIR", self.config)
            .env_remove("EPISANTE_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// Runs `args` with `-o json`, expects success, parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "{args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn an_admin_session_from_users_to_alerts() {
    let config = tempfile::tempdir().unwrap();
    let platform = Platform::start(config.path());
    let cli = Cli {
        server: platform.url("gateway").to_string(),
        config: config.path(),
    };

    // Not logged in yet: exit 4.
    let out = cli.run(&["whoami"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("episante login"));
    // Wrong password: exit 4; then the right one.
    let out = cli.run_with_stdin(
        &[
            "login",
            "--email",
            &platform.admin_email,
            "--password-stdin",
        ],
        Some("wrong\n"),
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let out = cli.run_with_stdin(
        &[
            "login",
            "--email",
            &platform.admin_email,
            "--password-stdin",
        ],
        Some(&format!("{}\n", platform.admin_password)),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let session_file = config.path().join("session.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&session_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let me = cli.json(&["whoami"]);
    assert_eq!(me["role"], "admin");

    // Users.
    let clinician = cli.json(&[
        "users",
        "create",
        "--email",
        "dr.cli@example.org",
        "--name",
        "Dr Cli",
        "--role",
        "clinician",
        "--password",
        "a long enough password",
    ]);
    let clinician_id = clinician["id"].as_str().unwrap().to_string();
    let patient_user = cli.json(&[
        "users",
        "create",
        "--email",
        "pat.cli@example.org",
        "--name",
        "Pat Cli",
        "--role",
        "patient",
        "--password",
        "a long enough password",
    ]);
    let patient_user_id = patient_user["id"].as_str().unwrap().to_string();
    let users = cli.json(&["users", "list"]);
    assert_eq!(users["users"].as_array().unwrap().len(), 3);

    // Notification preferences: an admin puts the clinician on call with a phone for pages;
    // a patient cannot be on call, a phone must be E.164 — refused with the field, nothing kept.
    let prefs = cli.json(&[
        "notify",
        "prefs",
        "set",
        "--user",
        &clinician_id,
        "--on-call",
        "true",
        "--phone",
        "+33612345678",
        "--channel",
        "alert_page=sms,email",
    ]);
    assert_eq!(prefs["on_call"], true);
    assert_eq!(
        prefs["channels"]["alert_page"],
        serde_json::json!(["email", "sms"])
    );
    // (user, flags, what the refusal names)
    let refusals = [
        (&patient_user_id, ["--on-call", "true"], "on_call:"),
        (&clinician_id, ["--phone", "06 12 34 56 78"], "phone:"),
        (
            &clinician_id,
            ["--channel", "alert_page=none"],
            "cannot be turned off while on call",
        ),
    ];
    for (user, flags, named) in refusals {
        let mut args = vec!["notify", "prefs", "set", "--user", user.as_str()];
        args.extend(flags);
        let out = cli.run(&args);
        assert_ne!(code(&out), 0, "{args:?}");
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
    let kept = cli.json(&["notify", "prefs", "show", "--user", &clinician_id]);
    assert_eq!(kept, prefs);
    let out = cli.run(&["notify", "prefs", "set"]);
    assert_eq!(code(&out), 2, "nothing to change is a usage error");
    let log = cli.json(&["notify", "deliveries", "--status", "failed"]);
    assert!(log["items"].is_array(), "{log}");

    // Patients: create, bad input, import with a per-row report.
    let patient = cli.json(&[
        "patients",
        "create",
        "--given",
        "Ada",
        "--family",
        "Lovelace",
        "--birth-date",
        "1985-12-10",
        "--sex",
        "female",
        "--national-id",
        "18512751080",
    ]);
    let patient_id = patient["id"].as_str().unwrap().to_string();
    let out = cli.run(&[
        "patients",
        "create",
        "--given",
        "Ada",
        "--family",
        "Byron",
        "--birth-date",
        "1985-12-10",
        "--sex",
        "female",
        "--phone",
        "12",
    ]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("phone"), "{}", stderr(&out));
    let csv = config.path().join("ward.csv");
    std::fs::write(
        &csv,
        "given_names,family_name,birth_date,sex,email\n\
         Alan Mathison,Turing,1912-06-23,male,alan@example.org\n\
         Grace,Hopper,not-a-date,female,\n\
         Emmy,Noether,1982-03-23,female,\n",
    )
    .unwrap();
    let out = cli.run(&["patients", "import", csv.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code(&out), 1, "a bad row fails the command");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["failed"][0]["line"], 3);
    assert!(
        !report["failed"][0]["error"].as_str().unwrap().is_empty(),
        "{report}"
    );
    let found = cli.json(&["patients", "list", "--name", "turing"]);
    assert_eq!(found["patients"].as_array().unwrap().len(), 1);
    let out = cli.run(&["patients", "get", "00000000-0000-4000-8000-000000000000"]);
    assert_eq!(code(&out), 3, "not found: {}", stderr(&out));

    // Care team, device registration and assignment.
    let team = cli.json(&["teams", "create", "Ward CLI"]);
    let team_id = team["id"].as_str().unwrap().to_string();
    cli.json(&["teams", "add-member", &team_id, &clinician_id]);
    cli.json(&["teams", "add-patient", &team_id, &patient_id]);
    let creds = cli.json(&["devices", "register", "hubcli0", "--label", "bed 1"]);
    assert!(creds["secret"].is_string());
    let assigned = cli.json(&["devices", "assign", "hubcli0", "--patient", &patient_id]);
    assert_eq!(assigned["device_id"], "hubcli0");
    // Fleet health: a hub that never connected is silent.
    let out = cli.run(&["devices", "list"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    for column in ["ONLINE", "LAST SEEN", "BACKLOG"] {
        assert!(table.contains(column), "{table}");
    }
    let silent = cli.json(&["devices", "list", "--offline"]);
    let silent = silent
        .as_array()
        .unwrap_or_else(|| silent["devices"].as_array().unwrap());
    assert!(
        silent
            .iter()
            .any(|d| d["device_id"] == "hubcli0" && d["online"] == false),
        "{silent:?}"
    );

    // Bookings: a type, a practitioner with availability, a slot, book, cancel.
    let kind = cli.json(&[
        "appointment-types",
        "create",
        "--name",
        "Consultation",
        "--minutes",
        "30",
    ]);
    let kind_id = kind["id"].as_str().unwrap().to_string();
    let practitioner = cli.json(&[
        "practitioners",
        "create",
        "--user",
        &clinician_id,
        "--name",
        "Dr Cli",
        "--specialty",
        "cardiology",
        "--location",
        "Paris",
        "--language",
        "fr",
        "--time-zone",
        "Europe/Paris",
    ]);
    let practitioner_id = practitioner["id"].as_str().unwrap().to_string();
    let week = config.path().join("week.json");
    let days: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| serde_json::json!({"weekday": d, "start": "09:00", "end": "12:00"}))
        .collect();
    std::fs::write(
        &week,
        serde_json::json!({"weekly": days, "exceptions": []}).to_string(),
    )
    .unwrap();
    cli.json(&[
        "practitioners",
        "set-availability",
        &practitioner_id,
        "--file",
        week.to_str().unwrap(),
    ]);
    let from = (chrono::Utc::now() + chrono::Duration::days(2))
        .date_naive()
        .to_string();
    let to = (chrono::Utc::now() + chrono::Duration::days(4))
        .date_naive()
        .to_string();
    let slots = cli.json(&[
        "slots", "search", "--type", &kind_id, "--from", &from, "--to", &to,
    ]);
    let slot = &slots["items"][0];
    let at = slot["starts_at"].as_str().expect("a free slot").to_string();
    let booked = cli.json(&[
        "appointments",
        "book",
        "--practitioner",
        &practitioner_id,
        "--type",
        &kind_id,
        "--at",
        &at,
        "--patient",
        &patient_user_id,
        "--idempotency-key",
        "cli-test-1",
    ]);
    assert_eq!(booked["status"], "booked");
    let again = cli.json(&[
        "appointments",
        "book",
        "--practitioner",
        &practitioner_id,
        "--type",
        &kind_id,
        "--at",
        &at,
        "--patient",
        &patient_user_id,
        "--idempotency-key",
        "cli-test-1",
    ]);
    assert_eq!(again["id"], booked["id"], "an idempotent retry");
    let out = cli.run(&[
        "appointments",
        "book",
        "--practitioner",
        &practitioner_id,
        "--type",
        &kind_id,
        "--at",
        &at,
        "--patient",
        &patient_user_id,
    ]);
    assert_eq!(code(&out), 1, "the slot is taken: {}", stderr(&out));
    let cancelled = cli.json(&["appointments", "cancel", booked["id"].as_str().unwrap()]);
    assert_eq!(cancelled["status"], "cancelled");

    // Alerts: a simulated tachycardia on the assigned hub.
    let token: Value =
        serde_json::from_str(&std::fs::read_to_string(&session_file).unwrap()).unwrap();
    let mqtt_port = platform.url("mqtt").rsplit_once(':').unwrap().1.to_string();
    let out = cli.run(&[
        "sim",
        "run",
        "--port",
        &mqtt_port,
        "--registry",
        platform.url("devices"),
        "--token",
        token["access_token"].as_str().unwrap(),
        "--devices",
        "1",
        "--prefix",
        "hubcli",
        "--scenario",
        "tachycardia",
        "--speed",
        "20",
        "--duration",
        "20",
        "--quiet",
    ]);
    assert!(out.status.success(), "sim: {}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let alerts = cli.json(&["alerts", "list", "--patient", &patient_id]);
        if let Some(a) = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule_key"] == "heart_rate.high")
        {
            break a.clone();
        }
        assert!(Instant::now() < deadline, "no tachycardia alert: {alerts}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let id = alert["id"].as_str().unwrap().to_string();
    let acked = cli.json(&["alerts", "ack", &id]);
    assert_eq!(acked["state"], "acknowledged");
    let out = cli.run(&["alerts", "ack", &id]);
    assert_eq!(code(&out), 1, "acknowledging twice is refused");
    assert!(stderr(&out).contains("not active"), "{}", stderr(&out));
    // `alerts watch` follows the live stream (resuming after the last event seen, so no race with
    // its connection): the resolution shows up on it.
    let detail = cli.json(&["alerts", "get", &id]);
    let since = detail["history"].as_array().unwrap().last().unwrap()["id"].to_string();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_episante"))
        .args([
            "--server",
            &cli.server,
            "alerts",
            "watch",
            "--since",
            &since,
            "-o",
            "json",
        ])
        .env("EPISANTE_CONFIG_DIR", cli.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let resolved = cli.json(&["alerts", "resolve", &id, "--note", "checked by phone"]);
    assert_eq!(resolved["state"], "resolved");
    let seen = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("a live event");
        let event: Value = serde_json::from_str(&line).expect("one JSON event per line");
        if event["kind"] == "resolved" {
            break event;
        }
    };
    assert_eq!(seen["alert_id"], id.as_str());
    let _ = watch.kill();
    let _ = watch.wait();
    // Table output is readable too.
    let out = cli.run(&["alerts", "list", "--state", "resolved"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("heart_rate.high"));

    // Audit trail and its verification.
    let audit = cli.json(&["audit", "list", "--patient", &patient_id]);
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "patient.create"));
    let verdict = cli.json(&["audit", "verify"]);
    assert_eq!(verdict["intact"], true);

    // Usage errors: exit 2; completions; logout.
    let out = cli.run(&["patients"]);
    assert_eq!(code(&out), 2);
    let out = cli.run(&["alerts", "list", "--output", "yaml"]);
    assert_eq!(code(&out), 2);
    let out = cli.run(&["completions", "bash"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("episante"));
    assert!(cli.run(&["logout"]).status.success());
    assert_eq!(code(&cli.run(&["whoami"])), 4);
}
