//! The notify service's configuration: section `[notify]` plus the shared `[database]`,
//! `[tokens]`, `[vault]`, `[kafka]` and `[log]` sections (see `episante_kit::config`).

use std::path::PathBuf;

use episante_kit::db::ServiceDatabase;
use episante_kit::events::EventBusConfig;
use episante_kit::service::ServiceSettings;
use episante_kit::telemetry::LogConfig;
use episante_kit::{DatabaseConfig, Secret, TokenConfig, VaultConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// HTTP listen address (`EPISANTE_NOTIFY__BIND`).
    pub bind: String,
    pub database: ServiceDatabase,
    /// Where email goes: an SMTP relay, or (no `smtp.host`) files in `mailbox_dir`.
    pub smtp: SmtpConfig,
    /// Text messages: a provider's API (unset `sms.url`: no SMS).
    pub sms: SmsConfig,
    /// More alert pages than this to one person on one channel within `page_window_secs` are
    /// folded into one digest sent at the window's end.
    pub page_burst: i64,
    pub page_window_secs: i64,
    /// Development mailbox: one `.eml` file per message, when no SMTP relay is configured.
    pub mailbox_dir: PathBuf,
    /// The portal's address, for links in messages.
    pub portal_url: String,
    /// Auth (contacts: email, name, language) and bookings (practitioners, appointment types).
    pub auth_url: String,
    pub bookings_url: String,
    /// This service's client credentials (scopes `contacts:read`, `schedule:read`).
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// A message is tried at most this many times before it is recorded as failed.
    pub max_attempts: i32,
    /// First retry delay; doubled at each attempt, with ±25 % jitter.
    pub initial_backoff_ms: u64,
    /// How often the dispatcher looks for due messages when nothing wakes it.
    pub poll_ms: u64,
    /// Messages sent at once.
    pub send_concurrency: usize,
    /// Consumer group on the bus.
    pub group: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            bind: "0.0.0.0:8087".into(),
            database: ServiceDatabase::named("episante_notify"),
            smtp: SmtpConfig::default(),
            sms: SmsConfig::default(),
            page_burst: 5,
            page_window_secs: 60,
            mailbox_dir: dirs_data().join("notify/mail"),
            portal_url: "http://localhost".into(),
            auth_url: "http://127.0.0.1:8081".into(),
            bookings_url: "http://127.0.0.1:8083".into(),
            client_id: "notify".into(),
            client_secret: None,
            max_attempts: 8,
            initial_backoff_ms: 1_000,
            poll_ms: 500,
            send_concurrency: 16,
            group: "episante-notify".into(),
        }
    }
}

fn dirs_data() -> PathBuf {
    std::env::var_os("EPISANTE_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/episante"))
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS required (submission, port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS: only for a relay on the same host or a test server.
    None,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    /// The relay's host name; unset, mail goes to `notify.mailbox_dir`.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The `From:` of every message.
    pub from: String,
    /// A relay that does not answer within this long counts as a transient failure.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: None,
            tls: SmtpTls::default(),
            username: None,
            password: None,
            from: "EpiSante <no-reply@episante.local>".into(),
            timeout_secs: 30,
        }
    }
}

/// Twilio's Programmable Messaging API, or any endpoint of the same shape (see
/// `channels/sms.rs`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsConfig {
    /// The API's base URL, e.g. `https://api.twilio.com`; unset, nobody is sent SMS.
    pub url: Option<String>,
    /// The sender: a number in E.164 or a messaging service id.
    pub from: String,
    /// Credentials; unset, read from Vault KV `kv_mount`/`credentials_path`.
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub kv_mount: String,
    pub credentials_path: String,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            url: None,
            from: String::new(),
            account_sid: None,
            auth_token: None,
            kv_mount: "secret".into(),
            credentials_path: "episante/notify/sms".into(),
        }
    }
}

/// Everything the notify service reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub notify: NotifyConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub vault: VaultConfig,
    pub kafka: EventBusConfig,
    pub log: LogConfig,
}

impl ServiceSettings for Settings {
    fn bind(&self) -> &str {
        &self.notify.bind
    }

    fn log(&self) -> &LogConfig {
        &self.log
    }
}
