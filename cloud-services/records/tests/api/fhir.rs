//! FHIR R4 export: a well-formed `Patient`, and vital-sign `Observation`s built from the alerts
//! service's history (the full path: records assigns the device, alerts consumes the assignment
//! and the readings, records fetches the rollups with its service token).

use std::time::Duration;

use episante_kit::events::EventBus;
use episante_protocol::{Reading, ReadingBatch, VitalKind};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use episante_testkit::fhir::assert_valid_fhir;

use crate::helpers::{spawn_app, spawn_app_with, Options};

async fn fhir_get(app: &crate::helpers::TestApp, path: &str) -> (StatusCode, String, Value) {
    let response = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(app.admin())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn patient_resource_is_valid_fhir_r4() {
    let app = spawn_app().await;
    let p = app.create_patient("Lovelace", "1 85 12 75 108 042").await;
    let id = p["id"].as_str().unwrap();
    let (status, content_type, r) = fhir_get(&app, &format!("/v1/fhir/Patient/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/fhir+json");
    assert_eq!(r["resourceType"], "Patient");
    assert_eq!(r["id"], id);
    assert_eq!(r["active"], true);
    assert_eq!(r["name"][0]["family"], "Lovelace");
    assert_eq!(r["name"][0]["given"], json!(["Ada", "Augusta"]));
    assert_eq!(r["gender"], "female");
    assert_eq!(r["birthDate"], "1985-12-10");
    assert_eq!(r["identifier"][0]["value"], "1851275108042");
    assert!(r["identifier"][0]["system"]
        .as_str()
        .unwrap()
        .starts_with("urn:"));
    assert_eq!(
        r["telecom"][0],
        json!({"system": "phone", "value": "+442079460958", "use": "mobile"})
    );
    assert_eq!(r["telecom"][1]["system"], "email");
    assert_eq!(r["address"][0]["postalCode"], "SW1Y 4JH");
    assert_eq!(r["address"][0]["country"], "GB");
    assert!(r["meta"]["lastUpdated"].as_str().unwrap().ends_with('Z'));
    assert_valid_fhir("the Patient", &r);
    // Unknown patient: 404, as a FHIR OperationOutcome.
    let (status, content_type, body) = fhir_get(
        &app,
        "/v1/fhir/Patient/6f1c1b9e-8d0e-4a8a-9a55-2a0b1f0b7f00",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/fhir+json");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(body["issue"][0]["code"], "not-found");
    assert_valid_fhir("a not-found OperationOutcome", &body);
}

#[tokio::test]
async fn fhir_errors_are_operation_outcomes_and_metadata_says_what_is_served() {
    let app = spawn_app().await;
    // A bad id in the path, a bad query, no token, an unknown resource type, a wrong method:
    // each its own status, each an OperationOutcome.
    for (method, path, token, status, code) in [
        (
            Method::GET,
            "/v1/fhir/Patient/not-a-uuid",
            true,
            StatusCode::BAD_REQUEST,
            "structure",
        ),
        (
            Method::GET,
            "/v1/fhir/Observation?patient=nobody",
            true,
            StatusCode::BAD_REQUEST,
            "structure",
        ),
        (
            Method::GET,
            "/v1/fhir/Observation",
            true,
            StatusCode::BAD_REQUEST,
            "structure",
        ),
        (
            Method::GET,
            "/v1/fhir/Patient/6f1c1b9e-8d0e-4a8a-9a55-2a0b1f0b7f00",
            false,
            StatusCode::UNAUTHORIZED,
            "login",
        ),
        (
            Method::GET,
            "/v1/fhir/Encounter",
            true,
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        // Refused by the kit's input checks, before any FHIR route: still an OperationOutcome.
        (
            Method::GET,
            "/v1/fhir/Patient/%00",
            true,
            StatusCode::BAD_REQUEST,
            "structure",
        ),
        (
            Method::DELETE,
            "/v1/fhir/Patient/6f1c1b9e-8d0e-4a8a-9a55-2a0b1f0b7f00",
            true,
            StatusCode::METHOD_NOT_ALLOWED,
            "not-found",
        ),
    ] {
        let mut request = app
            .http
            .request(method.clone(), format!("{}{path}", app.base));
        if token {
            request = request.bearer_auth(app.admin());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/fhir+json",
            "{method} {path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}: {body}");
        assert_eq!(body["issue"][0]["severity"], "error");
        assert_eq!(body["issue"][0]["code"], code, "{path}: {body}");
        assert!(body["issue"][0]["diagnostics"].is_string());
    }
    // The CapabilityStatement is public and valid.
    let response = app
        .http
        .get(format!("{}/v1/fhir/metadata", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let statement: Value = response.json().await.unwrap();
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let types: Vec<&str> = statement["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"Patient") && types.contains(&"Observation"),
        "{types:?}"
    );
    assert_valid_fhir("the CapabilityStatement", &statement);
}

#[tokio::test]
async fn observations_come_from_the_alerts_vitals_history() {
    let app = spawn_app_with(Options {
        registry: true,
        alerts: true,
        ..Default::default()
    })
    .await;
    let p = app.create_patient("Observed", "80808080").await;
    let id = p["id"].as_str().unwrap().to_string();
    let registry = app.registry.as_ref().unwrap();
    let response = app
        .http
        .post(format!("{}/v1/devices", registry.base))
        .bearer_auth(app.admin())
        .json(&json!({"device_id": "hubfhir", "label": "hub"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/patients/{id}/devices"),
            app.admin(),
            Some(json!({"device_id": "hubfhir"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Readings as the broker would publish them, two minutes' worth.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = (chrono::Utc::now().timestamp() / 60 - 5) * 60 * 1000;
    let mut seq = 0;
    for step in 0..12 {
        let readings = [
            (VitalKind::HeartRate, 70.0 + step as f64),
            (VitalKind::Spo2, 97.0),
            (VitalKind::SystolicBp, 120.0),
            (VitalKind::DiastolicBp, 80.0),
        ]
        .into_iter()
        .map(|(kind, value)| {
            seq += 1;
            Reading {
                seq,
                ts_ms: start + step * 10_000,
                kind,
                value,
                unit: kind.unit().into(),
            }
        })
        .collect();
        let batch = ReadingBatch {
            v: 1,
            device_id: "hubfhir".into(),
            epoch: 0,
            received_at_ms: None,
            readings,
        };
        app.bus
            .publish(
                episante_protocol::topics::KAFKA_READINGS,
                "hubfhir",
                serde_json::to_vec(&batch).unwrap(),
            )
            .await
            .unwrap();
    }
    let path = format!("/v1/fhir/Observation?patient=Patient/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let bundle = loop {
        let (status, content_type, bundle) = fhir_get(&app, &path).await;
        assert_eq!(status, StatusCode::OK, "{bundle}");
        assert_eq!(content_type, "application/fhir+json");
        if bundle["total"] == 6 {
            break bundle;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "observations never arrived: {bundle}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    assert_valid_fhir("the vital-signs bundle", &bundle);
    // A month at once (the portal's 30-day chart): coarser buckets, never a refusal.
    let month_ago = (chrono::Utc::now() - chrono::Duration::days(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (status, _, month) = fhir_get(&app, &format!("{path}&date=ge{month_ago}")).await;
    assert_eq!(status, StatusCode::OK, "{month}");
    assert!(month["total"].as_i64().unwrap() >= 3, "{month}");
    let entries = bundle["entry"].as_array().unwrap();
    let mut codes = std::collections::BTreeSet::new();
    for e in entries {
        assert!(e["fullUrl"].as_str().unwrap().starts_with("urn:uuid:"));
        let o = &e["resource"];
        assert_eq!(o["resourceType"], "Observation");
        assert_eq!(o["status"], "final");
        assert_eq!(o["category"][0]["coding"][0]["code"], "vital-signs");
        assert_eq!(
            o["category"][0]["coding"][0]["system"],
            "http://terminology.hl7.org/CodeSystem/observation-category"
        );
        assert_eq!(o["code"]["coding"][0]["system"], "http://loinc.org");
        assert_eq!(o["subject"]["reference"], format!("Patient/{id}"));
        let oid = o["id"].as_str().unwrap();
        assert!(episante_kit::fhir::is_valid_id(oid), "{oid}");
        assert!(
            o["effectivePeriod"]["start"].is_string() && o["effectivePeriod"]["end"].is_string()
        );
        let coded: Vec<&str> = o["code"]["coding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        // Blood pressure is one panel with both components; the rest carry a quantity.
        let quantities: Vec<&Value> = if coded == ["85354-9"] {
            assert!(o.get("valueQuantity").is_none());
            let parts = o["component"].as_array().unwrap();
            assert_eq!(parts[0]["code"]["coding"][0]["code"], "8480-6");
            assert_eq!(parts[1]["code"]["coding"][0]["code"], "8462-4");
            parts.iter().map(|c| &c["valueQuantity"]).collect()
        } else {
            vec![&o["valueQuantity"]]
        };
        for q in &quantities {
            assert_eq!(q["system"], "http://unitsofmeasure.org");
        }
        codes.insert((
            coded.join("+"),
            quantities[0]["code"].as_str().unwrap().to_string(),
        ));
    }
    let expected: std::collections::BTreeSet<_> = [
        ("8867-4", "/min"),
        ("2708-6+59408-5", "%"),
        ("85354-9", "mm[Hg]"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(codes, expected);
    // Filter by code; bad input.
    let (_, _, hr) = fhir_get(
        &app,
        &format!("/v1/fhir/Observation?patient={id}&code=8867-4"),
    )
    .await;
    assert_eq!(hr["total"], 2);
    let first = hr["entry"][0]["resource"]["valueQuantity"]["value"]
        .as_f64()
        .unwrap();
    assert!(
        (first - 72.5).abs() < 0.01,
        "the first minute's mean HR: {first}"
    );
    let (_, _, spo2) = fhir_get(
        &app,
        &format!("/v1/fhir/Observation?patient={id}&code=2708-6"),
    )
    .await;
    assert_eq!(spo2["total"], 2);
    let (_, _, bp) = fhir_get(
        &app,
        &format!("/v1/fhir/Observation?patient={id}&code=85354-9"),
    )
    .await;
    assert_eq!(bp["total"], 2);
    // FHIR `date` with prefixes: each bound alone selects one of the two minutes.
    let second_minute = chrono::DateTime::from_timestamp_millis(start + 60_000)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for (prefix, minute_start) in [("ge", start + 60_000), ("lt", start)] {
        let (status, _, hr) = fhir_get(
            &app,
            &format!("/v1/fhir/Observation?patient={id}&code=8867-4&date={prefix}{second_minute}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{hr}");
        assert_eq!(hr["total"], 1, "date={prefix}: {hr}");
        let effective = hr["entry"][0]["resource"]["effectivePeriod"]["start"]
            .as_str()
            .unwrap();
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(effective)
                .unwrap()
                .timestamp_millis(),
            minute_start
        );
    }
    // Refused: a bad reference, a parameter this search does not have, a bad date, an empty or
    // too long range.
    for (query, expected) in [
        ("patient=nobody".to_string(), StatusCode::BAD_REQUEST),
        (
            format!("patient={id}&from=2026-12-01"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("patient={id}&date=yesterday"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("patient={id}&date=ge2026-12-02&date=lt2026-12-01"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("patient={id}&date=ge2026-01-01&date=lt2026-03-01"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, _, outcome) = fhir_get(&app, &format!("/v1/fhir/Observation?{query}")).await;
        assert_eq!(status, expected, "{query}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{query}");
    }
}
