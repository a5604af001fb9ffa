//! The stored session: one file, mode 0600, in the user's config directory.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ClientError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub server: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    pub fn from_token_response(
        server: &str,
        email: &str,
        body: &Value,
    ) -> Result<Self, ClientError> {
        let access_token = body["access_token"]
            .as_str()
            .ok_or_else(|| ClientError::Decode("no access_token in the login answer".into()))?;
        Ok(Session {
            server: server.to_string(),
            email: email.to_string(),
            access_token: access_token.to_string(),
            refresh_token: body["refresh_token"].as_str().map(str::to_string),
            expires_at: Utc::now() + Duration::seconds(body["expires_in"].as_i64().unwrap_or(900)),
        })
    }

    /// Expired, or about to (30 s of margin).
    pub fn expired(&self) -> bool {
        Utc::now() + Duration::seconds(30) >= self.expires_at
    }
}

/// Where sessions live.
#[derive(Debug, Clone)]
pub struct SessionStore {
    pub path: PathBuf,
}

impl SessionStore {
    /// `$EPISANTE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/episante`, else `~/.config/episante`.
    pub fn default_location() -> SessionStore {
        let dir = std::env::var_os("EPISANTE_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("episante"))
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/episante")))
            .unwrap_or_else(|| PathBuf::from(".episante"));
        SessionStore {
            path: dir.join("session.json"),
        }
    }

    pub fn load(&self) -> Result<Option<Session>, ClientError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(serde_json::from_str(&text).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, session: &Session) -> Result<(), ClientError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(
                serde_json::to_string_pretty(session)
                    .expect("serialisable")
                    .as_bytes(),
            )?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    pub fn clear(&self) -> Result<(), ClientError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
