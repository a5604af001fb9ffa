//! EpiSante patient records: who the patients are, who looks after them, which devices feed them.
//!
//! Identity and history are PII/PHI: encrypted field-by-field with data keys wrapped by Vault
//! transit (`crypto`), findable only through blind indexes, readable only by callers in scope
//! (`domain::access`, `http::access`), and every access lands in a hash-chained, append-only audit trail
//! (`audit`). Device assignments and care teams are published for the alerts service (`events`).
//! Layout: `config`, `domain`, `crypto`, `store` (encrypt/decrypt + db), `db` + `migrations/`,
//! `http`, `peers` (registry and alerts over HTTP), `events`, `audit`.

pub mod audit;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod events;
pub mod http;
pub mod peers;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use episante_kit::events::outbox::{OutboxRelay, RelaySettings};
use episante_kit::events::EventBus;
use episante_kit::service::Service;
use episante_kit::service_token::ServiceToken;
use episante_kit::{Metrics, Shutdown, TokenVerifier};

use crate::audit::checkpoint::CheckpointStore;
use crate::audit::AuditLog;
use crate::config::Settings;
use crate::crypto::key_wrapper::VaultCallSeconds;
use crate::crypto::{BlindIndex, KeyWrapper, PiiCipher};
use crate::http::AppState;
use crate::peers::Peers;
use crate::store::PatientStore;

/// A built, not yet serving, records service.
pub struct RecordsService {
    pub router: Router,
    pub state: AppState,
}

impl Service for RecordsService {
    const ABOUT: &'static str = "EpiSante patient records service";
    type Settings = Settings;

    /// Provisions the database, opens the keys (Vault or local), starts the audit writer and the
    /// outbox relay (both stop with `shutdown`), and builds the routes. `bus` is shared with the other
    /// services when they run in one process.
    async fn build(
        settings: Settings,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let cfg = &settings.records;
        let pool =
            episante_kit::db::provision(&settings.database, &cfg.database, &db::MIGRATOR).await?;
        // The audit trail lives in a schema the admin account owns (see `audit`).
        episante_kit::db::provision_admin_schema(
            &settings.database,
            &cfg.database,
            &db::audit::ADMIN_SCHEMA,
        )
        .await?;
        let metrics = Metrics::new("records");
        let vault_calls =
            VaultCallSeconds::new_with_constructor(episante_kit::metrics::latency_histogram);
        metrics.register(
            "episante_records_vault_call_seconds",
            "Time spent in Vault transit calls, by operation",
            vault_calls.clone(),
        );
        let (wrapper, index, chain_key, checkpoints) =
            match episante_kit::vault::client(&settings.vault)? {
                Some(client) => {
                    let client = Arc::new(client);
                    let wrapper = KeyWrapper::vault(
                        client.clone(),
                        &cfg.transit_mount,
                        &cfg.transit_key,
                        vault_calls,
                    )
                    .await?;
                    let index =
                        BlindIndex::from_vault(&client, &cfg.kv_mount, &cfg.blind_index_key_path)
                            .await?;
                    let chain_key =
                        audit::key::from_vault(&client, &cfg.kv_mount, &cfg.audit_key_path).await?;
                    let checkpoints = CheckpointStore::Vault {
                        client: client.clone(),
                        mount: cfg.kv_mount.clone(),
                        path: cfg.audit_checkpoint_path.clone(),
                    };
                    (wrapper, index, chain_key, checkpoints)
                }
                None => (
                    KeyWrapper::local(&cfg.data_dir.join("master.key"))?,
                    BlindIndex::from_file(&cfg.data_dir.join("blind-index.key"))?,
                    audit::key::from_file(&cfg.data_dir.join("audit.key"))?,
                    CheckpointStore::file(cfg.data_dir.join("audit-checkpoint.json")),
                ),
            };
        tracing::info!(checkpoints = %checkpoints.describe(), "audit trail ready");
        tracing::info!(keys = %wrapper.describe(), "records encryption ready");
        let cipher = PiiCipher::new(
            wrapper,
            cfg.data_key_max_uses,
            Duration::from_secs(cfg.data_key_max_age_secs),
            cfg.data_key_cache_size,
        );
        bus.ensure_topics(events::TOPICS).await?;
        bus.ensure_topics(&[episante_kit::audit::AUDIT_TOPIC])
            .await?;
        let audit_log = AuditLog::spawn(
            pool.clone(),
            Arc::new(chain_key),
            Arc::new(checkpoints),
            Duration::from_millis(cfg.audit_checkpoint_interval_ms.max(10)),
            shutdown.clone(),
        );
        audit::consumer::spawn(
            bus.clone(),
            cfg.audit_consumer_group.clone(),
            episante_kit::events::leases::PartitionLeases::new(
                pool.clone(),
                &cfg.audit_consumer_group,
                format!("records-{}", uuid::Uuid::new_v4().simple()),
                Duration::from_secs(5),
            ),
            pool.clone(),
            audit_log.clone(),
            shutdown.clone(),
        );
        let outbox = OutboxRelay::spawn(
            pool.clone(),
            bus.clone(),
            shutdown.clone(),
            RelaySettings::every(Duration::from_millis(500)),
        );
        let token = Arc::new(ServiceToken::new(
            reqwest::Client::new(),
            &cfg.auth_url,
            &cfg.client_id,
            cfg.client_secret.clone(),
        ));
        let verifier = TokenVerifier::remote(&settings.tokens);
        episante_kit::revocation::spawn_listener(
            bus,
            verifier.revocations().clone(),
            "records",
            shutdown,
        );
        let state = AppState {
            pool: pool.clone(),
            verifier,
            store: Arc::new(PatientStore {
                cipher: Arc::new(cipher),
                index: Arc::new(index),
            }),
            audit: audit_log,
            outbox,
            peers: Arc::new(Peers::new(
                token,
                &cfg.registry_url,
                cfg.alerts_url.as_deref(),
            )?),
        };
        let router = http::router(state.clone(), metrics);
        Ok(RecordsService { router, state })
    }

    fn into_router(self) -> Router {
        self.router
    }
}
