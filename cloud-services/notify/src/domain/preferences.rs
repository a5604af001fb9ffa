//! What each person wants to receive, and how: channels per message kind, a phone number for
//! SMS, quiet hours, and whether they are on call. Parsed once where it enters
//! ([`Preferences::parse`], every refusal naming its field) and typed from there on.
//!
//! | rule                                                   | why                                   |
//! |--------------------------------------------------------|---------------------------------------|
//! | a kind not chosen goes to email, SMS (if a phone) and the portal | nothing is missed by default |
//! | `[]` for a kind: nothing for it (the portal keeps nothing either) | the person chose so          |
//! | on call: alert pages cannot be `[]`                     | an on-call page must reach someone    |
//! | only clinicians and admins can be on call              | patients are never paged              |
//! | phones are E.164 (`+33612345678`)                      | what SMS providers accept             |
//! | quiet hours hold email and SMS that are not urgent until they end; urgent kinds (`MessageKind::is_urgent`) and the portal are never held | a page at 3 am is the point; a reminder is not |

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::address::PhoneNumber;
use super::message::MessageKind;

/// A way a message reaches a person.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    /// The portal's bell.
    Portal,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Portal];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Portal => "portal",
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown channel {s:?} (email, sms or portal)"))
    }
}

/// Hours during which non-urgent email and SMS wait, in the person's zone. `start` > `end` spans
/// midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub zone: Tz,
}

impl QuietHours {
    /// When a non-urgent message written at `now` may go out: `None` now, else the end of the
    /// quiet hours it falls in.
    pub fn release_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.zone);
        let time = local.time();
        let quiet = if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !quiet {
            return None;
        }
        let end_day = if time >= self.end {
            local.date_naive().checked_add_days(Days::new(1))?
        } else {
            local.date_naive()
        };
        // A zone's gap (spring forward) at `end`: the first instant after it.
        let end = end_day.and_time(self.end);
        let released = self.zone.from_local_datetime(&end).earliest().or_else(|| {
            self.zone
                .from_local_datetime(&(end + chrono::Duration::hours(1)))
                .earliest()
        })?;
        Some(released.with_timezone(&Utc))
    }
}

/// One person's preferences, valid.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Preferences {
    pub phone: Option<PhoneNumber>,
    /// Kinds the person chose channels for; the others go everywhere (see the table).
    pub channels: BTreeMap<MessageKind, Vec<Channel>>,
    pub quiet_hours: Option<QuietHours>,
    pub on_call: bool,
    /// Where the person lives: times are written in it too when it differs from the practice's.
    pub time_zone: Option<Tz>,
}

/// Preferences as written by a person (the HTTP body, the CLI), before they are checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesForm {
    /// E.164, e.g. `+33612345678`; null for none.
    #[serde(default)]
    pub phone: Option<String>,
    /// Message kind → channels (`email`, `sms`, `portal`); `[]` turns a kind off.
    #[serde(default)]
    pub channels: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursForm>,
    #[serde(default)]
    pub on_call: bool,
    /// IANA zone the person lives in, e.g. `America/Martinique`; null: the practice's.
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursForm {
    /// `HH:MM`, local.
    pub start: String,
    /// `HH:MM`, local.
    pub end: String,
    /// IANA zone, e.g. `Europe/Paris`.
    pub time_zone: String,
}

/// A refused preference: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PreferenceError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> PreferenceError {
    PreferenceError {
        field: field.into(),
        message: message.into(),
    }
}

fn parse_time(field: &str, s: &str) -> Result<NaiveTime, PreferenceError> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| refuse(field, "expected HH:MM (24 h)"))
}

