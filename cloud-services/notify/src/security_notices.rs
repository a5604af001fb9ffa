//! Security notices (`auth.security.v1`) → a message to the person: their password was changed,
//! or their account was signed in to from a new address. Urgent (never held by quiet hours):
//! they matter most when it was not the person.

use chrono_tz::Tz;
use episante_protocol::{SecurityNotice, SecurityNoticeKind};

use crate::compose::{About, Composer, Stop};
use crate::domain::message::MessageKind;
use crate::domain::when::describe;

/// Handles one notice in the consumer's transaction `tx`; the kind of message written, if one
/// was.
pub async fn write(
    composer: &Composer,
    tx: &mut sqlx::PgConnection,
    notice: &SecurityNotice,
) -> Result<Option<MessageKind>, Stop> {
    let kind = match notice.kind {
        SecurityNoticeKind::PasswordChanged => MessageKind::PasswordChanged,
        SecurityNoticeKind::NewSignIn => MessageKind::NewSignIn,
    };
    let link = composer.link("/");
    let address = notice.address.clone().unwrap_or_else(|| "?".into());
    let written = composer
        .write(
            tx,
            notice.event_id,
            notice.user_id,
            kind,
            &About::default(),
            |language, theirs| {
                vec![
                    // In the person's zone if they gave it, else UTC; named either way.
                    (
                        "when",
                        describe(notice.at, theirs.unwrap_or(Tz::UTC), language),
                    ),
                    ("address", address.clone()),
                    ("link", link.clone()),
                ]
            },
        )
        .await?;
    Ok(written.then_some(kind))
}
