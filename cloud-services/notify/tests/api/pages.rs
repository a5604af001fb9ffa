//! Alert pages: who is paged (the care team, the on-call staff at level 2), through which
//! channels (email, SMS to a Twilio-shaped endpoint, the portal's bell), what a page may say, and
//! what stops one (an acknowledgement, a burst folded into a digest).

use std::time::Duration;

use episante_kit::Role;
use episante_protocol::topics::KAFKA_ALERT_EVENTS;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{alert_event, spawn_app_with, TestApp};
use crate::sms_provider::{FakeTwilio, FROM, INVALID, SID, TOKEN};
use episante_testkit::TestSmtp;

async fn with_sms(
    configure: impl FnOnce(&mut episante_notify::config::NotifyConfig),
) -> (TestApp, TestSmtp, FakeTwilio) {
    let smtp = TestSmtp::start().await;
    let twilio = FakeTwilio::start().await;
    let url = twilio.url.clone();
    let app = spawn_app_with(smtp.port, |c| {
        c.sms.url = Some(url);
        c.sms.account_sid = Some(SID.into());
        c.sms.auth_token = Some(episante_kit::Secret::new(TOKEN));
        c.sms.from = FROM.into();
        configure(c);
    })
    .await;
    (app, smtp, twilio)
}

async fn raise(
    app: &TestApp,
    id: i64,
    alert: Uuid,
    patient: Uuid,
    kind: &str,
    state: &str,
    level: i16,
) {
    app.publish(
        KAFKA_ALERT_EVENTS,
        &patient.to_string(),
        &alert_event(id, alert, patient, kind, "critical", state, level),
    )
    .await;
}

fn header<'a>(mail: &'a str, name: &str) -> &'a str {
    mail.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
}

