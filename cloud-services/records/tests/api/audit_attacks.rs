//! The trail against someone who controls the records database: a rewritten chain is caught
//! without the key, removed newest entries are caught by the checkpoint kept outside the
//! database, and the records role cannot take the audit schema for itself.

use chrono::{SubsecRound, Utc};
use episante_records::audit::chain::{legacy_hash, ChainKey, Link, GENESIS};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::{Executor, Row};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

async fn verify(app: &TestApp) -> Value {
    let (status, verdict) = app
        .call(Method::POST, "/v1/audit/verify", app.admin(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    verdict
}

/// A few audited reads (each one entry), then the checkpoint written.
async fn some_history(app: &TestApp, reads: usize) -> String {
    let patient = app.create_patient("Trail", "61616161").await;
    let id = patient["id"].as_str().unwrap().to_string();
    for _ in 0..reads {
        let (status, _) = app.get(&format!("/v1/patients/{id}"), app.admin()).await;
        assert_eq!(status, StatusCode::OK);
    }
    app.state.audit.checkpoint().await.expect("checkpoint");
    id
}

/// Replaces the whole trail with `rows` entries chained by `chain(prev, link)`, as a superuser
/// (or a records role that got the table dropped and recreated) could.
async fn rewrite_trail(app: &TestApp, chain: impl Fn(&[u8], &Link<'_>) -> Vec<u8>, legacy: bool) {
    let mut conn = app.admin_sql().await;
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let rows = sqlx::query("SELECT n FROM audit.events ORDER BY n")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.execute("DELETE FROM audit.events").await.unwrap();
    let mut prev = GENESIS.to_vec();
    let at = Utc::now().trunc_subsecs(6);
    for row in rows {
        let n: i64 = row.get("n");
        let link = Link {
            n,
            at,
            service: "records",
            actor: "nobody",
            actor_role: "admin",
            patient_id: None,
            action: "patient.read",
            purpose: "TREAT",
            detail: "{}",
            event_id: None,
        };
        let hash = chain(&prev, &link);
        sqlx::query(
            "INSERT INTO audit.events (n, at, service, actor, actor_role, action, purpose, \
             detail, legacy, prev_hash, hash) VALUES \
             ($1, $2, 'records', 'nobody', 'admin', 'patient.read', 'TREAT', '{}', $3, $4, $5)",
        )
        .bind(n)
        .bind(at)
        .bind(legacy)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut conn)
        .await
        .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn a_trail_rewritten_without_the_key_is_detected() {
    // A fresh, self-consistent chain under the old rule (plain SHA-256), under another key, or
    // passed off as entries from before the key: none verifies.
    for (forgery, legacy) in [("sha256", false), ("other key", false), ("legacy", true)] {
        let app = spawn_app().await;
        some_history(&app, 3).await;
        assert_eq!(verify(&app).await["intact"], true);
        let first_seq: i64 = {
            let other = ChainKey::new(&[9; 32]);
            match forgery {
                "other key" => rewrite_trail(&app, |p, l| other.entry_mac(p, l), legacy).await,
                _ => rewrite_trail(&app, legacy_hash, legacy).await,
            }
            let mut conn = app.admin_sql().await;
            sqlx::query_scalar("SELECT min(seq) FROM audit.events")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        };
        let verdict = verify(&app).await;
        assert_eq!(verdict["intact"], false, "{forgery}: {verdict}");
        assert_eq!(
            verdict["first_broken_seq"], first_seq,
            "{forgery}: {verdict}"
        );
        assert!(verdict["problem"].is_string(), "{verdict}");
    }
}

#[tokio::test]
async fn removing_the_newest_entries_is_detected() {
    let app = spawn_app().await;
    some_history(&app, 4).await;
    let before = verify(&app).await;
    assert_eq!(before["intact"], true, "{before}");
    assert_eq!(before["truncated"], false);
    let entries = before["checkpoint_entries"].as_i64().expect("a checkpoint");
    assert!(entries >= 5, "{before}");

    // Cut the last two entries: what remains is still a perfectly valid chain…
    let mut conn = app.admin_sql().await;
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn.execute("DELETE FROM audit.events WHERE n > (SELECT max(n) - 2 FROM audit.events)")
        .await
        .unwrap();
    // …but shorter than its checkpoint (verification first reads the checkpoint, so the entry
    // `verify` itself appends afterwards is not counted).
    let verdict = verify(&app).await;
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert_eq!(verdict["truncated"], true, "{verdict}");
    assert_eq!(verdict["checkpoint_entries"], entries, "{verdict}");

    // New entries written over the cut (each trail read is one) do not hide it, and the
    // checkpoint refuses to follow them.
    for _ in 0..3 {
        let (status, trail) = app.get("/v1/audit", app.admin()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!trail.as_array().unwrap().is_empty());
    }
    assert!(app.state.audit.checkpoint().await.is_err());
    let verdict = verify(&app).await;
    assert_eq!(verdict["intact"], false, "{verdict}");
}

#[tokio::test]
async fn emptying_the_trail_is_detected_by_the_checkpoint_in_vault() {
    // The records role owns its database: it may drop it whole and let the service start afresh
    // with an empty trail. The checkpoint lives in Vault, outside it.
    let app = spawn_app_with(Options {
        vault: true,
        ..Default::default()
    })
    .await;
    some_history(&app, 2).await;
    assert_eq!(verify(&app).await["intact"], true);
    let mut conn = app.admin_sql().await;
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn.execute("DELETE FROM audit.events").await.unwrap();
    let verdict = verify(&app).await;
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert_eq!(verdict["truncated"], true, "{verdict}");
}

#[tokio::test]
async fn the_records_role_cannot_take_the_audit_schema_first() {
    let db = episante_testkit::TestDb::new();
    let config = db.config();
    let service = db.service_database();
    episante_kit::db::provision(&config, &service, &episante_records::db::MIGRATOR)
        .await
        .unwrap();
    // As the records role (owner of the database), create `audit` before the admin does.
    let mut conn = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&db.admin_url()).await.unwrap()
    };
    conn.execute(format!("SET ROLE \"{}\"", service.role).as_str())
        .await
        .unwrap();
    conn.execute("CREATE SCHEMA audit").await.unwrap();
    let error = episante_kit::db::provision_admin_schema(
        &config,
        &service,
        &episante_records::db::audit::ADMIN_SCHEMA,
    )
    .await
    .unwrap_err();
    assert!(format!("{error:#}").contains("belongs to"), "{error:#}");
}

#[tokio::test]
async fn entries_from_before_the_key_are_kept_and_still_checked() {
    // A database from before this change: the old public.audit_events, handed to the admin.
    let db = episante_testkit::TestDb::new();
    let config = db.config();
    let service = db.service_database();
    episante_kit::db::provision(&config, &service, &episante_records::db::MIGRATOR)
        .await
        .unwrap();
    episante_kit::db::make_append_only(&config, &service, &["audit_events"])
        .await
        .unwrap();
    let mut conn = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&db.admin_url()).await.unwrap()
    };
    let mut prev = GENESIS.to_vec();
    let at = Utc::now().trunc_subsecs(6);
    for n in 1..=3 {
        let link = Link {
            n,
            at,
            service: "records",
            actor: "old-admin",
            actor_role: "admin",
            patient_id: None,
            action: "patient.read",
            purpose: "TREAT",
            detail: "{}",
            event_id: None,
        };
        let hash = legacy_hash(&prev, &link);
        sqlx::query(
            "INSERT INTO audit_events (at, actor, actor_role, action, purpose, detail, \
             prev_hash, hash) VALUES ($1, 'old-admin', 'admin', 'patient.read', 'TREAT', '{}', \
             $2, $3)",
        )
        .bind(at)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut conn)
        .await
        .unwrap();
        prev = hash;
    }
    episante_kit::db::provision_admin_schema(
        &config,
        &service,
        &episante_records::db::audit::ADMIN_SCHEMA,
    )
    .await
    .unwrap();
    let moved: i64 = sqlx::query_scalar("SELECT count(*) FROM audit.events WHERE legacy")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(moved, 3);
    let old: Option<String> = sqlx::query_scalar("SELECT to_regclass('public.audit_events')::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(old, None, "the old table is gone");
    // Running it again changes nothing.
    episante_kit::db::provision_admin_schema(
        &config,
        &service,
        &episante_records::db::audit::ADMIN_SCHEMA,
    )
    .await
    .unwrap();
    let key = ChainKey::new(&[1; 32]);
    let store = episante_records::audit::checkpoint::CheckpointStore::file(
        tempfile::tempdir().unwrap().path().join("cp.json"),
    );
    let pool = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let verdict = episante_records::audit::verify(&pool, &key, &store)
        .await
        .unwrap();
    assert!(verdict.intact, "{verdict:?}");
    assert_eq!(verdict.checked, 3);
}
