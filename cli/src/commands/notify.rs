//! `notify`: what each person receives and how (preferences), and the delivery log. Admins act on
//! anyone's preferences with `--user` (e.g. putting a clinician on call); everyone else on their
//! own. Every rule (E.164 phones, on-call staff cannot turn pages off…) is the service's: a
//! refusal is printed as the service words it, with the field, and exits non-zero.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use super::query;
use crate::context::{rows, CliError, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum NotifyCmd {
    /// Show or change notification preferences.
    #[command(
        subcommand,
        after_help = "Examples:\n  episante notify prefs show\n  episante notify prefs set --quiet-hours 22:00-07:00 --zone Europe/Paris"
    )]
    Prefs(PrefsCmd),
    /// The delivery log: every message and its state (admins: everyone's; others: their own).
    #[command(
        after_help = "Examples:\n  episante notify deliveries --status failed\n  episante notify deliveries --recipient <user-id> --channel sms -o json"
    )]
    Deliveries {
        #[arg(long)]
        recipient: Option<String>,
        /// queued, sent, failed, withdrawn or digested.
        #[arg(long)]
        status: Option<String>,
        /// email, sms or portal.
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum PrefsCmd {
    /// Current preferences (the defaults until changed).
    #[command(
        after_help = "Examples:\n  episante notify prefs show\n  episante notify prefs show --user <id> -o json"
    )]
    Show {
        /// Another user's (admins).
        #[arg(long)]
        user: Option<String>,
    },
    /// Change some preferences; the others stay as they are.
    #[command(
        after_help = "Examples:\n  episante notify prefs set --phone +33612345678 --channel reminder_24h=sms,email\n  \
        episante notify prefs set --channel appointment_booked=none --quiet-hours 22:00-07:00 --zone Europe/Paris\n  \
        episante notify prefs set --user <clinician-id> --on-call true\n\n\
        Kinds: appointment_booked, appointment_rescheduled, appointment_cancelled, reminder_24h,\n\
        reminder_1h, slot_offered, alert_page, alert_escalated. Channels: email, sms, portal, none;\n\
        `default` forgets the choice (everything reachable)."
    )]
    Set {
        #[arg(long)]
        user: Option<String>,
        /// E.164 (`+33612345678`); `none` removes it.
        #[arg(long)]
        phone: Option<String>,
        /// `KIND=CHANNEL[,CHANNEL…]`, `KIND=none` or `KIND=default`; repeatable.
        #[arg(long = "channel", value_name = "KIND=CHANNELS")]
        channels: Vec<String>,
        /// `HH:MM-HH:MM` local time during which non-urgent email and SMS wait; `none` clears.
        #[arg(long)]
        quiet_hours: Option<String>,
        /// The quiet hours' zone (IANA), e.g. Europe/Paris; default UTC (or the one set).
        #[arg(long)]
        zone: Option<String>,
        /// On call: paged when a critical alert is escalated to level 2 (clinicians and admins).
        #[arg(long)]
        on_call: Option<bool>,
        /// Where you live (IANA, e.g. America/Martinique): appointment times are also given in
        /// it; `none` clears.
        #[arg(long)]
        time_zone: Option<String>,
    },
}

fn prefs_path(user: &Option<String>) -> String {
    format!(
        "/v1/notifications/preferences/{}",
        user.as_deref().unwrap_or("me")
    )
}

