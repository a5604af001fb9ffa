//! Email through `lettre`: an SMTP relay (STARTTLS, implicit TLS, or none for a relay on the same
//! host), or, in development, one `.eml` file per message in a directory (`episante up` prints
//! where). Each message is multipart: plain text and HTML alternatives, plus the calendar
//! invitation as `invite.ics` (`text/calendar; method=…`) when there is one.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::config::{NotifyConfig, SmtpTls};
use crate::domain::address::EmailAddress;

/// One email to send.
pub struct Email<'a> {
    /// The delivery row: the `Message-ID` is made of it, so a message sent twice (a crash between
    /// the relay's acceptance and the row's update) is the same message, which mail clients
    /// show once.
    pub delivery: i64,
    pub to: &'a EmailAddress,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// `(ics, method)`: `REQUEST` or `CANCEL`.
    pub invitation: Option<&'a str>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

pub struct EmailChannel {
    transport: Transport,
    from: Mailbox,
    /// For logs and `episante up`'s banner.
    pub destination: String,
}

impl EmailChannel {
    pub fn new(config: &NotifyConfig) -> anyhow::Result<EmailChannel> {
        let smtp = &config.smtp;
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("notify.smtp.from {:?}: {e}", smtp.from))?;
        let (transport, destination) = match &smtp.host {
            Some(host) => {
                let builder = match smtp.tls {
                    SmtpTls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?
                    }
                    SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                };
                let mut builder = builder.timeout(Some(Duration::from_secs(smtp.timeout_secs)));
                if let Some(port) = smtp.port {
                    builder = builder.port(port);
                }
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose().to_string(),
                    ));
                }
                let tls = match smtp.tls {
                    SmtpTls::Starttls => "STARTTLS",
                    SmtpTls::Implicit => "TLS",
                    SmtpTls::None => "no TLS",
                };
                let port = smtp.port.map(|p| format!(":{p}")).unwrap_or_default();
                (
                    Transport::Smtp(builder.build()),
                    format!("SMTP relay {host}{port} ({tls})"),
                )
            }
            None => {
                std::fs::create_dir_all(&config.mailbox_dir).map_err(|e| {
                    anyhow::anyhow!("creating {}: {e}", config.mailbox_dir.display())
                })?;
                (
                    Transport::Files(AsyncFileTransport::new(&config.mailbox_dir)),
                    format!(
                        "files in {} (development mailbox: set notify.smtp.host to relay)",
                        config.mailbox_dir.display()
                    ),
                )
            }
        };
        Ok(EmailChannel {
            transport,
            from,
            destination,
        })
    }

    pub async fn send(&self, email: &Email<'_>) -> Result<(), SendError> {
        let alternatives =
            MultiPart::alternative_plain_html(email.text.to_string(), email.html.to_string());
        let body = match email.invitation {
            Some(ics) => {
                let method = if ics.contains("METHOD:CANCEL") {
                    "CANCEL"
                } else {
                    "REQUEST"
                };
                let content_type =
                    ContentType::parse(&format!("text/calendar; method={method}; charset=utf-8"))
                        .map_err(|e| SendError::Permanent(format!("content type: {e}")))?;
                MultiPart::mixed().multipart(alternatives).singlepart(
                    Attachment::new("invite.ics".to_string()).body(ics.to_string(), content_type),
                )
            }
            None => alternatives,
        };
        let message = Message::builder()
            .message_id(Some(format!(
                "<delivery-{}@{}>",
                email.delivery,
                self.from.email.domain()
            )))
            .from(self.from.clone())
            .to(Mailbox::new(None, email.to.as_address().clone()))
            .subject(email.subject)
            .multipart(body)
            .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(format!("refused by the relay: {e}"))
                } else if e.is_client() {
                    // What this message asks of the relay cannot be done (an address with
                    // non-ASCII characters to a relay without SMTPUTF8): retrying changes nothing.
                    SendError::Permanent(format!("not sendable to this relay: {e}"))
                } else {
                    // 4xx, connection refused or cut, timeout, TLS trouble: try again later.
                    SendError::Transient(format!("relay: {e}"))
                }
            }),
            Transport::Files(files) => files
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(format!("mailbox: {e}"))),
        }
    }
}
