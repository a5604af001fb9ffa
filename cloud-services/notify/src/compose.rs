//! Writing one message for one person: their contact (auth), their preferences (channels, quiet
//! hours), their language, then one `deliveries` row per channel, in one transaction. What every
//! event handler (booking messages, alert pages) calls, so the rules live once:
//!
//! - a redelivered event finds its rows and writes nothing (`deliveries` is unique on event,
//!   channel and recipient; the transaction makes the rows of one person all or nothing);
//! - a person who cannot be written to (no such account, deactivated) gets one failed row saying
//!   why, an email channel without a valid address a failed row for that channel: reported,
//!   never skipped silently;
//! - portal messages are delivered when written (the bell reads them);
//! - non-urgent email and SMS wait for the end of quiet hours;
//! - more than `page_burst` pages to one person on one channel within `page_window_secs` are
//!   folded into a digest sent at the window's end (`alert_digest`, counting them).

use std::sync::Arc;

use chrono::{DateTime, DurationRound, Utc};
use chrono_tz::Tz;
use episante_kit::Language;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::deliveries::{NewDelivery, Start};
use crate::directory::{Directory, LookupError};
use crate::domain::address::EmailAddress;
use crate::domain::message::MessageKind;
use crate::domain::preferences::Channel;
use crate::domain::template::{Rendered, Templates};
use crate::metrics::NotifyMetrics;

