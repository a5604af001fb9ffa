//! Who may do what: patients act for themselves, admins for anyone, clinicians on their own
//! agenda, services read, devices nothing.

use chrono::Duration;
use episante_kit::{Role, Scope};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn the_rbac_matrix_holds() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let other_clinician = app.user(Role::Clinician, "Dr Other").await;
    let no_profile = app.user(Role::Clinician, "Dr Nobody").await;
    let other_practitioner = app
        .create_practitioner(&other_clinician, "neurology", "Europe/Paris")
        .await;
    let patient = app.user(Role::Patient, "Pat").await;
    let stranger = app.user(Role::Patient, "Stranger").await;
    let device = app.user(Role::Device, "hub").await;
    // A real client-credentials token holding the read scopes a notifier would need.
    let service = app
        .auth
        .service_token("notifier", &[Scope::ScheduleRead, Scope::AppointmentsRead])
        .await;
    let clinician = &practice.clinician;

    // Practitioner profiles: admins create; nobody else.
    let profile = json!({"user_id": Uuid::new_v4(), "display_name": "X", "specialty": "x",
        "location": "y", "time_zone": "UTC"});
    for token in [&clinician.token, &patient.token, &device.token, &service] {
        let r = app.post("/v1/practitioners", token, &profile).await;
        assert_problem(r, StatusCode::FORBIDDEN).await;
    }
    let r = app
        .call(Method::POST, "/v1/practitioners", None, Some(&profile))
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    let r = app
        .call(Method::GET, "/v1/practitioners", Some("not.a.jwt"), None)
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    // Reading the directory: everyone but devices.
    for token in [&clinician.token, &patient.token, &service] {
        expect_status(app.get("/v1/practitioners", token).await, StatusCode::OK).await;
    }
    assert_problem(
        app.get("/v1/practitioners", &device.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Availability: the practitioner themselves (or an admin), not a colleague or a patient.
    let availability = json!({"weekly": every_day("00:00", "23:30")});
    let app_ref = &app;
    let put = |token: &str, id: Uuid| {
        let (token, body) = (token.to_string(), availability.clone());
        async move {
            app_ref
                .call(
                    Method::PUT,
                    &format!("/v1/practitioners/{id}/availability"),
                    Some(&token),
                    Some(&body),
                )
                .await
        }
    };
    expect_status(
        put(&clinician.token, practice.practitioner).await,
        StatusCode::OK,
    )
    .await;
    assert_problem(
        put(&clinician.token, other_practitioner).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        put(&patient.token, practice.practitioner).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Appointment types: admins create.
    let r = app
        .post(
            "/v1/appointment-types",
            &clinician.token,
            &json!({"name": "x", "duration_minutes": 10}),
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;

    // Booking: patients for themselves only; admins for anyone (naming them); nobody else.
    let slot = practice.slot_after(Duration::days(1));
    let r = app
        .book(
            &patient.token,
            &practice.booking(slot, Some(stranger.id)),
            None,
        )
        .await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    for token in [&clinician.token, &device.token, &service] {
        let r = app.book(token, &practice.booking(slot, None), None).await;
        assert_problem(r, StatusCode::FORBIDDEN).await;
    }
    let r = app
        .book(app.admin(), &practice.booking(slot, None), None)
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mine = id_of(
        expect_status(
            app.book(
                &patient.token,
                &practice.booking(slot, Some(patient.id)),
                None,
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let theirs = id_of(
        expect_status(
            app.book(
                app.admin(),
                &practice.booking(slot + Duration::hours(1), Some(stranger.id)),
                None,
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    );

    // Reading: patients their own (others' are 404), clinicians their agenda, admins all.
    expect_status(
        app.get(&format!("/v1/appointments/{mine}"), &patient.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/appointments/{theirs}"), &patient.token)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/appointments/{mine}"), &other_clinician.token)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let own = expect_status(
        app.get("/v1/appointments", &patient.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    assert_problem(
        app.get(
            &format!("/v1/appointments?patient_id={}", stranger.id),
            &patient.token,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let agenda = expect_status(
        app.get("/v1/appointments", &clinician.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(agenda["items"].as_array().unwrap().len(), 2);
    let colleague = expect_status(
        app.get("/v1/appointments", &other_clinician.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(colleague["items"].as_array().unwrap().len(), 0);
    assert_problem(
        app.get(
            &format!("/v1/appointments?practitioner_id={}", practice.practitioner),
            &other_clinician.token,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.get("/v1/appointments", &no_profile.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.get("/v1/appointments", &device.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let all = expect_status(
        app.get("/v1/appointments", app.admin()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    // Status marks: the practitioner (or an admin), not a colleague or the patient.
    let mark = |what: &str, id: Uuid, token: &str| {
        let (path, token) = (format!("/v1/appointments/{id}/{what}"), token.to_string());
        async move { app_ref.call(Method::POST, &path, Some(&token), None).await }
    };
    assert_problem(
        mark("arrived", mine, &patient.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        mark("arrived", mine, &other_clinician.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let arrived = expect_status(
        mark("arrived", mine, &clinician.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(arrived["status"], "arrived");
    // An arrived patient is not a no-show, and cannot be cancelled any more.
    assert_problem(
        mark("noshow", mine, &clinician.token).await,
        StatusCode::CONFLICT,
    )
    .await;
    let r = app
        .post(
            &format!("/v1/appointments/{mine}/cancel"),
            &patient.token,
            &json!({}),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let done = expect_status(
        mark("fulfilled", mine, &clinician.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "fulfilled");
    let noshow = expect_status(mark("noshow", theirs, app.admin()).await, StatusCode::OK).await;
    assert_eq!(noshow["status"], "noshow");
    // Patients cannot cancel others' appointments; clinicians cannot cancel at all.
    assert_problem(
        app.post(
            &format!("/v1/appointments/{theirs}/cancel"),
            &patient.token,
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/appointments/{theirs}/cancel"),
            &clinician.token,
            &json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Waitlist: patients for themselves, admins for anyone, nobody else.
    let date = (slot + Duration::hours(practice.zone_offset as i64)).date_naive();
    let entry = |patient_id: Option<Uuid>| {
        let mut body =
            json!({"practitioner_id": practice.practitioner, "from_date": date, "to_date": date});
        if let Some(p) = patient_id {
            body["patient_id"] = json!(p);
        }
        body
    };
    assert_problem(
        app.post("/v1/waitlist", &patient.token, &entry(Some(stranger.id)))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        app.post("/v1/waitlist", &clinician.token, &entry(None))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let joined = id_of(
        expect_status(
            app.post("/v1/waitlist", app.admin(), &entry(Some(stranger.id)))
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/waitlist/{joined}"),
            Some(&patient.token),
            None,
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/waitlist/{joined}"),
            Some(&stranger.token),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Issue 15: a service token reads appointments and the schedule only with the scope for it.
#[tokio::test]
async fn service_tokens_need_the_read_scopes() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let patient = app.user(Role::Patient, "Pat").await;
    let slot = practice.slot_after(Duration::days(1));
    let booked = id_of(
        expect_status(
            app.book(
                &patient.token,
                &practice.booking(slot, Some(patient.id)),
                None,
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let practitioner = practice.practitioner;
    let appointment_paths = [
        "/v1/appointments".to_string(),
        format!("/v1/appointments/{booked}"),
    ];
    let schedule_paths = [
        "/v1/practitioners".to_string(),
        format!("/v1/practitioners/{practitioner}"),
        format!("/v1/practitioners/{practitioner}/availability"),
        "/v1/appointment-types".to_string(),
    ];
    // No scope, or only the other one: 403 problem on every read.
    let bare = app.auth.service_token("bare", &[]).await;
    let schedule_only = app
        .auth
        .service_token("schedule-only", &[Scope::ScheduleRead])
        .await;
    let appointments_only = app
        .auth
        .service_token("appointments-only", &[Scope::AppointmentsRead])
        .await;
    for path in &appointment_paths {
        for token in [&bare, &schedule_only] {
            let body = assert_problem(app.get(path, token).await, StatusCode::FORBIDDEN).await;
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("appointments:read"),
                "{path}: {body}"
            );
        }
        let listed = expect_status(app.get(path, &appointments_only).await, StatusCode::OK).await;
        assert!(
            listed.to_string().contains(&booked.to_string()),
            "{path}: {listed}"
        );
    }
    for path in &schedule_paths {
        for token in [&bare, &appointments_only] {
            let body = assert_problem(app.get(path, token).await, StatusCode::FORBIDDEN).await;
            assert!(
                body["detail"].as_str().unwrap().contains("schedule:read"),
                "{path}: {body}"
            );
        }
        expect_status(app.get(path, &schedule_only).await, StatusCode::OK).await;
    }
}