impl Preferences {
    /// Checks `form` for a person who may (`may_be_on_call`: clinicians and admins) or may not
    /// be on call.
    pub fn parse(form: &PreferencesForm, may_be_on_call: bool) -> Result<Self, PreferenceError> {
        let phone = match form.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(PhoneNumber::parse(p).map_err(|e| refuse("phone", e))?),
        };
        let mut channels = BTreeMap::new();
        for (kind, chosen) in &form.channels {
            let field = format!("channels.{kind}");
            let kind: MessageKind = kind.parse().map_err(|e: String| refuse(&field, e))?;
            if kind.preference_key() != kind {
                return Err(refuse(
                    &field,
                    format!("follows {}", kind.preference_key().as_str()),
                ));
            }
            let mut list = chosen
                .iter()
                .map(|c| c.parse::<Channel>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| refuse(&field, e))?;
            list.sort();
            list.dedup();
            if list.contains(&Channel::Sms) && phone.is_none() {
                return Err(refuse(&field, "SMS needs a phone number"));
            }
            channels.insert(kind, list);
        }
        let quiet_hours = match &form.quiet_hours {
            None => None,
            Some(q) => {
                let start = parse_time("quiet_hours.start", &q.start)?;
                let end = parse_time("quiet_hours.end", &q.end)?;
                if start == end {
                    return Err(refuse("quiet_hours.end", "must differ from start"));
                }
                let zone = q
                    .time_zone
                    .parse::<Tz>()
                    .map_err(|_| refuse("quiet_hours.time_zone", "not an IANA time zone"))?;
                Some(QuietHours { start, end, zone })
            }
        };
        if form.on_call {
            if !may_be_on_call {
                return Err(refuse(
                    "on_call",
                    "only clinicians and admins can be on call",
                ));
            }
            for kind in MessageKind::ALL.into_iter().filter(|k| k.is_page()) {
                if channels.get(&kind).is_some_and(Vec::is_empty) {
                    return Err(refuse(
                        format!("channels.{}", kind.as_str()),
                        "alert pages cannot be turned off while on call",
                    ));
                }
            }
        }
        let time_zone = match form.time_zone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(z) => Some(
                z.parse::<Tz>()
                    .map_err(|_| refuse("time_zone", "not an IANA time zone"))?,
            ),
        };
        Ok(Preferences {
            phone,
            channels,
            quiet_hours,
            on_call: form.on_call,
            time_zone,
        })
    }

    /// The form these preferences read back as.
    pub fn to_form(&self) -> PreferencesForm {
        PreferencesForm {
            phone: self.phone.as_ref().map(ToString::to_string),
            channels: self
                .channels
                .iter()
                .map(|(k, list)| {
                    (
                        k.as_str().to_string(),
                        list.iter().map(|c| c.as_str().to_string()).collect(),
                    )
                })
                .collect(),
            quiet_hours: self.quiet_hours.map(|q| QuietHoursForm {
                start: q.start.format("%H:%M").to_string(),
                end: q.end.format("%H:%M").to_string(),
                time_zone: q.zone.name().to_string(),
            }),
            on_call: self.on_call,
            time_zone: self.time_zone.map(|z| z.name().to_string()),
        }
    }

    /// The channels a message of `kind` goes to: chosen, else all; SMS only with a phone.
    pub fn channels_for(&self, kind: MessageKind) -> Vec<Channel> {
        let chosen = self
            .channels
            .get(&kind.preference_key())
            .cloned()
            .unwrap_or_else(|| Channel::ALL.to_vec());
        chosen
            .into_iter()
            .filter(|c| *c != Channel::Sms || self.phone.is_some())
            .collect()
    }

    /// When a message of `kind` on `channel`, written at `now`, may go out (see the table).
    pub fn send_after(
        &self,
        kind: MessageKind,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if kind.is_urgent() || channel == Channel::Portal {
            return None;
        }
        self.quiet_hours.and_then(|q| q.release_at(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(json: serde_json::Value) -> PreferencesForm {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn refusals_name_their_field() {
        // (form, may be on call, refused field)
        let table = [
            (serde_json::json!({"phone": "0612345678"}), true, "phone"),
            (
                serde_json::json!({"channels": {"nope": []}}),
                true,
                "channels.nope",
            ),
            (
                serde_json::json!({"channels": {"reminder_1h": ["fax"]}}),
                true,
                "channels.reminder_1h",
            ),
            (
                serde_json::json!({"channels": {"reminder_1h": ["sms"]}}),
                true,
                "channels.reminder_1h",
            ),
            (
                serde_json::json!({"quiet_hours": {"start": "25:00", "end": "07:00", "time_zone": "UTC"}}),
                true,
                "quiet_hours.start",
            ),
            (
                serde_json::json!({"quiet_hours": {"start": "07:00", "end": "07:00", "time_zone": "UTC"}}),
                true,
                "quiet_hours.end",
            ),
            (
                serde_json::json!({"quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Mars/Olympus"}}),
                true,
                "quiet_hours.time_zone",
            ),
            (serde_json::json!({"on_call": true}), false, "on_call"),
            (
                serde_json::json!({"time_zone": "Europe/Lutece"}),
                false,
                "time_zone",
            ),
            (
                serde_json::json!({"on_call": true, "channels": {"alert_page": []}}),
                true,
                "channels.alert_page",
            ),
            (
                serde_json::json!({"on_call": true, "channels": {"alert_escalated": []}}),
                true,
                "channels.alert_escalated",
            ),
        ];
        for (json, on_call_ok, field) in table {
            let refused = Preferences::parse(&form(json.clone()), on_call_ok).unwrap_err();
            assert_eq!(refused.field, field, "{json}");
        }
        // Unknown fields are refused by the form itself.
        assert!(
            serde_json::from_value::<PreferencesForm>(serde_json::json!({"pager": 1})).is_err()
        );
    }

    #[test]
    fn channels_default_to_everything_reachable_and_round_trip() {
        let none = Preferences::default();
        assert_eq!(
            none.channels_for(MessageKind::Reminder24h),
            vec![Channel::Email, Channel::Portal]
        );
        let json = serde_json::json!({
            "phone": "+33612345678",
            "channels": {"reminder_24h": ["sms", "email", "sms"], "appointment_booked": []},
            "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris"},
            "on_call": true,
            "time_zone": "America/Martinique"
        });
        let prefs = Preferences::parse(&form(json), true).unwrap();
        assert_eq!(
            prefs.channels_for(MessageKind::Reminder24h),
            vec![Channel::Email, Channel::Sms]
        );
        assert!(prefs
            .channels_for(MessageKind::AppointmentBooked)
            .is_empty());
        assert_eq!(
            prefs.channels_for(MessageKind::AlertPage),
            Channel::ALL.to_vec()
        );
        assert_eq!(Preferences::parse(&prefs.to_form(), true).unwrap(), prefs);
    }

    #[test]
    fn quiet_hours_hold_only_what_can_wait() {
        let q = QuietHours {
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            zone: chrono_tz::Europe::Paris,
        };
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // (now, released at) — Paris is UTC+1 in January.
        let table = [
            ("2027-01-10T12:00:00Z", None),
            ("2027-01-10T20:59:59Z", None),
            ("2027-01-10T21:00:00Z", Some(at("2027-01-11T06:00:00Z"))),
            ("2027-01-10T23:30:00Z", Some(at("2027-01-11T06:00:00Z"))),
            ("2027-01-11T05:59:00Z", Some(at("2027-01-11T06:00:00Z"))),
            ("2027-01-11T06:00:00Z", None),
        ];
        for (now, expected) in table {
            assert_eq!(q.release_at(at(now)), expected, "{now}");
        }
        let day = QuietHours {
            start: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
            zone: chrono_tz::UTC,
        };
        assert_eq!(
            day.release_at(at("2027-01-10T13:00:00Z")),
            Some(at("2027-01-10T14:00:00Z"))
        );
        assert_eq!(day.release_at(at("2027-01-10T14:00:00Z")), None);

        let prefs = Preferences {
            quiet_hours: Some(q),
            ..Preferences::default()
        };
        let night = at("2027-01-10T23:30:00Z");
        assert!(prefs
            .send_after(MessageKind::Reminder24h, Channel::Email, night)
            .is_some());
        assert!(prefs
            .send_after(MessageKind::Reminder24h, Channel::Portal, night)
            .is_none());
        assert!(prefs
            .send_after(MessageKind::AlertPage, Channel::Sms, night)
            .is_none());
    }
}
