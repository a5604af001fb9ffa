//! Object-level authorization (OWASP API1 BOLA, API3 property level, API5 function level): the
//! whole matrix of roles × own/other records × operations.

use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_authorization_matrix() {
    let app = spawn_app().await;
    let mine = app.create_patient("Mine", "11111111").await;
    let other = app.create_patient("Other", "22222222").await;
    let mine_id = mine["id"].as_str().unwrap().to_string();
    let other_id = other["id"].as_str().unwrap().to_string();

    let clinician = app.user(Role::Clinician, "Dr Mine").await;
    let outsider = app.user(Role::Clinician, "Dr Elsewhere").await;
    let patient_user = app.user(Role::Patient, "Patient Mine").await;
    let service = {
        let (id, secret) = app.auth.create_service_client("curious-service").await;
        let response = reqwest::Client::new()
            .post(format!("{}/v1/auth/token", app.auth.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ])
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    };
    let team = app.create_team("Cardiology").await;
    app.put_in_team(&team, "members", &clinician.id.to_string())
        .await;
    app.put_in_team(&team, "patients", &mine_id).await;
    // Link the patient account to its record.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{mine_id}"),
            app.admin(),
            Some(json!({"user_id": patient_user.id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let paths = |id: &str| {
        vec![
            format!("/v1/patients/{id}"),
            format!("/v1/patients/{id}/history"),
            format!("/v1/patients/{id}/consents"),
            format!("/v1/patients/{id}/devices"),
            format!("/v1/fhir/Patient/{id}"),
        ]
    };
    // Readers of `mine`: admin, its clinician, its patient. Everyone else gets 404 (no leak).
    for (who, token, sees_mine, sees_other) in [
        ("admin", app.admin(), true, true),
        ("clinician in care", clinician.token.as_str(), true, false),
        (
            "clinician not in care",
            outsider.token.as_str(),
            false,
            false,
        ),
        ("the patient", patient_user.token.as_str(), true, false),
    ] {
        for (id, visible) in [(&mine_id, sees_mine), (&other_id, sees_other)] {
            for path in paths(id) {
                let (status, body) = app.get(&path, token).await;
                let expected = if visible {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                assert_eq!(status, expected, "{who} GET {path}: {body}");
                if !visible {
                    assert!(
                        !body.to_string().contains("Other") && !body.to_string().contains("Mine\""),
                        "{body}"
                    );
                }
            }
        }
    }
    // Services and devices never read PII.
    let (status, _) = app.get(&format!("/v1/patients/{mine_id}"), &service).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/v1/patients", &service).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Lists are scoped.
    let (_, list) = app.get("/v1/patients", &clinician.token).await;
    let ids: Vec<_> = list["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, vec![mine["id"].clone()]);
    let (_, list) = app.get("/v1/patients", &outsider.token).await;
    assert!(list["patients"].as_array().unwrap().is_empty());
    let (_, list) = app
        .search(json!({"name": "other"}), &patient_user.token)
        .await;
    assert!(list["patients"].as_array().unwrap().is_empty());

    // Writes: the clinician in care may edit identity and add history, not link accounts.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{mine_id}"),
            &clinician.token,
            Some(json!({"phone": "+33612345678"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{mine_id}"),
            &clinician.token,
            Some(json!({"user_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{other_id}"),
            &clinician.token,
            Some(json!({"phone": "+33612345678"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/patients/{other_id}/history"),
            &outsider.token,
            Some(json!({"kind": "note", "text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The patient reads but does not edit their identity or history; manages their consents.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{mine_id}"),
            &patient_user.token,
            Some(json!({"family_name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/patients/{mine_id}/consents/research"),
            &patient_user.token,
            Some(json!({"granted": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/patients/{other_id}/consents/research"),
            &patient_user.token,
            Some(json!({"granted": false})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Admin-only functions (API5).
    for token in [clinician.token.as_str(), patient_user.token.as_str()] {
        for (method, path) in [
            (Method::POST, "/v1/patients".to_string()),
            (Method::POST, format!("/v1/patients/{mine_id}/archive")),
            (Method::POST, "/v1/care-teams".to_string()),
            (Method::GET, "/v1/care-teams".to_string()),
            (
                Method::PUT,
                format!("/v1/care-teams/{team}/patients/{other_id}"),
            ),
            (Method::GET, "/v1/audit".to_string()),
            (Method::POST, "/v1/audit/verify".to_string()),
            (Method::POST, "/v1/records/keys/rotate".to_string()),
        ] {
            let body = if path == "/v1/patients" {
                crate::helpers::patient_body("New", "99999999")
            } else {
                json!({"name": "x"})
            };
            let (status, body) = app.call(method.clone(), &path, token, Some(body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        }
    }
    // No token, bad token.
    let response = app
        .http
        .get(format!("{}/v1/patients/{mine_id}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .get(&format!("/v1/patients/{mine_id}"), "not.a.token")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Taking the patient out of the team's care removes the clinician's access at once.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/care-teams/{team}/patients/{mine_id}"),
            app.admin(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get(&format!("/v1/patients/{mine_id}"), &clinician.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
