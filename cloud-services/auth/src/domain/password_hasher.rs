//! Password hashing with Argon2id.
//!
//! Parameters default to OWASP's recommendation for Argon2id (m = 19 MiB, t = 2, p = 1): about
//! 20 ms per hash on one core of the reference machine, which bounds an offline attacker to a few
//! dozen guesses per second per core while keeping login latency low. Hashing runs on the blocking
//! pool so a burst of logins cannot stall the async runtime. The PHC string stores the parameters,
//! so raising them later leaves old hashes verifiable.

use argon2::password_hash::{rand_core::OsRng, SaltString};
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Argon2Settings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Verified against when the account does not exist, so response time does not reveal
    /// which emails are registered.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(settings: Argon2Settings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let mut hasher = PasswordHasher {
            params,
            dummy_hash: String::new(),
        };
        hasher.dummy_hash = hasher.hash_blocking("not a real password, only for timing")?;
        Ok(hasher)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_blocking(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let this = self.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password)).await?
    }

    /// True when `password` matches `hash`; with no hash (unknown account) it spends the same
    /// time and returns false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let this = self.clone();
        let password = password.to_string();
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_string();
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            this.argon()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
                && known
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let hasher = PasswordHasher::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let a = hasher.hash("correct horse battery").await.unwrap();
        let b = hasher.hash("correct horse battery").await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify("correct horse battery", Some(&a)).await);
        assert!(!hasher.verify("wrong horse battery", Some(&a)).await);
        assert!(!hasher.verify("correct horse battery", None).await);
    }
}
