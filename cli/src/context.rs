//! What every admin command needs: the API client for the chosen server, the output format, and
//! how to print results and errors the same way everywhere.
//!
//! The server is, in order: `--server`, `EPISANTE_SERVER`, `server` in
//! `$XDG_CONFIG_HOME/episante/config.toml`, the gateway of a running `episante up` on this
//! machine, then `http://127.0.0.1`.

use std::process::ExitCode;

use clap::ValueEnum;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use episante_client::{ApiClient, ClientError, SessionStore};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// The API's JSON, unchanged (stable: see the services' OpenAPI documents).
    Json,
}

/// Documented exit codes (0 is success).
pub mod exit {
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const AUTH_REQUIRED: u8 = 4;
}

/// An error with its exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: exit::USAGE,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: exit::ERROR,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let code = match e.status().map(|s| s.as_u16()) {
            Some(401) => exit::AUTH_REQUIRED,
            Some(404) => exit::NOT_FOUND,
            _ => exit::ERROR,
        };
        CliError {
            message: e.to_string(),
            code,
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::failed(format!("{e:#}"))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::failed(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

#[derive(Debug, Default, serde::Deserialize)]
struct FileConfig {
    server: Option<String>,
    output: Option<OutputFormat>,
}

pub struct Ctx {
    pub client: ApiClient,
    pub output: OutputFormat,
    pub quiet: bool,
}

/// The server and output format from flags, environment, config file and `episante up`.
pub fn resolve(
    server: Option<String>,
    output: Option<OutputFormat>,
    quiet: bool,
) -> CliResult<Ctx> {
    let store = SessionStore::default_location();
    let dir = store
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let file: FileConfig = std::fs::read_to_string(dir.join("config.toml"))
        .ok()
        .map(|text| {
            figment::Figment::from(
                <figment::providers::Toml as figment::providers::Format>::string(&text),
            )
            .extract()
            .map_err(|e| CliError::usage(format!("{}: {e}", dir.join("config.toml").display())))
        })
        .transpose()?
        .unwrap_or_default();
    let server = episante_client::find_server(server, file.server);
    Ok(Ctx {
        client: ApiClient::new(&server, store)?,
        output: output.or(file.output).unwrap_or(OutputFormat::Table),
        quiet,
    })
}

/// A column: header and JSON pointer into each row.
pub type Column<'a> = (&'a str, &'a str);

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

impl Ctx {
    /// Prints a list: JSON as is, or a table of `columns` over `rows`.
    pub fn list(&self, raw: &Value, rows: &[Value], columns: &[Column]) {
        match self.output {
            OutputFormat::Json => {
                println!("{}", serde_json::to_string_pretty(raw).unwrap_or_default())
            }
            OutputFormat::Table => {
                if rows.is_empty() {
                    if !self.quiet {
                        eprintln!("(nothing)");
                    }
                    return;
                }
                let mut table = Table::new();
                table.load_preset(UTF8_BORDERS_ONLY);
                table.set_header(columns.iter().map(|(h, _)| *h));
                for row in rows {
                    table.add_row(
                        columns
                            .iter()
                            .map(|(_, p)| cell(row.pointer(p).unwrap_or(&Value::Null))),
                    );
                }
                println!("{table}");
            }
        }
    }

    /// Prints one object: JSON as is, or `field  value` lines of its top level.
    pub fn one(&self, value: &Value) {
        match self.output {
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            ),
            OutputFormat::Table => match value.as_object() {
                Some(map) => {
                    let width = map.keys().map(String::len).max().unwrap_or(0);
                    for (k, v) in map {
                        let text = match v {
                            Value::Object(_) => v.to_string(),
                            _ => cell(v),
                        };
                        println!("{k:<width$}  {text}");
                    }
                }
                None => println!("{}", cell(value)),
            },
        }
    }

    /// A confirmation line (not in JSON mode, not with `--quiet`).
    pub fn note(&self, message: impl AsRef<str>) {
        if !self.quiet && self.output == OutputFormat::Table {
            eprintln!("{}", message.as_ref());
        }
    }
}

/// The rows of a paginated answer, whatever its list field is called.
pub fn rows(answer: &Value, field: &str) -> Vec<Value> {
    answer[field]
        .as_array()
        .or(answer.as_array())
        .cloned()
        .unwrap_or_default()
}
