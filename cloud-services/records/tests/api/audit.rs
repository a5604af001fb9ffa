//! The audit trail: an entry for every PII access, append-only for the service role, and
//! tampering detected by the hash chain.

use episante_kit::service::Service;
use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Executor;

use crate::helpers::spawn_app;

async fn audit(app: &crate::helpers::TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/audit?{query}"), app.admin()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn every_pii_access_is_recorded_with_who_what_and_why() {
    let app = spawn_app().await;
    let clinician = app.user(Role::Clinician, "Dr Audit").await;
    let patient = app.create_patient("Audited", "31313131").await;
    let id = patient["id"].as_str().unwrap();
    let team = app.create_team("Audit team").await;
    app.put_in_team(&team, "members", &clinician.id.to_string())
        .await;
    app.put_in_team(&team, "patients", id).await;

    let response = app
        .http
        .get(format!("{}/v1/patients/{id}", app.base))
        .bearer_auth(&clinician.token)
        .header("x-purpose-of-use", "ETREAT")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.get(&format!("/v1/patients/{id}/history"), &clinician.token)
        .await;
    app.get(&format!("/v1/fhir/Patient/{id}"), &clinician.token)
        .await;
    app.call(
        Method::PATCH,
        &format!("/v1/patients/{id}"),
        &clinician.token,
        Some(json!({"email": "new@example.org"})),
    )
    .await;
    app.search(json!({"name": "audited"}), &clinician.token)
        .await;
    // A refused access leaves the record untouched and reveals nothing, but is not a PII access.
    let outsider = app.user(Role::Clinician, "Dr Outside").await;
    app.get(&format!("/v1/patients/{id}"), &outsider.token)
        .await;

    let entries = audit(&app, &format!("patient_id={id}")).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "patient.create",
            "care_team.add_patient",
            "patient.read",
            "history.read",
            "fhir.patient.read",
            "patient.update",
            "patient.list"
        ]
    );
    let read = &entries[2];
    assert_eq!(read["actor"], clinician.id.to_string());
    assert_eq!(read["actor_role"], "clinician");
    assert_eq!(read["purpose"], "ETREAT");
    assert_eq!(entries[3]["purpose"], "TREAT");
    assert_eq!(entries[5]["detail"]["fields"], json!(["email"]));
    // No PII in the trail itself.
    let dump = serde_json::to_string(&entries).unwrap();
    assert!(!dump.contains("Audited") && !dump.contains("new@example.org"));
    // Filter by actor.
    let by_clinician = audit(&app, &format!("actor={}", clinician.id)).await;
    assert_eq!(by_clinician.len(), 5);
}

#[tokio::test]
async fn the_service_role_cannot_rewrite_history() {
    let app = spawn_app().await;
    app.create_patient("Immutable", "41414141").await;
    let role = &app.settings.records.database.role;
    let mut conn = app.admin_sql().await;
    conn.execute(format!("SET ROLE \"{role}\"").as_str())
        .await
        .unwrap();
    // Although the role owns its database, the trail is in a schema the admin owns.
    for statement in [
        "UPDATE audit.events SET purpose = 'forged'",
        "DELETE FROM audit.events",
        "TRUNCATE audit.events",
        "DROP TABLE audit.events",
        "DROP SCHEMA audit CASCADE",
        "ALTER TABLE audit.events DISABLE TRIGGER USER",
        "ALTER TABLE audit.events RENAME TO old_events",
        "ALTER SCHEMA audit RENAME TO old_audit",
        "CREATE TABLE audit.events_shadow (n bigint)",
        "CREATE INDEX ON audit.events (hash)",
        "INSERT INTO audit.chain_origin (legacy_entries) VALUES (1000)",
        "DELETE FROM audit.chain_origin",
        "SELECT * FROM audit.schema_migrations",
    ] {
        let error = conn.execute(statement).await.unwrap_err().to_string();
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{statement}: {error}"
        );
    }
    // …while it can still append (the service works) and read.
    conn.execute("SELECT count(*) FROM audit.events")
        .await
        .unwrap();
}

