//! SMS through a provider's HTTP API, behind [`SmsProvider`]. The one provider implemented is
//! Twilio's Programmable Messaging (the most widely documented shape; others — Vonage,
//! OVHcloud — differ only in the request built here):
//!
//! `POST {url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth with the account
//! SID and auth token, a form body `To`, `From`, `Body`; `201 Created` means accepted. Twilio
//! answers `400` with an error `code` for a request it will never accept (21211: invalid `To`,
//! 21610: the recipient opted out) and `429` or `5xx` when it is busy or failing.
//!
//! | answer                    | outcome                              |
//! |---------------------------|--------------------------------------|
//! | 2xx                       | sent                                 |
//! | 429, 5xx, no answer       | transient: retried with backoff      |
//! | 4xx (400 with a code …)   | permanent: failed, the reason kept   |
//!
//! The credentials come from `[notify.sms]` or, when unset there, from Vault KV
//! (`credentials_path`: `{"account_sid": …, "auth_token": …}`).

use std::time::Duration;

use episante_kit::Secret;
use serde::Deserialize;

use super::SendError;
use crate::domain::address::PhoneNumber;

/// A way to send a text message.
pub trait SmsProvider: Send + Sync {
    fn send<'a>(
        &'a self,
        to: &'a PhoneNumber,
        body: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SendError>> + Send + 'a>>;
}

/// The credentials a provider account is reached with.
#[derive(Clone, Debug, serde::Serialize, Deserialize)]
pub struct SmsCredentials {
    pub account_sid: String,
    pub auth_token: Secret,
}

pub struct TwilioSms {
    http: reqwest::Client,
    messages_url: String,
    credentials: SmsCredentials,
    from: String,
}

impl TwilioSms {
    pub fn new(url: &str, credentials: SmsCredentials, from: &str) -> anyhow::Result<TwilioSms> {
        anyhow::ensure!(
            !credentials.account_sid.is_empty() && !credentials.account_sid.contains('/'),
            "notify.sms: the account SID is empty or not a SID"
        );
        Ok(TwilioSms {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()?,
            messages_url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                url.trim_end_matches('/'),
                credentials.account_sid
            ),
            credentials,
            from: from.to_string(),
        })
    }

    async fn post(&self, to: &PhoneNumber, body: &str) -> Result<(), SendError> {
        let answer = self
            .http
            .post(&self.messages_url)
            .basic_auth(
                &self.credentials.account_sid,
                Some(self.credentials.auth_token.expose()),
            )
            .form(&[("To", to.as_str()), ("From", &self.from), ("Body", body)])
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("SMS provider unreachable: {e}")))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        #[derive(Deserialize, Default)]
        struct Refusal {
            code: Option<i64>,
            message: Option<String>,
        }
        let refusal: Refusal = answer.json().await.unwrap_or_default();
        let why = format!(
            "SMS provider answered {status}{}{}",
            refusal
                .code
                .map(|c| format!(", code {c}"))
                .unwrap_or_default(),
            refusal
                .message
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(SendError::Transient(why))
        } else {
            Err(SendError::Permanent(why))
        }
    }
}

impl SmsProvider for TwilioSms {
    fn send<'a>(
        &'a self,
        to: &'a PhoneNumber,
        body: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SendError>> + Send + 'a>>
    {
        Box::pin(self.post(to, body))
    }
}