/// `form` with the changes the flags ask for.
fn apply(
    mut form: Value,
    phone: Option<String>,
    channels: &[String],
    quiet: Option<String>,
    zone: Option<String>,
    on_call: Option<bool>,
    time_zone: Option<String>,
) -> CliResult<Value> {
    if let Some(time_zone) = time_zone {
        form["time_zone"] = if time_zone == "none" {
            Value::Null
        } else {
            json!(time_zone)
        };
    }
    if let Some(phone) = phone {
        form["phone"] = if phone == "none" {
            Value::Null
        } else {
            json!(phone)
        };
    }
    for choice in channels {
        let (kind, list) = choice.split_once('=').ok_or_else(|| {
            CliError::usage(format!("--channel {choice:?}: expected KIND=CHANNELS"))
        })?;
        let map = form["channels"]
            .as_object_mut()
            .ok_or_else(|| CliError::failed("the service sent no channels map"))?;
        match list {
            "default" => {
                map.remove(kind);
            }
            "none" => {
                map.insert(kind.to_string(), json!([]));
            }
            list => {
                map.insert(
                    kind.to_string(),
                    json!(list.split(',').map(str::trim).collect::<Vec<_>>()),
                );
            }
        }
    }
    match quiet.as_deref() {
        None => {
            if let Some(zone) = zone {
                if form["quiet_hours"].is_null() {
                    return Err(CliError::usage(
                        "--zone needs --quiet (or quiet hours already set)",
                    ));
                }
                form["quiet_hours"]["time_zone"] = json!(zone);
            }
        }
        Some("none") => form["quiet_hours"] = Value::Null,
        Some(span) => {
            let (start, end) = span.split_once('-').ok_or_else(|| {
                CliError::usage(format!("--quiet-hours {span:?}: expected HH:MM-HH:MM"))
            })?;
            let zone = zone
                .or_else(|| {
                    form["quiet_hours"]["time_zone"]
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "UTC".into());
            form["quiet_hours"] = json!({"start": start, "end": end, "time_zone": zone});
        }
    }
    if let Some(on_call) = on_call {
        form["on_call"] = json!(on_call);
    }
    Ok(form)
}

pub async fn run(ctx: &mut Ctx, cmd: NotifyCmd) -> CliResult {
    match cmd {
        NotifyCmd::Prefs(PrefsCmd::Show { user }) => {
            let prefs = ctx.client.get(&prefs_path(&user)).await?;
            ctx.one(&prefs);
        }
        NotifyCmd::Prefs(PrefsCmd::Set {
            user,
            phone,
            channels,
            quiet_hours,
            zone,
            on_call,
            time_zone,
        }) => {
            if phone.is_none()
                && channels.is_empty()
                && quiet_hours.is_none()
                && zone.is_none()
                && on_call.is_none()
                && time_zone.is_none()
            {
                return Err(CliError::usage(
                    "nothing to change: give --phone, --channel, --quiet-hours, --zone, --on-call or --time-zone",
                ));
            }
            let path = prefs_path(&user);
            let current = ctx.client.get(&path).await?;
            let wanted = apply(
                current,
                phone,
                &channels,
                quiet_hours,
                zone,
                on_call,
                time_zone,
            )?;
            let stored = ctx.client.call(Method::PUT, &path, Some(&wanted)).await?;
            ctx.one(&stored);
        }
        NotifyCmd::Deliveries {
            recipient,
            status,
            channel,
            limit,
        } => {
            let path = format!(
                "/v1/notifications/deliveries{}",
                query(&[
                    ("recipient", recipient),
                    ("status", status),
                    ("channel", channel),
                    ("limit", Some(limit.to_string())),
                ])
            );
            let answer = ctx.client.get(&path).await?;
            ctx.list(
                &answer,
                &rows(&answer, "items"),
                &[
                    ("ID", "/id"),
                    ("AT", "/created_at"),
                    ("KIND", "/kind"),
                    ("CHANNEL", "/channel"),
                    ("TO", "/address"),
                    ("STATUS", "/status"),
                    ("TRIES", "/attempts"),
                    ("WHY", "/last_error"),
                ],
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_change_only_what_they_name() {
        let current = json!({"phone": "+33612345678", "channels": {"reminder_1h": ["email"]},
            "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris"}, "on_call": false});
        let changed = apply(
            current.clone(),
            None,
            &[
                "reminder_24h=sms,email".into(),
                "reminder_1h=default".into(),
                "slot_offered=none".into(),
            ],
            None,
            None,
            Some(true),
            Some("America/Martinique".into()),
        )
        .unwrap();
        assert_eq!(
            changed,
            json!({"phone": "+33612345678", "channels": {"reminder_24h": ["sms", "email"], "slot_offered": []},
                "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris"}, "on_call": true,
                "time_zone": "America/Martinique"})
        );
        let quiet = apply(
            current.clone(),
            Some("none".into()),
            &[],
            Some("12:00-14:00".into()),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(quiet["phone"], Value::Null);
        assert_eq!(
            quiet["quiet_hours"],
            json!({"start": "12:00", "end": "14:00", "time_zone": "Europe/Paris"})
        );
        assert!(apply(
            current.clone(),
            None,
            &["reminder_1h".into()],
            None,
            None,
            None,
            None
        )
        .is_err());
        assert!(apply(current, None, &[], Some("22h".into()), None, None, None).is_err());
    }
}
