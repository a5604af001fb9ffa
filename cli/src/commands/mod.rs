//! The admin commands, one module per resource. Each talks only to the HTTP API (through the
//! gateway), never to a database.

pub mod alerts;
pub mod audit;
pub mod bookings;
pub mod devices;
pub mod mfa;
pub mod notify;
pub mod password;
pub mod patients;
pub mod secrets;
pub mod session;
pub mod teams;
pub mod users;

use crate::context::{CliError, CliResult};
use serde_json::Value;

/// Reads a JSON document from a file (`-` for stdin).
pub fn read_json(path: &str) -> CliResult<Value> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError::failed(format!("{path}: {e}")))?
    };
    serde_json::from_str(&text).map_err(|e| CliError::failed(format!("{path}: not JSON: {e}")))
}

/// Percent-encodes a query value.
pub fn q(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=1&b=2` from the pairs whose value is set.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", q(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}
