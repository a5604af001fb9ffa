//! `patients`: records (identity is encrypted server-side; this only sends and shows it), with a
//! CSV import that reports every bad row and imports the good ones.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::query;
use crate::context::{exit, rows, CliError, CliResult, Ctx, OutputFormat};

#[derive(Args, Debug, Default)]
pub struct IdentityArgs {
    /// Given names (repeat for several).
    #[arg(long = "given")]
    pub given: Vec<String>,
    #[arg(long = "family")]
    pub family: Option<String>,
    /// YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// female, male, other or unknown.
    #[arg(long)]
    pub sex: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub national_id: Option<String>,
}

impl IdentityArgs {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.given.is_empty() {
            m.insert("given_names".into(), json!(self.given));
        }
        for (k, v) in [
            ("family_name", &self.family),
            ("birth_date", &self.birth_date),
            ("sex", &self.sex),
            ("phone", &self.phone),
            ("email", &self.email),
            ("national_id", &self.national_id),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

#[derive(Subcommand, Debug)]
pub enum PatientsCmd {
    /// List or search the patients you may see.
    #[command(
        after_help = "Examples:\n  episante patients list\n  episante patients list --name \"emilie dupont\"\n  episante patients list --national-id 1850578 -o json"
    )]
    List {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        national_id: Option<String>,
        #[arg(long)]
        archived: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Show a patient.
    #[command(after_help = "Example:\n  episante patients get <id> -o json")]
    Get { id: String },
    /// Create a patient (admin).
    #[command(
        after_help = "Example:\n  episante patients create --given Ada --family Lovelace --birth-date 1985-12-10 --sex female --phone '+44 20 7946 0958'"
    )]
    Create(IdentityArgs),
    /// Change identity fields.
    #[command(
        after_help = "Example:\n  episante patients update 3f2c… --phone '+33 6 12 34 56 78'"
    )]
    Update {
        id: String,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Archive a patient (admin).
    #[command(after_help = "Example:\n  episante patients archive <id>")]
    Archive { id: String },
    /// Import patients from a CSV file; every bad row is reported, good rows are imported.
    #[command(
        after_help = "The header names the columns: given_names (space-separated), family_name, birth_date,\n\
        sex, phone, email, national_id, address_line, city, postal_code, country.\n\n\
        Example:\n  episante patients import ward-3.csv\n  episante patients import ward-3.csv -o json > report.json"
    )]
    Import { file: String },
    /// The patient's medical history.
    #[command(after_help = "Example:\n  episante patients history <id>")]
    History { id: String },
}

const COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("FAMILY", "/identity/family_name"),
    ("GIVEN", "/identity/given_names"),
    ("BORN", "/identity/birth_date"),
    ("SEX", "/identity/sex"),
    ("STATUS", "/status"),
];

pub async fn run(ctx: &mut Ctx, cmd: PatientsCmd) -> CliResult {
    match cmd {
        PatientsCmd::List {
            name,
            national_id,
            archived,
            limit,
            offset,
        } => {
            // Names and national ids go in a POST body, never in the URL (which proxies log).
            let answer = if name.is_some() || national_id.is_some() {
                let body = json!({
                    "name": name,
                    "national_id": national_id,
                    "archived": archived,
                    "limit": limit,
                    "offset": offset,
                });
                ctx.client
                    .call(Method::POST, "/v1/patients/search", Some(&body))
                    .await?
            } else {
                let path = format!(
                    "/v1/patients{}",
                    query(&[
                        ("archived", archived.then(|| "true".to_string())),
                        ("limit", Some(limit.to_string())),
                        ("offset", Some(offset.to_string())),
                    ])
                );
                ctx.client.get(&path).await?
            };
            ctx.list(&answer, &rows(&answer, "patients"), COLUMNS);
        }
        PatientsCmd::Get { id } => {
            let p = ctx.client.get(&format!("/v1/patients/{id}")).await?;
            ctx.one(&p);
        }
        PatientsCmd::Create(identity) => {
            let p = ctx
                .client
                .call(Method::POST, "/v1/patients", Some(&identity.to_json()))
                .await?;
            ctx.one(&p);
        }
        PatientsCmd::Update { id, identity } => {
            let p = ctx
                .client
                .call(
                    Method::PATCH,
                    &format!("/v1/patients/{id}"),
                    Some(&identity.to_json()),
                )
                .await?;
            ctx.one(&p);
        }
        PatientsCmd::Archive { id } => {
            let p = ctx
                .client
                .call(Method::POST, &format!("/v1/patients/{id}/archive"), None)
                .await?;
            ctx.one(&p);
        }
        PatientsCmd::History { id } => {
            let answer = ctx
                .client
                .get(&format!("/v1/patients/{id}/history"))
                .await?;
            ctx.list(
                &answer,
                &rows(&answer, "items"),
                &[
                    ("RECORDED", "/recorded_at"),
                    ("KIND", "/kind"),
                    ("TEXT", "/text"),
                    ("ONSET", "/onset"),
                ],
            );
        }
        PatientsCmd::Import { file } => import(ctx, &file).await?,
    }
    Ok(())
}

