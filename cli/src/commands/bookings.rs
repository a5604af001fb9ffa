//! `practitioners`, `appointment-types`, `slots`, `appointments`, `waitlist`: the bookings service.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use super::{query, read_json};
use crate::context::{rows, CliResult, Ctx};

#[derive(Subcommand, Debug)]
pub enum PractitionersCmd {
    /// List practitioners.
    #[command(
        after_help = "Example:\n  episante practitioners list --specialty cardiology --language fr"
    )]
    List {
        #[arg(long)]
        specialty: Option<String>,
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        language: Option<String>,
    },
    /// Show a practitioner.
    #[command(after_help = "Example:\n  episante practitioners get <id>")]
    Get { id: String },
    /// Create a practitioner profile for a clinician user (admin).
    #[command(
        after_help = "Example:\n  episante practitioners create --user <clinician-id> --name \"Dr Martin\" --specialty cardiology \\\n    --location Paris --language fr --language en --time-zone Europe/Paris"
    )]
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        specialty: String,
        #[arg(long)]
        location: String,
        #[arg(long = "language")]
        languages: Vec<String>,
        #[arg(long)]
        time_zone: String,
    },
    /// Show a practitioner's weekly availability and exceptions.
    #[command(after_help = "Example:\n  episante practitioners availability <id> -o json")]
    Availability { id: String },
    /// Replace a practitioner's availability from a JSON file (`-` for stdin).
    #[command(
        after_help = "File format:\n  {\"weekly\": [{\"weekday\": \"mon\", \"start\": \"09:00\", \"end\": \"12:30\"}],\n   \"exceptions\": [{\"start_date\": \"2026-12-24\", \"end_date\": \"2026-12-26\", \"reason\": \"holidays\"}]}\n\n\
        Example:\n  episante practitioners set-availability <id> --file week.json"
    )]
    SetAvailability {
        id: String,
        #[arg(long)]
        file: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TypesCmd {
    /// List appointment types.
    #[command(after_help = "Example:\n  episante appointment-types list")]
    List,
    /// Create an appointment type (admin).
    #[command(
        after_help = "Example:\n  episante appointment-types create --name \"Follow-up\" --minutes 20"
    )]
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        minutes: i32,
    },
}

#[derive(Subcommand, Debug)]
pub enum SlotsCmd {
    /// Free slots of an appointment type over a date range.
    #[command(
        after_help = "Example:\n  episante slots search --type <type-id> --from 2026-12-01 --to 2026-12-07 --specialty cardiology"
    )]
    Search {
        #[arg(long = "type")]
        appointment_type: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        specialty: Option<String>,
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        practitioner: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum AppointmentsCmd {
    /// Your appointments (patients), your agenda (practitioners), or all (admins).
    #[command(after_help = "Example:\n  episante appointments list --status booked")]
    List {
        #[arg(long)]
        practitioner: Option<String>,
        #[arg(long)]
        patient: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Show an appointment.
    #[command(after_help = "Example:\n  episante appointments get <id>")]
    Get { id: String },
    /// Book a slot; retries with the same --idempotency-key never book twice.
    #[command(
        after_help = "Example:\n  episante appointments book --practitioner <id> --type <type-id> --at 2026-12-02T09:00:00Z --idempotency-key $(uuidgen)"
    )]
    Book {
        #[arg(long)]
        practitioner: String,
        #[arg(long = "type")]
        appointment_type: String,
        /// Start (RFC 3339).
        #[arg(long)]
        at: String,
        /// For another patient (admins).
        #[arg(long)]
        patient: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Cancel an appointment; the patient is told (by email, SMS or the portal), with the reason.
    #[command(
        after_help = "Examples:\n  episante appointments cancel <id>\n  episante appointments cancel <id> --reason \"Dr Martin is ill; please book again\""
    )]
    Cancel {
        id: String,
        /// Up to 500 characters, told to the patient.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Move an appointment to another start time.
    #[command(
        after_help = "Example:\n  episante appointments reschedule <id> --at 2026-12-03T14:00:00Z"
    )]
    Reschedule {
        id: String,
        #[arg(long)]
        at: String,
    },
    /// Mark the patient arrived (practitioner).
    #[command(after_help = "Example:\n  episante appointments arrived <id>")]
    Arrived { id: String },
    /// Mark a no-show (practitioner).
    #[command(after_help = "Example:\n  episante appointments noshow <id>")]
    Noshow { id: String },
    /// Mark fulfilled (practitioner).
    #[command(after_help = "Example:\n  episante appointments fulfilled <id>")]
    Fulfilled { id: String },
}