#[tokio::test]
async fn tampering_is_detected_at_the_first_broken_link() {
    let app = spawn_app().await;
    let patient = app.create_patient("Chain", "51515151").await;
    let id = patient["id"].as_str().unwrap();
    for _ in 0..5 {
        app.get(&format!("/v1/patients/{id}"), app.admin()).await;
    }
    let (status, verdict) = app
        .call(Method::POST, "/v1/audit/verify", app.admin(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verdict["intact"], true, "{verdict}");
    let checked = verdict["checked"].as_u64().unwrap();
    assert!(checked >= 6, "{verdict}");

    let entries = audit(&app, "").await;
    let victim = entries[3]["seq"].as_i64().unwrap();
    // A DBA with superuser rights bypasses the trigger and edits an entry…
    let mut conn = app.admin_sql().await;
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn.execute(
        format!("UPDATE audit.events SET actor = 'someone-else' WHERE seq = {victim}").as_str(),
    )
    .await
    .unwrap();
    // …and the chain says where.
    let (_, verdict) = app
        .call(Method::POST, "/v1/audit/verify", app.admin(), None)
        .await;
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert_eq!(verdict["first_broken_seq"], victim, "{verdict}");

    // Deleting an entry instead breaks the link of the next one.
    let app = spawn_app().await;
    let patient = app.create_patient("Chain", "51515151").await;
    let id = patient["id"].as_str().unwrap();
    for _ in 0..3 {
        app.get(&format!("/v1/patients/{id}"), app.admin()).await;
    }
    let entries = audit(&app, "").await;
    let removed = entries[1]["seq"].as_i64().unwrap();
    let mut conn = app.admin_sql().await;
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn.execute(format!("DELETE FROM audit.events WHERE seq = {removed}").as_str())
        .await
        .unwrap();
    let (_, verdict) = app
        .call(Method::POST, "/v1/audit/verify", app.admin(), None)
        .await;
    assert_eq!(verdict["intact"], false);
    assert_eq!(verdict["first_broken_seq"], entries[2]["seq"], "{verdict}");
}

/// A stop (SIGTERM) loses no audit entry: every read answered before or while the instance stops
/// has its entry committed, the writer finishes before `serve` returns (it is a tracked task, not
/// a detached one), and the checkpoint written on the way out vouches for the whole chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_loses_no_audit_entry_of_an_answered_request() {
    let app = spawn_app().await;
    let patient = app.create_patient("Stopping", "46464646").await;
    let id = patient["id"].as_str().unwrap().to_string();

    // A second instance on the same database and checkpoint, which the test stops.
    let shutdown = episante_kit::Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let bus: std::sync::Arc<dyn episante_kit::events::EventBus> =
        std::sync::Arc::new(app.bus.clone());
    let service =
        episante_records::RecordsService::build(app.settings.clone(), bus, shutdown.clone())
            .await
            .unwrap();
    let served = tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));

    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let (http, url, token) = (
            app.http.clone(),
            format!("{base}/v1/patients/{id}"),
            app.admin().to_string(),
        );
        reads.spawn(async move {
            match http.get(url).bearer_auth(token).send().await {
                Ok(response) => response.status() == StatusCode::OK,
                Err(_) => false,
            }
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    shutdown.trigger();
    let mut answered = 0;
    while let Some(ok) = reads.join_next().await {
        answered += usize::from(ok.unwrap());
    }
    tokio::time::timeout(std::time::Duration::from_secs(10), served)
        .await
        .expect("serve returns once the audit writer has finished")
        .unwrap()
        .unwrap();
    assert!(answered > 0, "some reads were answered before the stop");

    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit.events WHERE action = 'patient.read' AND patient_id = $1",
    )
    .bind(uuid::Uuid::parse_str(&id).unwrap())
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert!(
        recorded >= answered as i64,
        "{answered} reads answered, {recorded} audited"
    );
    let verification = app.state.audit.verify().await.unwrap();
    assert!(verification.intact, "{verification:?}");
    assert_eq!(
        verification.checkpoint_entries,
        Some(verification.checked as i64),
        "the checkpoint written at the stop covers every entry: {verification:?}"
    );
}
