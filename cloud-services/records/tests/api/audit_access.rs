//! Every access to a patient's data, in every service, lands in the one trail — and the patient
//! can read who accessed their record (their own only).

use std::time::Duration;

use episante_kit::audit::{AuditEvent, AUDIT_EVENT_VERSION, AUDIT_TOPIC};
use episante_kit::events::EventBus;
use episante_kit::Role;
use episante_test_auth::TestUser;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_problem, patient_body, spawn_app, spawn_app_with, Options, TestApp};

/// A patient record linked to a new patient user.
async fn patient_with_account(
    app: &TestApp,
    family: &str,
    national_id: &str,
) -> (String, TestUser) {
    let user = app.user(Role::Patient, family).await;
    let mut body = patient_body(family, national_id);
    body["user_id"] = json!(user.id);
    let (status, patient) = app
        .call(Method::POST, "/v1/patients", app.admin(), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    (patient["id"].as_str().unwrap().to_string(), user)
}

async fn trail(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/audit?{query}"), app.admin()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

/// Polls the patient's trail until an entry with `action` appears (events from other services
/// arrive through the bus).
async fn wait_for_action(app: &TestApp, patient: &str, action: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entries = trail(app, &format!("patient_id={patient}&limit=1000")).await;
        if let Some(e) = entries.iter().find(|e| e["action"] == action) {
            return e.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {action} in the trail: {entries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn patients_see_who_accessed_their_record_and_nobody_elses() {
    let app = spawn_app().await;
    let (mine, me) = patient_with_account(&app, "Selfie", "71717171").await;
    let (theirs, _) = patient_with_account(&app, "Other", "72727272").await;
    let clinician = app.user(Role::Clinician, "Dr Looks").await;
    let team = app.create_team("Looking team").await;
    app.put_in_team(&team, "members", &clinician.id.to_string())
        .await;
    app.put_in_team(&team, "patients", &mine).await;
    let (status, _) = app
        .get(&format!("/v1/patients/{mine}/history"), &clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, entries) = app
        .get(&format!("/v1/audit?patient_id={mine}"), &me.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    let read = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "history.read")
        .unwrap_or_else(|| panic!("{entries:#}"));
    assert_eq!(read["actor"], clinician.id.to_string());
    assert_eq!(read["actor_role"], "clinician");
    assert_eq!(read["purpose"], "TREAT");
    assert_eq!(read["service"], "records");
    assert!(read["at"].is_string());

    // Someone else's record, or one that does not exist: 404, like the record itself.
    for other in [theirs.clone(), Uuid::new_v4().to_string()] {
        let (status, body) = app
            .get(&format!("/v1/audit?patient_id={other}"), &me.token)
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
    // The whole trail, unfiltered, and verification: admins only.
    let (status, body) = app.get("/v1/audit", &me.token).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = app
        .call(Method::POST, "/v1/audit/verify", &me.token, None)
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    // Clinicians do not read the trail.
    let (status, body) = app
        .get(&format!("/v1/audit?patient_id={mine}"), &clinician.token)
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    // The patient reading their trail is itself in it.
    let own = trail(&app, &format!("patient_id={mine}&actor={}", me.id)).await;
    assert_eq!(own.len(), 1, "{own:#?}");
    assert_eq!(own[0]["action"], "audit.read");
    assert_eq!(own[0]["actor_role"], "patient");
}

#[tokio::test]
async fn device_lists_and_searches_with_no_hits_are_audited() {
    let app = spawn_app().await;
    let patient = app.create_patient("Devices", "73737373").await;
    let id = patient["id"].as_str().unwrap();
    let clinician = app.user(Role::Clinician, "Dr Search").await;

    let (status, _) = app
        .get(&format!("/v1/patients/{id}/devices"), app.admin())
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed = trail(&app, &format!("patient_id={id}")).await;
    let devices = listed
        .iter()
        .find(|e| e["action"] == "device.list")
        .unwrap_or_else(|| panic!("{listed:#?}"));
    assert_eq!(devices["detail"]["devices"], 0);

    // A clinician probing for a name finds nobody (no patient in their care): still recorded.
    let (status, found) = app
        .search(json!({"name": "Devices"}), &clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["patients"], json!([]));
    let probes = trail(&app, &format!("actor={}", clinician.id)).await;
    assert_eq!(probes.len(), 1, "{probes:#?}");
    assert_eq!(probes[0]["action"], "patient.search");
    assert_eq!(probes[0]["patient_id"], Value::Null);
    assert_eq!(probes[0]["detail"]["hits"], 0);
    // No PII in the trail, not even the searched name.
    assert!(!serde_json::to_string(&probes).unwrap().contains("Devices"));
}

#[tokio::test]
async fn reads_in_the_alerts_service_land_in_the_patients_trail() {
    let app = spawn_app_with(Options {
        alerts: true,
        ..Default::default()
    })
    .await;
    let alerts = app.alerts.as_ref().unwrap().base.clone();
    let (id, me) = patient_with_account(&app, "Vitals", "74747474").await;
    let clinician = app.user(Role::Clinician, "Dr Vitals").await;
    let team = app.create_team("Vitals team").await;
    app.put_in_team(&team, "members", &clinician.id.to_string())
        .await;
    app.put_in_team(&team, "patients", &id).await;
    let get = |path: String| {
        app.http
            .get(format!("{alerts}{path}"))
            .bearer_auth(&clinician.token)
            .header("x-purpose-of-use", "ETREAT")
            .send()
    };
    // Alerts learns the care team from records' events: wait until the clinician may see them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(format!("/v1/patients/{id}/vitals")).await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", r.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = get(format!("/v1/alerts?patient_id={id}&state=all"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(format!("/v1/patients/{id}/alert-rules")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stream = get("/v1/alerts/stream".into()).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    drop(stream);
    // A bad purpose: a clear 400, nothing served.
    let r = app
        .http
        .get(format!("{alerts}/v1/patients/{id}/vitals"))
        .bearer_auth(&clinician.token)
        .header("x-purpose-of-use", "why not")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    for action in [
        "vitals.read",
        "alert.list",
        "alert_rules.read",
        "alert.stream",
    ] {
        let entry = wait_for_action(&app, &id, action).await;
        assert_eq!(entry["service"], "alerts", "{entry}");
        assert_eq!(entry["actor"], clinician.id.to_string(), "{entry}");
        assert_eq!(entry["actor_role"], "clinician", "{entry}");
        assert_eq!(entry["purpose"], "ETREAT", "{entry}");
        assert_eq!(entry["patient_id"], id, "{entry}");
    }
    // The patient sees them in their own list too.
    let (status, mine) = app
        .get(&format!("/v1/audit?patient_id={id}"), &me.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(mine
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "vitals.read" && e["service"] == "alerts"));
    let (_, verdict) = app
        .call(Method::POST, "/v1/audit/verify", app.admin(), None)
        .await;
    assert_eq!(verdict["intact"], true, "{verdict}");
}

#[tokio::test]
async fn published_accesses_are_chained_once_and_filed_under_the_patients_record() {
    let app = spawn_app().await;
    let (id, me) = patient_with_account(&app, "Booked", "75757575").await;
    // Bookings knows patients by their user id: the event names the user, the trail the record.
    let event = AuditEvent {
        v: AUDIT_EVENT_VERSION,
        event_id: Uuid::new_v4(),
        service: "bookings".into(),
        at: chrono::Utc::now(),
        actor: me.id.to_string(),
        actor_role: "patient".into(),
        patient_id: Some(me.id),
        action: "appointment.read".into(),
        purpose: "PATRQT".into(),
        detail: json!({"appointment_id": Uuid::new_v4()}),
    };
    let bus = app.bus.clone();
    let publish = |payload: Vec<u8>| bus.publish(AUDIT_TOPIC, &me.id.to_string(), payload);
    let bytes = serde_json::to_vec(&event).unwrap();
    // Delivered twice (at least once), plus garbage and a forged "records" entry in between.
    publish(bytes.clone()).await.unwrap();
    publish(b"not json".to_vec()).await.unwrap();
    let mut forged = event.clone();
    forged.event_id = Uuid::new_v4();
    forged.service = "records".into();
    publish(serde_json::to_vec(&forged).unwrap()).await.unwrap();
    publish(bytes).await.unwrap();
    let mut marker = event.clone();
    marker.event_id = Uuid::new_v4();
    marker.action = "appointment.list".into();
    publish(serde_json::to_vec(&marker).unwrap()).await.unwrap();

    // Everything before the marker has been consumed once it shows up.
    wait_for_action(&app, &id, "appointment.list").await;
    let (status, entries) = app
        .get(&format!("/v1/audit?patient_id={id}"), &me.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let reads: Vec<&Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "appointment.read")
        .collect();
    assert_eq!(reads.len(), 1, "{entries:#}");
    assert_eq!(reads[0]["service"], "bookings");
    assert_eq!(reads[0]["purpose"], "PATRQT");
    assert!(entries
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["service"] != "records" || e["action"] != "appointment.read"));
    let (_, verdict) = app
        .call(Method::POST, "/v1/audit/verify", app.admin(), None)
        .await;
    assert_eq!(verdict["intact"], true, "{verdict}");
}
