//! Security notices (`auth.security.v1`) → a message to the person: their password was changed,
//! or their account was signed in to from a new address. Urgent (never held by quiet hours):
//! they matter most when it was not the person.

use chrono_tz::Tz;
use episante_protocol::{SecurityNotice, SecurityNoticeKind};

use crate::compose::{About, Composer, Stop};
use crate::domain::message::MessageKind;
use crate::domain::when::describe;

/// Handles one notice; true when a message was written.
pub async fn handle(composer: &Composer, notice: &SecurityNotice) -> Result<bool, Stop> {
    let kind = match notice.kind {
        SecurityNoticeKind::PasswordChanged => MessageKind::PasswordChanged,
        SecurityNoticeKind::NewSignIn => MessageKind::NewSignIn,
    };
    let link = composer.link("/");
    let address = notice.address.clone().unwrap_or_else(|| "?".into());
    composer
        .write(
            notice.event_id,
            notice.user_id,
            kind,
            &About::default(),
            |language| {
                vec![
                    // The person's zone is not known here: UTC, said as such.
                    ("when", describe(notice.at, Tz::UTC, language)),
                    ("address", address.clone()),
                    ("link", link.clone()),
                ]
            },
        )
        .await
}