#[derive(Subcommand, Debug)]
pub enum WaitlistCmd {
    /// Waitlist entries.
    #[command(after_help = "Example:\n  episante waitlist list")]
    List,
    /// Join the waitlist of a practitioner for a date range.
    #[command(
        after_help = "Example:\n  episante waitlist join --practitioner <id> --from 2026-12-01 --to 2026-12-15"
    )]
    Join {
        #[arg(long)]
        practitioner: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        patient: Option<String>,
    },
    /// Leave the waitlist.
    #[command(after_help = "Example:\n  episante waitlist leave <entry-id>")]
    Leave { id: String },
}

const APPOINTMENT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("STARTS", "/starts_at"),
    ("ENDS", "/ends_at"),
    ("SPECIALTY", "/specialty"),
    ("PRACTITIONER", "/practitioner_id"),
    ("PATIENT", "/patient_id"),
    ("STATUS", "/status"),
];

async fn show(ctx: &mut Ctx, method: Method, path: &str, body: Option<Value>) -> CliResult {
    let answer = ctx.client.call(method, path, body.as_ref()).await?;
    if answer.is_null() {
        ctx.note("done");
    } else {
        ctx.one(&answer);
    }
    Ok(())
}

pub async fn practitioners(ctx: &mut Ctx, cmd: PractitionersCmd) -> CliResult {
    match cmd {
        PractitionersCmd::List {
            specialty,
            location,
            language,
        } => {
            let answer = ctx
                .client
                .get(&format!(
                    "/v1/practitioners{}",
                    query(&[
                        ("specialty", specialty),
                        ("location", location),
                        ("language", language)
                    ])
                ))
                .await?;
            ctx.list(
                &answer,
                &rows(&answer, "items"),
                &[
                    ("ID", "/id"),
                    ("NAME", "/display_name"),
                    ("SPECIALTY", "/specialty"),
                    ("LOCATION", "/location"),
                    ("LANGUAGES", "/languages"),
                    ("TIME ZONE", "/time_zone"),
                ],
            );
            Ok(())
        }
        PractitionersCmd::Get { id } => {
            show(ctx, Method::GET, &format!("/v1/practitioners/{id}"), None).await
        }
        PractitionersCmd::Create {
            user,
            name,
            specialty,
            location,
            languages,
            time_zone,
        } => {
            let body = json!({"user_id": user, "display_name": name, "specialty": specialty,
                "location": location, "languages": languages, "time_zone": time_zone});
            show(ctx, Method::POST, "/v1/practitioners", Some(body)).await
        }
        PractitionersCmd::Availability { id } => {
            show(
                ctx,
                Method::GET,
                &format!("/v1/practitioners/{id}/availability"),
                None,
            )
            .await
        }
        PractitionersCmd::SetAvailability { id, file } => {
            let body = read_json(&file)?;
            show(
                ctx,
                Method::PUT,
                &format!("/v1/practitioners/{id}/availability"),
                Some(body),
            )
            .await
        }
    }
}

pub async fn types(ctx: &mut Ctx, cmd: TypesCmd) -> CliResult {
    match cmd {
        TypesCmd::List => {
            let answer = ctx.client.get("/v1/appointment-types").await?;
            ctx.list(
                &answer,
                &rows(&answer, "items"),
                &[
                    ("ID", "/id"),
                    ("NAME", "/name"),
                    ("MINUTES", "/duration_minutes"),
                ],
            );
            Ok(())
        }
        TypesCmd::Create { name, minutes } => {
            show(
                ctx,
                Method::POST,
                "/v1/appointment-types",
                Some(json!({"name": name, "duration_minutes": minutes})),
            )
            .await
        }
    }
}