/// Why writing a message stopped: worth a restart of the consumer from its last commit.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("{0}")]
    Lookup(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Bus(#[from] episante_kit::events::EventBusError),
}

impl From<LookupError> for Stop {
    fn from(e: LookupError) -> Self {
        Stop::Lookup(e.to_string())
    }
}

/// What a message is about (what it is checked against when sent).
#[derive(Debug, Clone, Default)]
pub struct About {
    pub appointment_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// The calendar invitation attached to email.
    pub invitation: Option<String>,
}

pub struct Composer {
    pub pool: PgPool,
    pub directory: Arc<Directory>,
    pub templates: Arc<Templates>,
    pub metrics: Arc<NotifyMetrics>,
    pub page_burst: i64,
    /// The window pages are counted in, and digests close at its end, s.
    pub page_window_secs: i64,
    /// The portal's address, for links.
    pub portal_url: String,
}

impl Composer {
    /// A link to `path` in the portal.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.portal_url.trim_end_matches('/'))
    }

    /// Writes `kind` of event `event_id` for `recipient` in the caller's transaction `tx` (with
    /// whatever else the event changes: one commit per event), its text from `vars` (given the
    /// recipient's language and, if they gave it, time zone; `{name}` is added here). Returns
    /// whether anything new was written.
    #[allow(clippy::too_many_arguments)]
    pub async fn write(
        &self,
        tx: &mut sqlx::PgConnection,
        event_id: Uuid,
        recipient: Uuid,
        kind: MessageKind,
        about: &About,
        vars: impl Fn(Language, Option<Tz>) -> Vec<(&'static str, String)>,
    ) -> Result<bool, Stop> {
        // A redelivered event: its messages exist, so auth need not be asked again.
        if db::deliveries::exists(&mut *tx, event_id, recipient).await? {
            return Ok(false);
        }
        let contact = match self.directory.contact(recipient).await {
            Ok(contact) => Some(contact),
            Err(LookupError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let preferences = db::preferences::get(&mut *tx, recipient).await?;
        let language = contact.as_ref().map_or(Language::default(), |c| c.language);
        let name = contact
            .as_ref()
            .map_or(String::new(), |c| c.display_name.clone());
        let mut values = vars(language, preferences.time_zone);
        values.push(("name", name));
        let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let rendered = self.templates.render(kind, language, &pairs);
        let unreachable = match &contact {
            None => Some("no such user account"),
            Some(c) if !c.active => Some("the user's account is deactivated"),
            _ => None,
        };
        let now = Utc::now();
        let mut written = false;
        if let Some(why) = unreachable {
            self.metrics.unreachable.inc();
            let row = self.row(event_id, recipient, kind, language, &rendered, about);
            written |= db::deliveries::insert(
                &mut *tx,
                &NewDelivery {
                    start: Start::Unreachable(why),
                    address: contact.as_ref().map_or("", |c| c.email.as_str()),
                    ..row
                },
            )
            .await?;
            return Ok(written);
        }
        let contact = contact.expect("reachable means known");
        let channels = preferences.channels_for(kind);
        for channel in &channels {
            let channel = *channel;
            let row = self.row(event_id, recipient, kind, language, &rendered, about);
            let (address, refused) = match channel {
                Channel::Email => match EmailAddress::parse(&contact.email) {
                    Ok(a) => (a.to_string(), None),
                    Err(e) => (
                        contact.email.clone(),
                        Some(format!("no valid email address: {e}")),
                    ),
                },
                Channel::Sms => (
                    preferences
                        .phone
                        .as_ref()
                        .map_or(String::new(), ToString::to_string),
                    None,
                ),
                Channel::Portal => ("portal".to_string(), None),
            };
            let start = if let Some(why) = &refused {
                self.metrics.unreachable.inc();
                Start::Unreachable(why)
            } else if channel == Channel::Portal {
                Start::Delivered
            } else if kind.is_page()
                && db::deliveries::recent_pages(&mut *tx, recipient, channel, self.page_window_secs)
                    .await?
                    >= self.page_burst
            {
                self.add_to_digest(
                    &mut *tx,
                    recipient,
                    channel,
                    language,
                    &address,
                    &contact.display_name,
                    now,
                )
                .await?;
                Start::Digested
            } else {
                Start::Queued {
                    at: preferences.send_after(kind, channel, now).unwrap_or(now),
                }
            };
            let added = db::deliveries::insert(
                &mut *tx,
                &NewDelivery {
                    channel,
                    address: &address,
                    start,
                    ..row
                },
            )
            .await?;
            if added && channel == Channel::Portal {
                crate::inbox::changed(&mut *tx, recipient).await?;
            }
            written |= added;
        }
        Ok(written)
    }

    fn row<'a>(
        &self,
        event_id: Uuid,
        recipient: Uuid,
        kind: MessageKind,
        language: Language,
        rendered: &'a Rendered,
        about: &'a About,
    ) -> NewDelivery<'a> {
        NewDelivery {
            event_id,
            channel: Channel::Email,
            recipient_id: recipient,
            address: "",
            kind: kind.as_str(),
            language: language.as_str(),
            subject: &rendered.subject,
            body_text: &rendered.text,
            body_html: &rendered.html,
            body_sms: Some(&rendered.sms),
            invitation: about.invitation.as_deref(),
            appointment_id: about.appointment_id,
            alert_id: about.alert_id,
            starts_at: about.starts_at,
            hold_expires_at: about.hold_expires_at,
            start: Start::Queued { at: Utc::now() },
        }
    }

    /// Counts one more page in `recipient`'s digest for this minute on `channel`.
    #[allow(clippy::too_many_arguments)]
    async fn add_to_digest(
        &self,
        tx: &mut sqlx::PgConnection,
        recipient: Uuid,
        channel: Channel,
        language: Language,
        address: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let window = chrono::Duration::seconds(self.page_window_secs);
        let minute = now.duration_trunc(window).unwrap_or(now);
        let digest_id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!(
                "episante:digest:{recipient}:{}:{}",
                channel.as_str(),
                minute.timestamp()
            )
            .as_bytes(),
        );
        let link = self.link("/board");
        // `{count}` stays in the text: the dispatcher fills it in when the minute is over.
        let rendered = self.templates.render(
            MessageKind::AlertDigest,
            language,
            &[("name", name), ("link", &link)],
        );
        self.metrics.digested.inc();
        db::deliveries::add_to_digest(
            &mut *tx,
            &NewDelivery {
                channel,
                address,
                start: Start::Queued {
                    at: minute + window,
                },
                ..self.row(
                    digest_id,
                    recipient,
                    MessageKind::AlertDigest,
                    language,
                    &rendered,
                    &About::default(),
                )
            },
        )
        .await
    }
}
