//! Sensor input: line-delimited JSON on stdin or on a Unix socket, or a built-in simulated sensor.
//!
//! One line per measurement: `{"kind":"heart_rate","value":72.5,"ts_ms":1764000000000}`
//! (`ts_ms` optional: now). Lines are parsed and range-checked here, at the edge; a bad line is
//! answered (on the socket) with an error line, counted, and never buffered — so it can never
//! become a poison batch the broker would dead-letter.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use episante_protocol::{Reading, VitalKind};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SensorLine {
    kind: VitalKind,
    value: f64,
    ts_ms: Option<i64>,
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Parses one input line into a reading (seq assigned later, by the buffer).
pub fn parse_line(line: &str) -> Result<Reading, String> {
    let input: SensorLine =
        serde_json::from_str(line).map_err(|e| format!("not a sensor line: {e}"))?;
    let (lo, hi) = input.kind.plausible_range();
    if !input.value.is_finite() || input.value < lo || input.value > hi {
        return Err(format!(
            "{:?} value {} outside {lo}..{hi}",
            input.kind, input.value
        ));
    }
    Ok(Reading {
        seq: 0,
        ts_ms: input.ts_ms.unwrap_or_else(now_ms),
        kind: input.kind,
        value: input.value,
        unit: input.kind.unit().to_string(),
    })
}

/// Counts input lines refused.
#[derive(Default)]
pub struct InputCounters {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
}

/// Parses and counts one input line; `None` for a blank line.
fn accept(line: &str, counters: &InputCounters) -> Option<Result<Reading, String>> {
    if line.trim().is_empty() {
        return None;
    }
    let result = parse_line(line);
    match &result {
        Ok(_) => counters.accepted.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            tracing::warn!(error = %e, "sensor line refused");
            counters.rejected.fetch_add(1, Ordering::Relaxed)
        }
    };
    Some(result)
}

async fn forward_lines<R: tokio::io::AsyncRead + Unpin, W: tokio::io::AsyncWrite + Unpin>(
    reader: R,
    mut replies: W,
    tx: mpsc::Sender<Reading>,
    counters: Arc<InputCounters>,
) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reading = match accept(&line, &counters) {
            None => continue,
            Some(Ok(reading)) => reading,
            Some(Err(e)) => {
                let reply = format!("{{\"error\":{}}}\n", serde_json::json!(e));
                let _ = replies.write_all(reply.as_bytes()).await;
                continue;
            }
        };
        if tx.send(reading).await.is_err() {
            return;
        }
    }
}

/// Reads sensor lines from stdin (on a blocking thread: stdin is not async).
pub async fn read_stdin(tx: mpsc::Sender<Reading>, counters: Arc<InputCounters>) {
    let _ = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if let Some(Ok(reading)) = accept(&line, &counters) {
                if tx.blocking_send(reading).is_err() {
                    return;
                }
            }
        }
    })
    .await;
}

/// Accepts sensor connections on a Unix socket (replacing a stale socket file).
pub async fn serve_unix(
    path: &Path,
    tx: mpsc::Sender<Reading>,
    counters: Arc<InputCounters>,
) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)?;
    tracing::info!(socket = %path.display(), "sensor input listening");
    loop {
        let (stream, _) = listener.accept().await?;
        let (reader, writer) = stream.into_split();
        tokio::spawn(forward_lines(reader, writer, tx.clone(), counters.clone()));
    }
}

/// A demo sensor: every `interval`, one reading of each vital, random-walking around normal.
pub async fn simulate(tx: mpsc::Sender<Reading>, interval: Duration, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut values = [72.0, 97.5, 36.8, 15.0, 120.0, 78.0];
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        for (i, kind) in VitalKind::ALL.iter().enumerate() {
            let normal = [72.0, 97.5, 36.8, 15.0, 120.0, 78.0][i];
            let step = [1.5, 0.3, 0.05, 0.5, 2.0, 1.5][i];
            values[i] += rng.gen_range(-step..step) + (normal - values[i]) * 0.05;
            let (lo, hi) = kind.plausible_range();
            let reading = Reading {
                seq: 0,
                ts_ms: now_ms(),
                kind: *kind,
                value: (values[i] * 10.0_f64).round().clamp(lo * 10.0, hi * 10.0) / 10.0,
                unit: kind.unit().to_string(),
            };
            if tx.send(reading).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed_and_checked() {
        let r = parse_line(r#"{"kind":"spo2","value":97,"ts_ms":1764000000000}"#).unwrap();
        assert_eq!(
            (r.kind, r.value, r.unit.as_str()),
            (VitalKind::Spo2, 97.0, "%")
        );
        assert!(parse_line(r#"{"kind":"spo2","value":130}"#).is_err());
        assert!(parse_line(r#"{"kind":"mood","value":3}"#).is_err());
        assert!(parse_line("not json").is_err());
        assert!(parse_line(r#"{"kind":"heart_rate","value":70,"extra":1}"#).is_err());
        assert!(
            parse_line(r#"{"kind":"heart_rate","value":70}"#)
                .unwrap()
                .ts_ms
                > 0
        );
    }
}
