//! The alerts API: lifecycle actions, RBAC (clinicians see only their patients), vitals history,
//! rule overrides, bad input.

use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{batches, eventually, now_s, spawn_app, NORMAL, TACHY};

#[tokio::test]
async fn lifecycle_and_rbac() {
    let app = spawn_app().await;
    let mut published = app
        .bus
        .subscribe("test", &[episante_protocol::topics::KAFKA_ALERT_EVENTS])
        .unwrap();
    let mine = app.user(Role::Clinician, "Dr Mine").await;
    let colleague = app.user(Role::Clinician, "Dr Colleague").await;
    let other = app.user(Role::Clinician, "Dr Other").await;
    let patient_user = app.user(Role::Patient, "Pat").await;
    let p = app
        .monitored_patient("hub1", &[mine.id, colleague.id])
        .await;
    let q = app.monitored_patient("hub2", &[other.id]).await;
    let t0 = now_s() - 600;
    app.publish(&batches("hub1", 0, t0, 10, 12, TACHY)).await;
    app.publish(&batches("hub2", 0, t0, 10, 12, TACHY)).await;
    let alert = app.wait_for_alert(p, "heart_rate.high").await;
    app.wait_for_alert(q, "heart_rate.high").await;
    let id = alert["id"].as_str().unwrap();
    assert_eq!(alert["state"], "active");
    assert_eq!(alert["severity"], "high");
    assert!(alert["reading_received_at"].is_string());
    // Every change also leaves on alerts.events.v1 (through the outbox), keyed by patient.
    let record = tokio::time::timeout(std::time::Duration::from_secs(10), published.next())
        .await
        .expect("an alert event on the bus")
        .unwrap();
    let event: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
    assert_eq!(event["kind"], "created");
    // The shape consumers rely on (notify pages from it): `episante_protocol::alerts`.
    let notice: episante_protocol::alerts::AlertNotice =
        serde_json::from_slice(&record.payload).expect("alert events read as AlertNotice");
    assert_eq!(notice.kind, episante_protocol::alerts::AlertChange::Created);
    assert_eq!(
        notice.snapshot.severity,
        episante_protocol::alerts::AlertSeverity::High
    );
    assert_eq!(notice.snapshot.escalation_level, 0);
    assert!(
        [p.to_string(), q.to_string()].contains(&String::from_utf8(record.key.unwrap()).unwrap())
    );

    // Visibility.
    let (_, list) = app.get("/v1/alerts", &mine.token).await;
    let ids: Vec<_> = list["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["patient_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(p)]);
    let (_, list) = app.get("/v1/alerts", app.admin()).await;
    assert_eq!(list["alerts"].as_array().unwrap().len(), 2);
    let (status, _) = app.get(&format!("/v1/alerts/{id}"), &other.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/v1/alerts?patient_id={p}"), &other.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/v1/alerts", &patient_user.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/acknowledge"),
            &other.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Acknowledge, once.
    let (status, acked) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/acknowledge"),
            &mine.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], mine.id.to_string());
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/acknowledge"),
            &mine.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Assign: to a colleague in care, not to an outsider.
    let (status, assigned) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/assign"),
            &mine.token,
            Some(json!({"clinician_id": colleague.id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["assigned_to"], colleague.id.to_string());
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/assign"),
            &mine.token,
            Some(json!({"clinician_id": other.id})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = app.get("/v1/alerts?assigned_to=me", &colleague.token).await;
    assert_eq!(list["alerts"].as_array().unwrap().len(), 1);

    // Resolve needs a note.
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/resolve"),
            &mine.token,
            Some(json!({"note": "  "})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, resolved) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/resolve"),
            &mine.token,
            Some(json!({"note": "beta-blocker given"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["resolution_note"], "beta-blocker given");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/alerts/{id}/resolve"),
            &mine.token,
            Some(json!({"note": "again"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The full history.
    let (_, detail) = app.get(&format!("/v1/alerts/{id}"), &mine.token).await;
    let kinds: Vec<_> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["created", "acknowledged", "assigned", "resolved"]);
    assert_eq!(detail["history"][3]["note"], "beta-blocker given");
    // Open list no longer shows it; resolved does.
    let (_, open) = app.get("/v1/alerts", &mine.token).await;
    assert!(open["alerts"].as_array().unwrap().is_empty());
    let (_, done) = app.get("/v1/alerts?state=resolved", &mine.token).await;
    assert_eq!(done["alerts"].as_array().unwrap().len(), 1);

    // Bad input.
    for (path, expected) in [
        ("/v1/alerts?state=bogus", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v1/alerts?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v1/alerts?severity=awful", StatusCode::BAD_REQUEST),
        ("/v1/alerts/not-a-uuid", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = app.get(path, &mine.token).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    let response = app
        .http
        .get(format!("{}/v1/alerts", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn vitals_history_and_rule_overrides() {
    let app = spawn_app().await;
    let clinician = app.user(Role::Clinician, "Dr Vitals").await;
    let outsider = app.user(Role::Clinician, "Dr No").await;
    let p = app.monitored_patient("hubv", &[clinician.id]).await;
    let t0 = (now_s() / 3600) * 3600 - 7200;
    app.publish(&batches("hubv", 0, t0, 10, 18, NORMAL)).await;
    let pool = app.pool().await;
    crate::scenarios::wait_until_consumed(&pool, 18).await;
    let from = chrono::DateTime::from_timestamp(t0, 0)
        .unwrap()
        .to_rfc3339();
    let to = chrono::DateTime::from_timestamp(t0 + 3600, 0)
        .unwrap()
        .to_rfc3339();
    let q = |res: &str| {
        format!(
            "/v1/patients/{p}/vitals?from={}&to={}&resolution={res}",
            urlencode(&from),
            urlencode(&to)
        )
    };
    let (status, minutes) = app.get(&q("1m"), &clinician.token).await;
    assert_eq!(status, StatusCode::OK, "{minutes}");
    let hr = &minutes["series"][0];
    assert_eq!(hr["vital"], "heart_rate");
    assert_eq!(hr["unit"], "/min");
    assert_eq!(hr["points"].as_array().unwrap().len(), 3, "{hr}");
    assert_eq!(hr["points"][0]["count"], 6);
    let (_, hourly) = app.get(&q("1h"), &clinician.token).await;
    let point = &hourly["series"][0]["points"][0];
    assert_eq!(point["count"], 18);
    assert!(point["min"].as_f64().unwrap() >= 72.0 && point["max"].as_f64().unwrap() <= 72.6);
    let (status, _) = app.get(&q("1m"), &outsider.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Issue 15: a service reads vitals only with `vitals:read` (records' FHIR export holds it).
    let other_scopes: Vec<episante_kit::Scope> = episante_kit::Scope::ALL
        .into_iter()
        .filter(|s| *s != episante_kit::Scope::VitalsRead)
        .collect();
    let unscoped = app.auth.service_token("no-vitals", &other_scopes).await;
    let (status, body) = app.get(&q("1m"), &unscoped).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("vitals:read"),
        "{body}"
    );
    let scoped = app
        .auth
        .service_token("fhir-export", &[episante_kit::Scope::VitalsRead])
        .await;
    let (status, body) = app.get(&q("1m"), &scoped).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["series"][0]["points"].as_array().unwrap().len(), 3);
    let (status, _) = app.get(&q("7m"), &clinician.token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Rules: defaults, a valid override, a bad one.
    let path = format!("/v1/patients/{p}/alert-rules");
    let (_, rules) = app.get(&path, &clinician.token).await;
    assert!(rules["effective"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["key"] == "heart_rate.high"));
    let tighter = json!({"overrides": [
        {"key": "heart_rate.high", "kind": "threshold", "vital": "heart_rate", "direction": "above",
         "threshold": 100, "hysteresis": 5, "sustain_secs": 30, "severity": "critical"},
        {"key": "heart_rate.rise", "kind": "rate_of_change", "vital": "heart_rate", "direction": "above",
         "delta": 30, "window_secs": 300, "severity": "medium"}
    ]});
    let (status, body) = app
        .call(Method::PUT, &path, &clinician.token, Some(tighter))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let high = body["effective"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "heart_rate.high")
        .unwrap()
        .clone();
    assert_eq!(high["threshold"], 100.0);
    for bad in [
        json!({"overrides": [{"key": "x", "kind": "threshold", "vital": "heart_rate", "direction": "above",
            "threshold": 1000, "hysteresis": 1, "sustain_secs": 60, "severity": "high"}]}),
        json!({"overrides": [{"key": "x", "kind": "dropout", "after_secs": 1, "severity": "high"}]}),
        json!({"overrides": [{"key": "x", "kind": "nonsense", "severity": "high"}]}),
    ] {
        let (status, body) = app
            .call(Method::PUT, &path, &clinician.token, Some(bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            &outsider.token,
            Some(json!({"overrides": []})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The override applies: HR 110 for a minute is now a critical alert for this patient.
    app.publish(&batches(
        "hubv",
        18,
        now_s() - 300,
        10,
        10,
        &[(episante_protocol::VitalKind::HeartRate, 110.0)],
    ))
    .await;
    let alert = eventually(30, "the overridden rule to fire", || async {
        app.alerts_of(p)
            .await
            .into_iter()
            .find(|a| a["rule_key"] == "heart_rate.high")
    })
    .await;
    assert_eq!(alert["severity"], "critical");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
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
    episante_testkit::openapi::assert_valid_openapi("alerts", &doc);
}

#[tokio::test]
async fn fuzzing_the_published_api_finds_no_server_error_and_no_undocumented_answer() {
    let app = spawn_app().await;
    // The event stream never ends by itself: fuzzing it would only time out.
    episante_testkit::fuzz::assert_fuzz_clean(
        "alerts",
        &app.base,
        app.admin(),
        Some("^/v1/alerts/stream$"),
    )
    .await;
}
