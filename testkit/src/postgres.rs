//! A private PostgreSQL database per test.

use episante_kit::db::ServiceDatabase;
use episante_kit::{DatabaseConfig, Secret};

/// The admin URL tests provision with.
pub fn admin_url() -> String {
    std::env::var("EPISANTE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A random database (and role) name reserved for one test. The service under test creates both
/// through its normal provisioning; dropping this removes both, even when the test panicked.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        TestDb {
            name: format!("test_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The shared `[database]` section pointing at the machine's server.
    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            admin_url: Secret::new(admin_url()),
            max_connections: 5,
        }
    }

    /// This database, as the admin account (for tests that inspect or tamper with what the
    /// service stored).
    pub fn admin_url(&self) -> String {
        let server = admin_url();
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }

    /// The service database section: database and role both named after this test.
    pub fn service_database(&self) -> ServiceDatabase {
        ServiceDatabase::named(&self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside or outside a runtime: use a private one on a private thread.
        let result = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(drop_database(&admin_url(), &name))
        })
        .join();
        if let Ok(Err(e)) = result {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// Drops a test's database and its role (same name; generated here, so safe to quote).
async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    anyhow::ensure!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "not a test database name: {name:?}"
    );
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("DROP ROLE IF EXISTS \"{name}\""))
        .execute(&mut admin)
        .await?;
    Ok(())
}