pub async fn slots(ctx: &mut Ctx, cmd: SlotsCmd) -> CliResult {
    let SlotsCmd::Search {
        appointment_type,
        from,
        to,
        specialty,
        location,
        practitioner,
        limit,
    } = cmd;
    let answer = ctx
        .client
        .get(&format!(
            "/v1/slots{}",
            query(&[
                ("appointment_type_id", Some(appointment_type)),
                ("from", Some(from)),
                ("to", Some(to)),
                ("specialty", specialty),
                ("location", location),
                ("practitioner_id", practitioner),
                ("limit", Some(limit.to_string())),
            ])
        ))
        .await?;
    ctx.list(
        &answer,
        &rows(&answer, "items"),
        &[
            ("STARTS", "/starts_at"),
            ("LOCAL", "/local_start"),
            ("ENDS", "/ends_at"),
            ("PRACTITIONER", "/practitioner_id"),
        ],
    );
    Ok(())
}

pub async fn appointments(ctx: &mut Ctx, cmd: AppointmentsCmd) -> CliResult {
    match cmd {
        AppointmentsCmd::List {
            practitioner,
            patient,
            status,
        } => {
            let answer = ctx
                .client
                .get(&format!(
                    "/v1/appointments{}",
                    query(&[
                        ("practitioner_id", practitioner),
                        ("patient_id", patient),
                        ("status", status)
                    ])
                ))
                .await?;
            ctx.list(&answer, &rows(&answer, "items"), APPOINTMENT_COLUMNS);
            Ok(())
        }
        AppointmentsCmd::Get { id } => {
            show(ctx, Method::GET, &format!("/v1/appointments/{id}"), None).await
        }
        AppointmentsCmd::Book {
            practitioner,
            appointment_type,
            at,
            patient,
            idempotency_key,
        } => {
            let mut body = json!({"practitioner_id": practitioner, "appointment_type_id": appointment_type, "starts_at": at});
            if let Some(p) = patient {
                body["patient_id"] = json!(p);
            }
            let headers: Vec<(&str, String)> = idempotency_key
                .map(|k| vec![("idempotency-key", k)])
                .unwrap_or_default();
            let response = ctx
                .client
                .send(Method::POST, "/v1/appointments", Some(&body), &headers)
                .await?;
            let answer = episante_client::read(response).await?;
            ctx.one(&answer);
            Ok(())
        }
        AppointmentsCmd::Cancel { id, reason } => {
            let body = reason.map(|reason| serde_json::json!({ "reason": reason }));
            show(
                ctx,
                Method::POST,
                &format!("/v1/appointments/{id}/cancel"),
                body,
            )
            .await
        }
        AppointmentsCmd::Reschedule { id, at } => {
            show(
                ctx,
                Method::POST,
                &format!("/v1/appointments/{id}/reschedule"),
                Some(json!({"starts_at": at})),
            )
            .await
        }
        AppointmentsCmd::Arrived { id } => {
            show(
                ctx,
                Method::POST,
                &format!("/v1/appointments/{id}/arrived"),
                None,
            )
            .await
        }
        AppointmentsCmd::Noshow { id } => {
            show(
                ctx,
                Method::POST,
                &format!("/v1/appointments/{id}/noshow"),
                None,
            )
            .await
        }
        AppointmentsCmd::Fulfilled { id } => {
            show(
                ctx,
                Method::POST,
                &format!("/v1/appointments/{id}/fulfilled"),
                None,
            )
            .await
        }
    }
}

pub async fn waitlist(ctx: &mut Ctx, cmd: WaitlistCmd) -> CliResult {
    match cmd {
        WaitlistCmd::List => {
            let answer = ctx.client.get("/v1/waitlist").await?;
            ctx.list(
                &answer,
                &rows(&answer, "items"),
                &[
                    ("ID", "/id"),
                    ("PRACTITIONER", "/practitioner_id"),
                    ("PATIENT", "/patient_id"),
                    ("FROM", "/from_date"),
                    ("TO", "/to_date"),
                    ("STATUS", "/status"),
                ],
            );
            Ok(())
        }
        WaitlistCmd::Join {
            practitioner,
            from,
            to,
            patient,
        } => {
            let mut body =
                json!({"practitioner_id": practitioner, "from_date": from, "to_date": to});
            if let Some(p) = patient {
                body["patient_id"] = json!(p);
            }
            show(ctx, Method::POST, "/v1/waitlist", Some(body)).await
        }
        WaitlistCmd::Leave { id } => {
            show(ctx, Method::DELETE, &format!("/v1/waitlist/{id}"), None).await
        }
    }
}
