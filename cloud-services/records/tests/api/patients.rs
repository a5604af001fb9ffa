//! Create, read, search, update, archive; history; consents; bad input.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_problem, patient_body, spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn create_read_update_archive() {
    let app = spawn_app().await;
    let created = app.create_patient("Lovelace", "1 85 12 75 108 042").await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["identity"]["national_id"], "1851275108042");
    assert_eq!(created["identity"]["address"]["country"], "GB");
    assert_eq!(created["status"], "active");

    let (status, read) = app.get(&format!("/v1/patients/{id}"), app.admin()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["identity"], created["identity"]);

    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{id}"),
            app.admin(),
            Some(json!({"phone": "+33 6 12 34 56 78", "email": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["identity"]["phone"], "+33612345678");
    assert!(updated["identity"]["email"].is_null());
    assert_eq!(updated["identity"]["family_name"], "Lovelace");

    let (status, archived) = app
        .call(
            Method::POST,
            &format!("/v1/patients/{id}/archive"),
            app.admin(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(archived["status"], "archived");
    let (_, list) = app.get("/v1/patients", app.admin()).await;
    assert_eq!(list["patients"].as_array().unwrap().len(), 0);
    let (_, list) = app.get("/v1/patients?archived=true", app.admin()).await;
    assert_eq!(list["patients"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn search_by_name_and_national_id_through_blind_indexes() {
    let app = spawn_app().await;
    let emilie = app.create_patient("Dupont", "2 90 01 75 111 111").await;
    app.create_patient("Durand", "2 90 01 75 222 222").await;
    // Accents and case do not matter; every word must match.
    let mut body = patient_body("Müller", "1 70 01 75 333 333");
    body["given_names"] = json!(["Émilie"]);
    let (status, muller) = app
        .call(Method::POST, "/v1/patients", app.admin(), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (_, found) = app
        .search(json!({"name": "emilie MULLER"}), app.admin())
        .await;
    let found = found["patients"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], muller["id"]);

    let (_, found) = app.search(json!({"name": "ada"}), app.admin()).await;
    assert_eq!(found["patients"].as_array().unwrap().len(), 2);

    let (_, found) = app
        .search(json!({"national_id": "290017511-1111"}), app.admin())
        .await;
    let found = found["patients"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], emilie["id"]);

    let (_, none) = app.search(json!({"name": "nobody"}), app.admin()).await;
    assert!(none["patients"].as_array().unwrap().is_empty());
}

/// Issue 15: names and national ids stay out of URLs (proxies and Loki keep URLs): the GET
/// refuses them with a 400 problem that points to the POST, and the POST refuses junk.
#[tokio::test]
async fn identifying_searches_are_refused_in_the_url_and_accepted_in_a_body() {
    let app = spawn_app().await;
    app.create_patient("Dupont", "2 90 01 75 111 111").await;
    for query in [
        "name=dupont",
        "national_id=290017511-1111",
        "name=",
        "archived=true&national_id=1",
        "na%6De=dupont",
    ] {
        let (status, body) = app.get(&format!("/v1/patients?{query}"), app.admin()).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("POST /v1/patients/search"),
            "{query}: {body}"
        );
    }
    // Non-identifying filters stay on the GET.
    let (status, list) = app
        .get("/v1/patients?archived=false&limit=10", app.admin())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["patients"].as_array().unwrap().len(), 1);
    let (status, found) = app
        .search(json!({"name": "dupont", "limit": 5}), app.admin())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["patients"].as_array().unwrap().len(), 1);
    for bad in [
        json!({"nom": "dupont"}),
        json!({"name": 7}),
        json!({"name": ""}),
        json!({"name": "dupont", "limit": 0}),
    ] {
        let (status, body) = app.search(bad.clone(), app.admin()).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert_eq!(body["status"], status.as_u16(), "{bad}: problem JSON");
    }
}

#[tokio::test]
async fn duplicate_national_id_is_a_conflict() {
    let app = spawn_app().await;
    app.create_patient("One", "1234567").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/patients",
            app.admin(),
            Some(patient_body("Two", "12-34-567")),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert!(body["detail"].as_str().unwrap().contains("national id"));
}

#[tokio::test]
async fn bad_input_is_a_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let mut cases = Vec::new();
    for (field, value) in [
        ("family_name", json!("")),
        ("phone", json!("0612")),
        ("email", json!("not-an-email")),
        ("birth_date", json!("2999-01-01")),
        ("national_id", json!("12")),
        ("given_names", json!([])),
    ] {
        let mut body = patient_body("Bad", "99999999");
        body[field] = value;
        cases.push((field, body));
    }
    for (field, body) in cases {
        let (status, answer) = app
            .call(Method::POST, "/v1/patients", app.admin(), Some(body))
            .await;
        assert_problem(status, &answer, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .contains(field.split('_').next().unwrap()),
            "{field}: {answer}"
        );
    }
    // Malformed JSON and wrong types.
    let response = app
        .http
        .post(format!("{}/v1/patients", app.base))
        .bearer_auth(app.admin())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/patients",
            app.admin(),
            Some(json!({"sex": 3})),
        )
        .await;
    assert!(status.is_client_error(), "{body}");
    let (status, body) = app.get("/v1/patients/not-a-uuid", app.admin()).await;
    assert!(status.is_client_error(), "{body}");
    let (status, body) = app.get("/v1/patients?limit=0", app.admin()).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = app.get("/v1/patients", app.admin()).await;
    assert!(list["patients"].as_array().unwrap().is_empty());
    // A bad purpose header is refused.
    let response = app
        .http
        .get(format!("{}/v1/patients", app.base))
        .bearer_auth(app.admin())
        .header("x-purpose-of-use", "no spaces allowed")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn history_and_consents() {
    let app = spawn_app().await;
    let patient = app.create_patient("Curie", "1867110700").await;
    let id = patient["id"].as_str().unwrap();
    let (status, entry) = app
        .call(
            Method::POST,
            &format!("/v1/patients/{id}/history"),
            app.admin(),
            Some(json!({"kind": "allergy", "text": "Penicillin", "onset": "2001-05-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    app.call(
        Method::POST,
        &format!("/v1/patients/{id}/history"),
        app.admin(),
        Some(json!({"kind": "medication", "text": "Metformin 500 mg twice daily"})),
    )
    .await;
    let (_, all) = app
        .get(&format!("/v1/patients/{id}/history"), app.admin())
        .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, allergies) = app
        .get(
            &format!("/v1/patients/{id}/history?kind=allergy"),
            app.admin(),
        )
        .await;
    assert_eq!(allergies[0]["text"], "Penicillin");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/patients/{id}/history"),
            app.admin(),
            Some(json!({"kind": "allergy", "text": "  "})),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, consent) = app
        .call(
            Method::PUT,
            &format!("/v1/patients/{id}/consents/remote-monitoring"),
            app.admin(),
            Some(json!({"granted": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    let (_, consents) = app
        .get(&format!("/v1/patients/{id}/consents"), app.admin())
        .await;
    assert_eq!(consents[0]["scope"], "remote-monitoring");
    assert_eq!(consents[0]["granted"], true);
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/patients/{id}/consents/Bad%20Scope"),
            app.admin(),
            Some(json!({"granted": true})),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn nul_characters_are_refused_with_a_client_error() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/care-teams",
            app.admin(),
            Some(serde_json::json!({"name": "Ward\u{0}3"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"].as_str().unwrap().starts_with("/name:"),
        "{body}"
    );
    let mut patient = patient_body("Null", "1850712345678");
    patient["family_name"] = serde_json::json!("Lo\u{0}velace");
    let (status, body) = app
        .call(Method::POST, "/v1/patients", app.admin(), Some(patient))
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("/family_name:"),
        "{body}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_valid() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    episante_testkit::openapi::assert_valid_openapi("records", &doc);
}

#[tokio::test]
async fn fuzzing_the_published_api_finds_no_server_error_and_no_undocumented_answer() {
    // Every dependency real and up: a 503 would be a finding.
    let app = spawn_app_with(Options {
        registry: true,
        alerts: true,
        ..Default::default()
    })
    .await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/patients",
            app.admin(),
            Some(patient_body("Lovelace", "18151210")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Key rotation and re-wrap are exercised by their own tests; fuzzing them only re-encrypts.
    episante_testkit::fuzz::assert_fuzz_clean(
        "records",
        &app.base,
        app.admin(),
        Some("^/v1/records/keys/"),
    )
    .await;
}

/// A patient signs up (the portal): their own record, bound to their account, with the consent
/// they gave recorded with its version; once only; nobody else may do it this way.
#[tokio::test]
async fn a_patient_creates_their_own_record_with_their_consent() {
    let app = crate::helpers::spawn_app().await;
    let patient = app.user(episante_kit::Role::Patient, "Pat Self").await;
    let mut body = crate::helpers::patient_body("Selfmade", "55667788");
    // A national id is not taken at sign-up: it would let any account probe which ids exist.
    let (status, problem) = app
        .call(
            reqwest::Method::POST,
            "/v1/patients/self",
            &patient.token,
            Some({
                let mut with_id = body.clone();
                with_id["consent"] =
                    serde_json::json!({"scope": "health-data-processing", "version": "2026-12"});
                with_id
            }),
        )
        .await;
    crate::helpers::assert_problem(status, &problem, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    body.as_object_mut().unwrap().remove("national_id");
    body["consent"] = serde_json::json!({"scope": "health-data-processing", "version": "2026-12"});
    let (status, created) = app
        .call(
            reqwest::Method::POST,
            "/v1/patients/self",
            &patient.token,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    assert_eq!(created["user_id"], serde_json::json!(patient.id));
    let id = created["id"].as_str().unwrap();

    // It is theirs: they read it, and their consent is there with its version.
    let (status, own) = app.get(&format!("/v1/patients/{id}"), &patient.token).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{own}");
    let (status, consents) = app
        .get(&format!("/v1/patients/{id}/consents"), &patient.token)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{consents}");
    let consent = &consents.as_array().unwrap()[0];
    assert_eq!(consent["scope"], "health-data-processing");
    assert_eq!(consent["granted"], true);
    assert_eq!(consent["version"], "2026-12");

    // Once only.
    let mut second = crate::helpers::patient_body("Selfmade", "99887766");
    second.as_object_mut().unwrap().remove("national_id");
    second["consent"] = body["consent"].clone();
    let (status, problem) = app
        .call(
            reqwest::Method::POST,
            "/v1/patients/self",
            &patient.token,
            Some(second.clone()),
        )
        .await;
    crate::helpers::assert_problem(status, &problem, reqwest::StatusCode::CONFLICT);
    // Not a way for staff to create records.
    let clinician = app.user(episante_kit::Role::Clinician, "Dr Self").await;
    let (status, problem) = app
        .call(
            reqwest::Method::POST,
            "/v1/patients/self",
            &clinician.token,
            Some(second),
        )
        .await;
    crate::helpers::assert_problem(status, &problem, reqwest::StatusCode::FORBIDDEN);
    // Without the consent, nothing is created.
    let other = app.user(episante_kit::Role::Patient, "Pat Noconsent").await;
    let (status, problem) = app
        .call(
            reqwest::Method::POST,
            "/v1/patients/self",
            &other.token,
            Some({
                let mut no_consent = crate::helpers::patient_body("Noconsent", "11224433");
                no_consent.as_object_mut().unwrap().remove("national_id");
                no_consent
            }),
        )
        .await;
    crate::helpers::assert_problem(status, &problem, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
}

/// A patient keeps their contact details current themselves; who they are is changed by staff.
#[tokio::test]
async fn a_patient_changes_their_contact_details_only() {
    let app = crate::helpers::spawn_app().await;
    let patient = app.user(episante_kit::Role::Patient, "Pat Contact").await;
    let mut body = crate::helpers::patient_body("Contact", "12127878");
    body.as_object_mut().unwrap().remove("national_id");
    body["consent"] = serde_json::json!({"scope": "health-data-processing", "version": "2026-12"});
    let (_, created) = app
        .call(
            reqwest::Method::POST,
            "/v1/patients/self",
            &patient.token,
            Some(body),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/patients/{id}");
    let (status, updated) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &patient.token,
            Some(serde_json::json!({"phone": "+33 1 23 45 67 89", "email": null})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{updated}");
    assert_eq!(updated["identity"]["phone"], "+33123456789");
    assert!(updated["identity"]["email"].is_null());
    for field in [
        serde_json::json!({"family_name": "Someoneelse"}),
        serde_json::json!({"national_id": "00000000"}),
        serde_json::json!({"user_id": null}),
    ] {
        let (status, problem) = app
            .call(
                reqwest::Method::PATCH,
                &path,
                &patient.token,
                Some(field.clone()),
            )
            .await;
        crate::helpers::assert_problem(status, &problem, reqwest::StatusCode::FORBIDDEN);
    }
    // Another patient's record does not exist for them.
    let other = app.create_patient("Otherone", "34345656").await;
    let (status, problem) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/patients/{}", other["id"].as_str().unwrap()),
            &patient.token,
            Some(serde_json::json!({"phone": "+33 9 99 99 99 99"})),
        )
        .await;
    crate::helpers::assert_problem(status, &problem, reqwest::StatusCode::NOT_FOUND);
    let (_, unchanged) = app.get(&path, app.admin()).await;
    assert_eq!(unchanged["identity"]["family_name"], "Contact");
}
