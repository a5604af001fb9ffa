//! Authentication that leaks nothing and cannot be turned against users: identical answers for
//! unknown and backing-off accounts, atomic failure counting, back-off that strangers cannot use
//! to lock the owner out, and a client address that only trusted proxies can vouch for.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn failures(app: &TestApp, email: &str) -> (i32, i64) {
    sqlx::query_as(
        "SELECT u.failed_logins, (SELECT COALESCE(sum(failures), 0) FROM login_failures f
                                  WHERE f.user_id = u.id)
         FROM users u WHERE email = $1",
    )
    .bind(email)
    .fetch_one(&app.state.pool)
    .await
    .unwrap()
}

fn creds(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password })
}

#[tokio::test]
async fn unknown_and_locked_accounts_answer_alike_and_take_as_long() {
    let app = spawn_app_with(|s| {
        s.auth.lockout_threshold = 2;
        s.auth.lockout_base_ms = 30_000;
    })
    .await;
    for _ in 0..2 {
        app.login(ADMIN_EMAIL, "wrong wrong wrong").await;
    }
    let mut locked_times = Vec::new();
    let mut unknown_times = Vec::new();
    for i in 0..5 {
        let start = Instant::now();
        let locked = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        locked_times.push(start.elapsed());
        let start = Instant::now();
        let unknown = app
            .login(&format!("nobody{i}@episante.test"), ADMIN_PASSWORD)
            .await;
        unknown_times.push(start.elapsed());
        assert_eq!(locked.status(), unknown.status());
        assert!(locked.headers().get("retry-after").is_none());
        let (a, b): (Value, Value) = (locked.json().await.unwrap(), unknown.json().await.unwrap());
        assert_eq!(a, b, "same body");
    }
    locked_times.sort();
    unknown_times.sort();
    let (locked, unknown) = (locked_times[2], unknown_times[2]);
    println!("median: locked {locked:?}, unknown {unknown:?}");
    // The Argon2 work is done either way (a lock answered before it would be many times faster).
    assert!(
        locked * 2 > unknown,
        "locked {locked:?} vs unknown {unknown:?}"
    );
}

#[tokio::test]
async fn concurrent_failures_are_all_counted() {
    let app = spawn_app_with(|s| {
        s.auth.lockout_threshold = 5;
        s.auth.login_attempts_per_ip_per_minute = 1_000;
    })
    .await;
    let (email, _) = app.create_user(episante_kit::Role::Clinician).await;
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let http = app.http.clone();
            let url = app.url("/v1/auth/login");
            let body = creds(&email, "wrong wrong wrong");
            tokio::spawn(async move { http.post(url).json(&body).send().await.unwrap().status() })
        })
        .collect();
    for attempt in attempts {
        assert_eq!(attempt.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    // Every attempt that looked at the password was counted, for the account and the address
    // (attempts that arrived once it was backing off were refused without looking).
    let (account, address) = failures(&app, &email).await;
    assert!(account >= 5, "{account}");
    assert_eq!(account as i64, address);
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out() {
    let app = spawn_app_with(|s| {
        s.auth.lockout_threshold = 3;
        // Long enough that the attacker's back-off cannot run out during the test on a slow
        // machine (with a correct password he would then, rightly, get in).
        s.auth.lockout_base_ms = 60_000;
        s.auth.trusted_proxies = vec!["127.0.0.1".into(), "::1".into()];
        s.auth.login_attempts_per_ip_per_minute = 1_000;
    })
    .await;
    let attacker = Some("198.51.100.66");
    for _ in 0..15 {
        let r = app
            .login_with(creds(ADMIN_EMAIL, "guess guess guess"), attacker)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The attacker is backing off: even the right password is refused to him…
    let r = app
        .login_with(creds(ADMIN_EMAIL, ADMIN_PASSWORD), attacker)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // …while the admin, from an address that has not been failing, logs in at once.
    let r = app
        .login_with(creds(ADMIN_EMAIL, ADMIN_PASSWORD), Some("203.0.113.5"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // And the admin's success does not let the attacker in again.
    let r = app
        .login_with(creds(ADMIN_EMAIL, ADMIN_PASSWORD), attacker)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies_and_cannot_be_spoofed() {
    // Behind a trusted gateway: each client is throttled by the address the gateway appended,
    // whatever it put in the header itself.
    let app = spawn_app_with(|s| {
        s.auth.trusted_proxies = vec!["127.0.0.0/8".into(), "::1".into()];
        s.auth.login_attempts_per_ip_per_minute = 3;
    })
    .await;
    for i in 0..3 {
        let spoofed = format!("10.9.9.{i}, 198.51.100.7");
        let r = app
            .login_with(creds("x@episante.test", "nope nope nope"), Some(&spoofed))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .login_with(
            creds("x@episante.test", "nope nope nope"),
            Some("10.9.9.200, 198.51.100.7"),
        )
        .await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    // Another client behind the same gateway is not throttled by the first one.
    let r = app
        .login_with(creds(ADMIN_EMAIL, ADMIN_PASSWORD), Some("198.51.100.8"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Not behind a trusted proxy: the header is ignored, the socket peer is the client.
    let direct = spawn_app_with(|s| s.auth.login_attempts_per_ip_per_minute = 3).await;
    for i in 0..3 {
        direct
            .login_with(
                creds("x@episante.test", "nope nope nope"),
                Some(&format!("192.0.2.{i}")),
            )
            .await;
    }
    let r = direct
        .login_with(creds(ADMIN_EMAIL, ADMIN_PASSWORD), Some("192.0.2.99"))
        .await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn bad_trusted_proxy_entries_stop_the_start() {
    let db = episante_testkit::TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&db, dir.path());
    settings.auth.trusted_proxies = vec!["the gateway".into()];
    let error = episante_auth::build(settings).await.err().expect("refused");
    assert!(error.to_string().contains("trusted_proxies"), "{error}");
}

#[tokio::test]
async fn the_back_off_window_doubles() {
    let app = spawn_app_with(|s| {
        s.auth.lockout_threshold = 2;
        s.auth.lockout_base_ms = 400;
    })
    .await;
    for _ in 0..2 {
        app.login(ADMIN_EMAIL, "wrong wrong wrong").await;
    }
    // Threshold reached: 400 ms. Attempts inside the window are refused unseen and not counted.
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    // One more failure after the window: 800 ms now.
    app.login(ADMIN_EMAIL, "wrong wrong wrong").await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "the window doubled"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}