/// One CSV row as a create-patient body.
fn row_body(headers: &csv::StringRecord, record: &csv::StringRecord) -> Result<Value, String> {
    let get = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .and_then(|i| record.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let mut body = Map::new();
    let given: Vec<&str> = get("given_names")
        .map(|g| g.split_whitespace().collect())
        .unwrap_or_default();
    body.insert("given_names".into(), json!(given));
    for (field, required) in [
        ("family_name", true),
        ("birth_date", true),
        ("sex", true),
        ("phone", false),
        ("email", false),
        ("national_id", false),
    ] {
        match get(field) {
            Some(v) => {
                body.insert(field.into(), json!(v));
            }
            None if required => return Err(format!("{field} is missing")),
            None => {}
        }
    }
    if let Some(line) = get("address_line") {
        body.insert(
            "address".into(),
            json!({
                "lines": [line],
                "city": get("city").unwrap_or_default(),
                "postal_code": get("postal_code").unwrap_or_default(),
                "country": get("country").unwrap_or_default(),
            }),
        );
    }
    Ok(Value::Object(body))
}

async fn import(ctx: &mut Ctx, file: &str) -> CliResult {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(file)
        .map_err(|e| CliError::failed(format!("{file}: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| CliError::failed(format!("{file}: {e}")))?
        .clone();
    if !headers.iter().any(|h| h.trim() == "family_name") {
        return Err(CliError::failed(format!(
            "{file}: no family_name column (see `episante patients import --help`)"
        )));
    }
    let records: Vec<_> = reader.records().collect();
    let total = records.len();
    let (mut imported, mut failed) = (Vec::new(), Vec::new());
    for (i, record) in records.into_iter().enumerate() {
        // Line numbers as an editor shows them: the header is line 1.
        let line = i + 2;
        let outcome = match record {
            Err(e) => Err(e.to_string()),
            Ok(record) => match row_body(&headers, &record) {
                Err(e) => Err(e),
                Ok(body) => match ctx
                    .client
                    .call(Method::POST, "/v1/patients", Some(&body))
                    .await
                {
                    Ok(p) => Ok(p["id"].clone()),
                    Err(episante_client::ClientError::Api { detail, .. }) => Err(detail),
                    Err(e) => return Err(e.into()),
                },
            },
        };
        match outcome {
            Ok(id) => imported.push(json!({"line": line, "id": id})),
            Err(error) => failed.push(json!({"line": line, "error": error})),
        }
        if !ctx.quiet && ctx.output == OutputFormat::Table {
            eprint!("\rimporting {}/{total}  ({} failed)", i + 1, failed.len());
        }
    }
    if !ctx.quiet && ctx.output == OutputFormat::Table {
        eprintln!();
    }
    let report = json!({"file": file, "rows": total, "imported": imported, "failed": failed});
    match ctx.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        OutputFormat::Table => {
            for f in &failed {
                eprintln!(
                    "{file}:{}: {}",
                    f["line"],
                    f["error"].as_str().unwrap_or_default()
                );
            }
            println!(
                "imported {} of {total} rows; {} failed",
                imported.len(),
                failed.len()
            );
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError {
            message: format!("{} of {total} rows were not imported", failed.len()),
            code: exit::ERROR,
        })
    }
}