#[tokio::test]
async fn a_critical_alert_pages_the_care_team_in_their_language_and_names_nothing_clinical() {
    let (app, smtp, twilio) = with_sms(|_| {}).await;
    let amelie = app.person(Role::Clinician, "Dr Amelie Poulain", "fr").await;
    let john = app.person(Role::Clinician, "Dr John Watson", "en").await;
    let (status, body) = app
        .preferences(&john.token, "me", json!({"phone": "+447700900123"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let patient = Uuid::new_v4();
    app.care_team(patient, &[&amelie, &john]).await;
    let alert = Uuid::new_v4();
    raise(&app, 1, alert, patient, "created", "active", 0).await;

    let mails = smtp.wait_for(2, Duration::from_secs(30)).await;
    let subjects: Vec<String> = mails
        .iter()
        .map(|m| header(m, "Subject").to_string())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("EpiSante: critical alert needs you")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("=?utf-8?") || s.contains("critique")),
        "French subject: {subjects:?}"
    );
    for mail in &mails {
        assert!(
            mail.contains("https://portal.test/board"),
            "a link to the portal: {mail}"
        );
        for clinical in [
            "SpO2",
            "84 %",
            "below 90",
            "spo2",
            "hub-0042",
            &patient.to_string(),
        ] {
            assert!(
                !mail.contains(clinical),
                "a page names {clinical:?}: {mail}"
            );
        }
    }
    // John chose nothing, so he gets everything reachable: email, SMS and the bell.
    let sms = twilio.wait_for(1).await;
    assert_eq!(sms[0].to, "+447700900123");
    assert_eq!(sms[0].from, FROM);
    assert!(
        sms[0]
            .body
            .starts_with("EpiSante: critical alert needs you."),
        "{}",
        sms[0].body
    );
    assert!(!sms[0].body.contains("SpO2"));
    let (status, inbox) = app
        .call(
            reqwest::Method::GET,
            &format!("{}/v1/notifications/inbox", app.notify),
            &john.token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["unread"], 1, "{inbox}");
    assert_eq!(inbox["items"][0]["kind"], "alert_page");

    // The same event again (a redelivery) pages nobody twice.
    raise(&app, 1, alert, patient, "created", "active", 0).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(twilio.accepted().len(), 1);
}

#[tokio::test]
async fn an_unacknowledged_alert_escalated_to_level_2_pages_who_is_on_call_and_an_acknowledgement_stops_what_is_queued(
) {
    let (app, smtp, twilio) = with_sms(|_| {}).await;
    let doctor = app.person(Role::Clinician, "Dr Ward", "en").await;
    let admin = app.person(Role::Admin, "Night Admin", "en").await;
    let off_duty = app.person(Role::Admin, "Day Admin", "en").await;
    // Nobody can put a patient on call; an admin can put themselves (or a clinician) on call.
    let patient_user = app.person(Role::Patient, "Pat", "en").await;
    let (status, body) = app
        .preferences(&patient_user.token, "me", json!({"on_call": true}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("on_call:"),
        "{body}"
    );
    let (status, body) = app
        .preferences(
            &app.auth.admin_token,
            &patient_user.id.to_string(),
            json!({"on_call": true}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .preferences(
            &admin.token,
            "me",
            json!({"on_call": true, "phone": "+33612345678", "channels": {"alert_page": []}}),
        )
        .await;
    assert_eq!(status, 422, "on call, pages cannot be turned off: {body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("channels.alert_page:"),
        "{body}"
    );
    let (status, body) = app
        .preferences(&admin.token, "me", json!({"on_call": true, "phone": "+33612345678", "channels": {"alert_escalated": ["sms"]}}))
        .await;
    assert_eq!(status, 200, "{body}");

    let patient = Uuid::new_v4();
    app.care_team(patient, &[&doctor]).await;
    let alert = Uuid::new_v4();
    raise(&app, 10, alert, patient, "escalated", "active", 2).await;
    let sms = twilio.wait_for(1).await;
    assert_eq!(sms[0].to, "+33612345678");
    assert!(
        sms[0].body.contains("unacknowledged for 10 min"),
        "{}",
        sms[0].body
    );
    // Only the on-call admin: not the doctor (level 1 was theirs), not the off-duty admin.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = app.alert_log(alert).await;
    let recipients: Vec<&Value> = log.iter().map(|e| &e["recipient_id"]).collect();
    assert!(recipients.iter().all(|r| **r == json!(admin.id)), "{log:?}");
    assert!(!recipients.contains(&&json!(off_duty.id)));
    assert!(
        smtp.messages().is_empty(),
        "the admin chose SMS only for escalations"
    );

    // A page the provider cannot take yet (503) waits for its retry; the alert is acknowledged
    // meanwhile: the page is withdrawn, not sent.
    twilio.script(&[503; 50]);
    let second = Uuid::new_v4();
    raise(&app, 11, second, patient, "escalated", "active", 2).await;
    app.wait_for_alert_entry(second, |e| {
        e["channel"] == "sms" && e["attempts"].as_i64() >= Some(1)
    })
    .await;
    raise(&app, 12, second, patient, "acknowledged", "acknowledged", 2).await;
    let withdrawn = app
        .wait_for_alert_entry(second, |e| {
            e["channel"] == "sms" && e["status"] == "withdrawn"
        })
        .await;
    assert_eq!(
        withdrawn["last_error"],
        "the alert was acknowledged or resolved"
    );
    assert_eq!(twilio.accepted().len(), 1);
}

#[tokio::test]
async fn sms_failures_are_retried_or_recorded_as_the_provider_says() {
    let (app, _smtp, twilio) = with_sms(|_| {}).await;
    let busy = app.person(Role::Clinician, "Dr Busy", "en").await;
    let wrong = app.person(Role::Clinician, "Dr Wrong", "en").await;
    for (who, phone) in [(&busy, "+33700000001"), (&wrong, INVALID)] {
        let (status, body) = app
            .preferences(
                &who.token,
                "me",
                json!({"phone": phone, "channels": {"alert_page": ["sms"]}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    twilio.script(&[429, 503]);
    let patient = Uuid::new_v4();
    app.care_team(patient, &[&busy, &wrong]).await;
    let alert = Uuid::new_v4();
    raise(&app, 20, alert, patient, "created", "active", 0).await;
    let failed = app
        .wait_for_alert_entry(alert, |e| {
            e["recipient_id"] == json!(wrong.id) && e["status"] == "failed"
        })
        .await;
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("code 21211"),
        "{failed}"
    );
    let sent = app
        .wait_for_alert_entry(alert, |e| {
            e["recipient_id"] == json!(busy.id) && e["status"] == "sent"
        })
        .await;
    assert!(
        sent["attempts"].as_i64().unwrap() >= 2,
        "retried after 429/503: {sent}"
    );
    assert_eq!(twilio.accepted().len(), 1);
}

#[tokio::test]
async fn preferences_refuse_bad_values_naming_the_field() {
    let (app, _smtp, _twilio) = with_sms(|_| {}).await;
    let patient = app.person(Role::Patient, "Pat", "en").await;
    // (body, field named)
    let table = [
        (json!({"phone": "06 12 34 56 78"}), "phone"),
        (
            json!({"channels": {"reminder_1h": ["pigeon"]}}),
            "channels.reminder_1h",
        ),
        (
            json!({"channels": {"reminder_1h": ["sms"]}}),
            "channels.reminder_1h",
        ),
        (json!({"channels": {"telepathy": []}}), "channels.telepathy"),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "7h", "time_zone": "Europe/Paris"}}),
            "quiet_hours.end",
        ),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Paris"}}),
            "quiet_hours.time_zone",
        ),
    ];
    for (body, field) in table {
        let (status, problem) = app.preferences(&patient.token, "me", body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}:")),
            "{body}: {problem}"
        );
    }
    // Unknown fields and a patient reading someone else's preferences are refused too.
    let (status, _) = app
        .preferences(&patient.token, "me", json!({"pager": "123"}))
        .await;
    assert!(status == 422 || status == 400, "{status}");
    let (status, _) = app
        .preferences(&patient.token, &Uuid::new_v4().to_string(), json!({}))
        .await;
    assert_eq!(status, 403);
    // Nothing stored by any of the refusals.
    let (status, mine) = app
        .call(
            reqwest::Method::GET,
            &format!("{}/v1/notifications/preferences/me", app.notify),
            &patient.token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        mine,
        json!({"phone": null, "channels": {}, "quiet_hours": null, "on_call": false, "time_zone": null})
    );
}

#[tokio::test]
async fn a_burst_of_pages_is_folded_into_one_digest() {
    let (app, smtp, _twilio) = with_sms(|c| {
        c.page_burst = 3;
        c.page_window_secs = 4;
    })
    .await;
    let doctor = app.person(Role::Clinician, "Dr Flood", "en").await;
    let (status, _) = app
        .preferences(
            &doctor.token,
            "me",
            json!({"channels": {"alert_page": ["email"]}}),
        )
        .await;
    assert_eq!(status, 200);
    let patient = Uuid::new_v4();
    app.care_team(patient, &[&doctor]).await;
    for i in 0..12 {
        raise(
            &app,
            100 + i,
            Uuid::new_v4(),
            patient,
            "created",
            "active",
            0,
        )
        .await;
    }
    // Three pages, then one digest counting the other nine (a window boundary may split them
    // into two digests, or let one more page through: never 12 pages, never a lost one).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mails = smtp.messages();
        let pages = mails
            .iter()
            .filter(|m| header(m, "Subject").contains("alert needs you"))
            .count();
        let digested: usize = mails
            .iter()
            .filter_map(|m| {
                let s = header(m, "Subject");
                s.strip_prefix("EpiSante: ")?
                    .split(' ')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .sum();
        if pages + digested == 12 {
            assert!(pages <= 6, "{pages} pages sent one by one");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pages} pages + {digested} digested of 12"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, log) = app
        .log(&app.auth.admin_token, "?status=digested&limit=500")
        .await;
    assert!(log["items"].as_array().unwrap().len() >= 6, "{log}");
}

#[tokio::test]
async fn the_bell_counts_unread_messages_live_and_each_person_marks_only_their_own() {
    let (app, _smtp, _twilio) = with_sms(|_| {}).await;
    let doctor = app.person(Role::Clinician, "Dr Bell", "en").await;
    let other = app.person(Role::Clinician, "Dr Other", "en").await;
    let patient = Uuid::new_v4();
    app.care_team(patient, &[&doctor, &other]).await;

    let mut stream = app
        .http
        .get(format!("{}/v1/notifications/inbox/stream", app.notify))
        .bearer_auth(&doctor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    let mut next_event = async || loop {
        if let Some(end) = seen.find("\n\n") {
            let event: String = seen.drain(..end + 2).collect();
            if event.contains("event: unread") {
                return event;
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(15), stream.chunk())
            .await
            .expect("an event")
            .unwrap()
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    };
    assert!(next_event().await.contains(r#"{"unread":0}"#));
    raise(&app, 200, Uuid::new_v4(), patient, "created", "active", 0).await;
    assert!(next_event().await.contains(r#"{"unread":1}"#));
    raise(&app, 201, Uuid::new_v4(), patient, "created", "active", 0).await;
    assert!(next_event().await.contains(r#"{"unread":2}"#));

    let inbox_url = format!("{}/v1/notifications/inbox", app.notify);
    let (_, inbox) = app
        .call(reqwest::Method::GET, &inbox_url, &doctor.token, None)
        .await;
    let first = inbox["items"][0]["id"].as_i64().unwrap();
    // Another person marking the doctor's message changes nothing.
    let (status, theirs) = app
        .call(
            reqwest::Method::POST,
            &format!("{inbox_url}/{first}/read"),
            &other.token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(theirs["unread"], 2);
    let (_, mine) = app
        .call(
            reqwest::Method::POST,
            &format!("{inbox_url}/{first}/read"),
            &doctor.token,
            None,
        )
        .await;
    assert_eq!(mine["unread"], 1);
    assert!(next_event().await.contains(r#"{"unread":1}"#));
    let (_, all) = app
        .call(
            reqwest::Method::POST,
            &format!("{inbox_url}/read-all"),
            &doctor.token,
            None,
        )
        .await;
    assert_eq!(all["unread"], 0);
    let (_, others) = app
        .call(reqwest::Method::GET, &inbox_url, &other.token, None)
        .await;
    assert_eq!(others["unread"], 2);
}

#[tokio::test]
async fn sms_credentials_come_from_vault_when_the_configuration_has_none() {
    let vault = episante_testkit::TestVault::start().await.expect("OpenBao");
    vault
        .write(
            "secret/data/episante/notify/sms",
            json!({"data": {"account_sid": SID, "auth_token": TOKEN}}),
        )
        .await
        .unwrap();
    let smtp = TestSmtp::start().await;
    let twilio = FakeTwilio::start().await;
    let url = twilio.url.clone();
    let app = crate::helpers::spawn_app_with_settings(smtp.port, |s| {
        s.notify.sms.url = Some(url);
        s.notify.sms.from = FROM.into();
        s.vault.addr = Some(vault.addr.clone());
        s.vault.token = Some(episante_kit::Secret::new(vault.token.clone()));
    })
    .await;
    let doctor = app.person(Role::Clinician, "Dr Vault", "en").await;
    let (status, _) = app
        .preferences(
            &doctor.token,
            "me",
            json!({"phone": "+33611112222", "channels": {"alert_page": ["sms"]}}),
        )
        .await;
    assert_eq!(status, 200);
    let patient = Uuid::new_v4();
    app.care_team(patient, &[&doctor]).await;
    raise(&app, 300, Uuid::new_v4(), patient, "created", "active", 0).await;
    // The endpoint accepts only the SID and token stored in Vault.
    assert_eq!(twilio.wait_for(1).await[0].to, "+33611112222");
}
