//! Ways a message reaches a person: email (`email`), SMS (`sms`) and the portal's bell (rows
//! the portal reads; nothing to send). Each channel says whether a failure is worth retrying.

pub mod email;
pub mod sms;

use std::sync::Arc;

use crate::config::Settings;
use email::EmailChannel;
use sms::{SmsCredentials, SmsProvider, TwilioSms};

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: SMTP 4xx, a connection refused or cut, a timeout, a provider's 429/5xx.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help: SMTP 5xx, an address the relay refuses, an invalid number.
    #[error("{0}")]
    Permanent(String),
}

/// The channels this instance sends on.
pub struct Channels {
    pub email: EmailChannel,
    /// `None` when no provider is configured: SMS rows fail, saying so.
    pub sms: Option<Arc<dyn SmsProvider>>,
    /// For `episante up`'s banner.
    pub sms_destination: Option<String>,
}

impl Channels {
    /// Connects what `settings` configures; SMS credentials come from the configuration or Vault.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Channels> {
        let config = &settings.notify;
        let email = EmailChannel::new(config)?;
        let Some(url) = &config.sms.url else {
            return Ok(Channels {
                email,
                sms: None,
                sms_destination: None,
            });
        };
        let sms = &config.sms;
        let credentials = match (&sms.account_sid, &sms.auth_token) {
            (Some(account_sid), Some(auth_token)) => SmsCredentials {
                account_sid: account_sid.clone(),
                auth_token: auth_token.clone(),
            },
            _ => {
                let client = episante_kit::vault::client(&settings.vault)?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "notify.sms.url is set but neither notify.sms.account_sid/auth_token nor Vault is configured"
                    )
                })?;
                episante_kit::vault::read(&client, &sms.kv_mount, &sms.credentials_path)
                    .await?
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "notify.sms.url is set but Vault has no SMS credentials at {}/{}",
                            sms.kv_mount,
                            sms.credentials_path
                        )
                    })?
            }
        };
        let provider = TwilioSms::new(url, credentials, &sms.from)?;
        Ok(Channels {
            email,
            sms: Some(Arc::new(provider)),
            sms_destination: Some(format!("SMS provider {url}")),
        })
    }
}
