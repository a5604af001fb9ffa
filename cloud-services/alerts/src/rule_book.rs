//! Each patient's effective rules, cached for a few seconds: the consumer needs them for every
//! reading, and an override set through another instance takes effect within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::rules::{effective_rules, AlertRule};

const TTL: Duration = Duration::from_secs(5);

/// A patient's effective rules and when they were loaded.
type CachedRules = (Instant, Arc<Vec<AlertRule>>);

pub struct RuleBook {
    pool: PgPool,
    cache: Mutex<HashMap<Uuid, CachedRules>>,
}

impl RuleBook {
    pub fn new(pool: PgPool) -> Self {
        RuleBook {
            pool,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn rules_for(&self, patient: Uuid) -> sqlx::Result<Arc<Vec<AlertRule>>> {
        if let Some((at, rules)) = self.cache.lock().expect("rule cache").get(&patient) {
            if at.elapsed() < TTL {
                return Ok(rules.clone());
            }
        }
        let overrides = crate::db::rules::overrides(&self.pool, patient).await?;
        let rules = Arc::new(effective_rules(&overrides));
        self.cache
            .lock()
            .expect("rule cache")
            .insert(patient, (Instant::now(), rules.clone()));
        Ok(rules)
    }

    pub fn invalidate(&self, patient: Uuid) {
        self.cache.lock().expect("rule cache").remove(&patient);
    }
}
