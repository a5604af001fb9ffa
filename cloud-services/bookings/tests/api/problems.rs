//! Bad input gets a 4xx problem JSON, never a 500; the operational endpoints answer.

use chrono::Duration;
use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn bad_input_gets_problem_json() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let patient = app.user(Role::Patient, "Pat").await;
    let raw = |body: &'static str| {
        app.http
            .post(app.url("/v1/appointments"))
            .bearer_auth(&patient.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_problem(
        raw("{\"practitioner_id\": ").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        raw("{\"practitioner_id\": \"not-a-uuid\"}").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let missing = assert_problem(raw("{}").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("practitioner_id"),
        "{missing}"
    );

    // Semantically wrong bookings.
    let in_past = practice.booking(chrono::Utc::now() - Duration::hours(1), None);
    assert_problem(
        app.book(&patient.token, &in_past, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let off_grid = practice.booking(
        practice.slot_after(Duration::days(1)) + Duration::minutes(7),
        None,
    );
    assert_problem(
        app.book(&patient.token, &off_grid, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut unknown = practice.booking(practice.slot_after(Duration::days(1)), None);
    unknown["practitioner_id"] = json!(uuid::Uuid::new_v4());
    assert_problem(
        app.book(&patient.token, &unknown, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut unknown = practice.booking(practice.slot_after(Duration::days(1)), None);
    unknown["appointment_type_id"] = json!(uuid::Uuid::new_v4());
    assert_problem(
        app.book(&patient.token, &unknown, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Paths and queries.
    assert_problem(
        app.get("/v1/appointments/nope", &patient.token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        app.get(
            &format!("/v1/appointments/{}", uuid::Uuid::new_v4()),
            &patient.token,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get("/v1/nothing-here", &patient.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let app_ref = &app;
    let slots = |query: String| {
        let token = patient.token.clone();
        async move { app_ref.get(&format!("/v1/slots?{query}"), &token).await }
    };
    let kind = practice.kind;
    assert_problem(
        slots(format!(
            "appointment_type_id={kind}&from=2027-13-01&to=2027-01-02"
        ))
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        slots(format!("appointment_type_id={kind}&from=2027-01-01")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        slots(format!(
            "appointment_type_id={kind}&from=2027-01-10&to=2027-01-01"
        ))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        slots(format!(
            "appointment_type_id={kind}&from=2027-01-01&to=2027-06-01"
        ))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        slots(format!(
            "appointment_type_id={kind}&from=2027-01-01&to=2027-01-02&limit=0"
        ))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        slots(format!(
            "appointment_type_id={}&from=2027-01-01&to=2027-01-02",
            uuid::Uuid::new_v4()
        ))
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let r = app
        .call(
            Method::DELETE,
            "/v1/appointments",
            Some(&patient.token),
            None,
        )
        .await;
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED).await;

    // Profiles and availability.
    let clinician = app.user(Role::Clinician, "Dr Zone").await;
    let profile = |tz: &str| {
        json!({"user_id": clinician.id, "display_name": "Dr Zone",
        "specialty": "cardiology", "location": "Lyon", "time_zone": tz})
    };
    let bad_tz = assert_problem(
        app.post("/v1/practitioners", app.admin(), &profile("Mars/Olympus"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(bad_tz["detail"].as_str().unwrap().contains("time_zone"));
    expect_status(
        app.post("/v1/practitioners", app.admin(), &profile("Europe/Paris"))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_problem(
        app.post("/v1/practitioners", app.admin(), &profile("Europe/Paris"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let practitioner = practice.practitioner;
    let availability = |body: serde_json::Value| async move {
        app_ref
            .call(
                Method::PUT,
                &format!("/v1/practitioners/{practitioner}/availability"),
                Some(app_ref.admin()),
                Some(&body),
            )
            .await
    };
    for bad in [
        json!({"weekly": [{"weekday": "someday", "start": "09:00", "end": "10:00"}]}),
        json!({"weekly": [{"weekday": "mon", "start": "11:00", "end": "10:00"}]}),
        json!({"weekly": [{"weekday": "mon", "start": "9h", "end": "10:00"}]}),
        json!({"weekly": [{"weekday": "mon", "start": "09:00", "end": "11:00"},
                          {"weekday": "mon", "start": "10:00", "end": "12:00"}]}),
        json!({"exceptions": [{"start_date": "2027-01-02", "end_date": "2027-01-01"}]}),
        json!({"exceptions": [{"reason": "neither dates nor instants"}]}),
    ] {
        assert_problem(availability(bad).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let r = app
        .post(
            "/v1/appointment-types",
            app.admin(),
            &json!({"name": "long", "duration_minutes": 1000}),
        )
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Operational endpoints.
    for path in ["/health", "/ready", "/metrics", "/openapi.json"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let openapi: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/v1/appointments/{id}/reschedule"].is_object());
    episante_testkit::openapi::assert_valid_openapi("bookings", &openapi);
}

#[tokio::test]
async fn huge_offsets_and_nul_text_are_client_errors_not_server_errors() {
    let app = spawn_app().await;
    for path in [
        "/v1/appointments?offset=9223372036854775806",
        "/v1/practitioners?offset=9223372036854775806",
        "/v1/practitioners?limit=100&offset=1000000001",
    ] {
        let r = app.get(path, app.admin()).await;
        assert_eq!(r.status(), 422, "{path}");
    }
    let r = app
        .post(
            "/v1/appointment-types",
            app.admin(),
            &serde_json::json!({"name": "Consult\u{0}ation", "duration_minutes": 30}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let problem: serde_json::Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("NUL"),
        "{problem}"
    );
    let r = app
        .get("/v1/practitioners?specialty=a%00b", app.admin())
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn fuzzing_the_published_api_finds_no_server_error_and_no_undocumented_answer() {
    let app = spawn_app().await;
    // Something to find: a practice with free slots and a booking.
    let practice = open_practice(&app, "cardiology").await;
    let patient = app.user(Role::Patient, "Ada").await;
    let start = practice.slot_after(Duration::hours(2));
    app.book(&patient.token, &practice.booking(start, None), None)
        .await;
    episante_testkit::fuzz::assert_fuzz_clean("bookings", &app.base, app.admin(), None).await;
}
