//! Issue 27's "done when", against `episante up --demo` with notify relaying to a real SMTP server
//! (aiosmtpd into a Maildir): a patient who books receives the confirmation in their language
//! with a calendar invitation; the demo clinician is paged for the demo's alerts; a critical alert
//! left unacknowledged escalates to the care team, then pages the demo's on-call admin.

use std::time::{Duration, Instant};

use episante_testkit::http::send;
use episante_testkit::TestSmtp;
use serde_json::{json, Value};

use crate::platform::Platform;

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Value,
) -> Value {
    let (status, body) = send(http.request(method, url).bearer_auth(token).json(&body)).await;
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let (status, body) = send(http.get(url).bearer_auth(token)).await;
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

async fn login(http: &reqwest::Client, auth: &str, email: &str, password: &str) -> String {
    let session: Value = http
        .post(format!("{auth}/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{session}"))
        .to_string()
}

/// Waits until a message to `to` whose text matches `matches` is in the Maildir.
async fn mail_to(smtp: &TestSmtp, to: &str, what: &str, matches: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(m) = smtp
            .messages()
            .into_iter()
            .find(|m| m.lines().any(|l| l.starts_with("To: ") && l.contains(to)) && matches(m))
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} to {to} in {} messages",
            smtp.count()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn up_demo_confirms_a_booking_pages_the_clinician_and_escalates_to_the_on_call_admin() {
    let smtp = TestSmtp::start().await;
    let config = tempfile::tempdir().unwrap();
    let mut platform = Platform::start_env(
        config.path(),
        &["--demo"],
        &[
            ("EPISANTE_NOTIFY__SMTP__HOST", "127.0.0.1".into()),
            ("EPISANTE_NOTIFY__SMTP__PORT", smtp.port.to_string()),
            ("EPISANTE_NOTIFY__SMTP__TLS", "none".into()),
            ("EPISANTE_ALERTS__ESCALATE_AFTER_SECS", "5".into()),
            (
                "EPISANTE_ALERTS__ESCALATE_TO_ON_CALL_AFTER_SECS",
                "10".into(),
            ),
            ("EPISANTE_ALERTS__ESCALATION_CHECK_SECS", "1".into()),
        ],
    );
    assert!(
        platform
            .lines
            .iter()
            .any(|l| l.contains("mail") && l.contains("SMTP relay 127.0.0.1")),
        "the banner says where mail goes: {:?}",
        platform.lines
    );
    let (clinician, _) = platform.demo_clinician();
    let on_call = loop {
        if let Some(line) = platform
            .lines
            .iter()
            .find(|l| l.contains("pages the on-call admin"))
        {
            break line
                .split("on-call admin ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
        }
        let line = platform
            .rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the demo names its on-call admin");
        platform.lines.push(line);
    };

    // A patient books through the gateway (as the portal does) and is confirmed in French.
    let http = reqwest::Client::new();
    let api = format!("{}/api", platform.url("gateway"));
    let admin = login(
        &http,
        &api,
        &platform.admin_email.clone(),
        &platform.admin_password.clone(),
    )
    .await;
    let doctor = call(&http, reqwest::Method::POST, &format!("{api}/v1/auth/users"), &admin,
        json!({"email": "dr.mail@example.org", "display_name": "Dr Mail", "role": "clinician", "password": "a long enough password"})).await;
    let practitioner = call(&http, reqwest::Method::POST, &format!("{api}/v1/practitioners"), &admin,
        json!({"user_id": doctor["id"], "display_name": "Dr Jeanne Mail", "specialty": "general practice",
               "location": "3 rue des Lettres, Lyon", "languages": ["fr"], "time_zone": "Europe/Paris"})).await;
    let id = practitioner["id"].as_str().unwrap();
    let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "00:00", "end": "23:30"}))
        .collect();
    call(
        &http,
        reqwest::Method::PUT,
        &format!("{api}/v1/practitioners/{id}/availability"),
        &admin,
        json!({"weekly": weekly, "exceptions": []}),
    )
    .await;
    let kind = call(
        &http,
        reqwest::Method::POST,
        &format!("{api}/v1/appointment-types"),
        &admin,
        json!({"name": "Consultation", "duration_minutes": 30}),
    )
    .await;
    call(&http, reqwest::Method::POST, &format!("{api}/v1/auth/users"), &admin,
        json!({"email": "lea.patient@example.org", "display_name": "Léa Patient", "role": "patient", "password": "a long enough password"})).await;
    let patient = login(
        &http,
        &api,
        "lea.patient@example.org",
        "a long enough password",
    )
    .await;
    let r = http
        .put(format!("{api}/v1/auth/me/language"))
        .bearer_auth(&patient)
        .json(&json!({"language": "fr"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // 10:00 UTC three days from now: inside the practice's hours whatever the time of day.
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(3))
        .date_naive()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc();
    call(
        &http,
        reqwest::Method::POST,
        &format!("{api}/v1/appointments"),
        &patient,
        json!({"practitioner_id": id, "appointment_type_id": kind["id"], "starts_at": starts_at}),
    )
    .await;
    let confirmation = mail_to(&smtp, "lea.patient@example.org", "confirmation", |m| {
        m.contains("text/calendar")
    })
    .await;
    assert!(
        confirmation.contains("Subject: =?utf-8?") || confirmation.contains("confirm"),
        "{confirmation}"
    );
    assert!(
        confirmation.contains("BEGIN:VCALENDAR")
            || confirmation.contains("Content-Transfer-Encoding: base64"),
        "{confirmation}"
    );

    // A critical alert for sure: one demo patient's heart-rate rule made critical, and low enough
    // that a normal rate trips it (the demo's own anomalies may all be "high").
    let patients = get(&http, &format!("{api}/v1/patients?limit=50"), &admin).await;
    let patient = patients["patients"][0]["id"]
        .as_str()
        .expect("a demo patient")
        .to_string();
    let rules = get(
        &http,
        &format!("{api}/v1/patients/{patient}/alert-rules"),
        &admin,
    )
    .await;
    let mut rule = rules["effective"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "heart_rate.high")
        .expect("the default heart-rate rule")
        .clone();
    rule["severity"] = json!("critical");
    rule["threshold"] = json!(40.0);
    call(
        &http,
        reqwest::Method::PUT,
        &format!("{api}/v1/patients/{patient}/alert-rules"),
        &admin,
        json!({"overrides": [rule]}),
    )
    .await;

    // The demo's alerts page its clinician; a critical one nobody acknowledges reaches on call.
    let page = mail_to(&smtp, &clinician, "alert page", |m| m.contains("alert")).await;
    assert!(page.contains("/board"), "{page}");
    let escalation = mail_to(&smtp, &on_call, "escalation", |m| {
        m.contains("unacknowledged")
    })
    .await;
    assert!(
        !escalation.contains("Lovelace") && !escalation.contains("SpO2"),
        "{escalation}"
    );
}
