//! Device assignment checked against the real device registry, and the events alerts consumes.

use std::time::Duration;

use episante_kit::events::EventBus;
use episante_kit::Role;
use episante_protocol::topics::{KAFKA_CARE_TEAMS, KAFKA_DEVICE_ASSIGNMENTS};
use episante_protocol::{CareTeamEvent, DeviceAssignmentEvent};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, Options};

async fn register(app: &crate::helpers::TestApp, device: &str) {
    let registry = app.registry.as_ref().unwrap();
    let response = app
        .http
        .post(format!("{}/v1/devices", registry.base))
        .bearer_auth(app.admin())
        .json(&json!({"device_id": device, "label": "hub"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn next_event<T: serde::de::DeserializeOwned>(
    sub: &mut Box<dyn episante_kit::events::EventSubscription>,
) -> (String, T) {
    let record = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event within 10 s")
        .unwrap();
    (
        String::from_utf8(record.key.unwrap()).unwrap(),
        serde_json::from_slice(&record.payload).unwrap(),
    )
}

#[tokio::test]
async fn assign_and_unassign_registered_devices() {
    let app = spawn_app_with(Options {
        registry: true,
        ..Default::default()
    })
    .await;
    let mut events = app
        .bus
        .subscribe("test", &[KAFKA_DEVICE_ASSIGNMENTS])
        .unwrap();
    let a = app.create_patient("Alpha", "61616161").await;
    let b = app.create_patient("Beta", "62626262").await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let app = &app;
    register(app, "hub0001").await;

    let assign = |patient: &str, device: &str| {
        let path = format!("/v1/patients/{patient}/devices");
        let body = json!({"device_id": device});
        async move { app.call(Method::POST, &path, app.admin(), Some(body)).await }
    };
    let (status, body) = assign(a, "hub0001").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (key, event): (String, DeviceAssignmentEvent) = next_event(&mut events).await;
    assert_eq!(key, "hub0001");
    assert_eq!(event.patient_id.as_deref(), Some(a));
    // Idempotent for the same patient; a conflict for another.
    let (status, _) = assign(a, "hub0001").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = assign(b, "hub0001").await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    // Unknown and malformed devices are refused.
    let (status, body) = assign(a, "hub9999").await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().contains("not registered"));
    let (status, body) = assign(a, "../etc/passwd").await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    // A revoked device is refused.
    register(app, "hub0002").await;
    let registry = app.registry.as_ref().unwrap();
    let response = app
        .http
        .post(format!("{}/v1/devices/hub0002/revoke", registry.base))
        .bearer_auth(app.admin())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (status, body) = assign(a, "hub0002").await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().contains("revoked"));

    let (_, list) = app
        .get(&format!("/v1/patients/{a}/devices"), app.admin())
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/patients/{a}/devices/hub0001"),
            app.admin(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, event): (String, DeviceAssignmentEvent) = next_event(&mut events).await;
    assert_eq!(event.patient_id, None);
    // Now b may have it.
    let (status, _) = assign(b, "hub0001").await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, event): (String, DeviceAssignmentEvent) = next_event(&mut events).await;
    assert_eq!(event.patient_id.as_deref(), Some(b));
    // Archiving b unassigns its devices.
    app.call(
        Method::POST,
        &format!("/v1/patients/{b}/archive"),
        app.admin(),
        None,
    )
    .await;
    let (_, event): (String, DeviceAssignmentEvent) = next_event(&mut events).await;
    assert_eq!(
        (event.device_id.as_str(), event.patient_id),
        ("hub0001", None)
    );
}

#[tokio::test]
async fn registry_unreachable_is_503_and_nothing_changes() {
    let app = spawn_app().await;
    let a = app.create_patient("Gamma", "63636363").await;
    let a = a["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/patients/{a}/devices"),
            app.admin(),
            Some(json!({"device_id": "hub0003"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    let (_, list) = app
        .get(&format!("/v1/patients/{a}/devices"), app.admin())
        .await;
    assert!(list.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn care_team_changes_publish_each_patients_clinicians() {
    let app = spawn_app().await;
    let mut events = app.bus.subscribe("test", &[KAFKA_CARE_TEAMS]).unwrap();
    let p = app.create_patient("Delta", "64646464").await;
    let p = p["id"].as_str().unwrap();
    let c1 = app.user(Role::Clinician, "Dr One").await;
    let c2 = app.user(Role::Clinician, "Dr Two").await;
    let team = app.create_team("Ward 1").await;
    app.put_in_team(&team, "members", &c1.id.to_string()).await;
    app.put_in_team(&team, "patients", p).await;
    let (key, event): (String, CareTeamEvent) = next_event(&mut events).await;
    assert_eq!(key, p);
    assert_eq!(event.clinicians, vec![c1.id.to_string()]);
    app.put_in_team(&team, "members", &c2.id.to_string()).await;
    let (_, event): (String, CareTeamEvent) = next_event(&mut events).await;
    let mut expected = vec![c1.id.to_string(), c2.id.to_string()];
    expected.sort();
    assert_eq!(event.clinicians, expected);
    app.call(
        Method::DELETE,
        &format!("/v1/care-teams/{team}/patients/{p}"),
        app.admin(),
        None,
    )
    .await;
    let (_, event): (String, CareTeamEvent) = next_event(&mut events).await;
    assert!(event.clinicians.is_empty());
}
