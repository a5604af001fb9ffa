//! `episante-tui bench`: frame times with a thousand open alerts and a busy stream.
//!
//! Measures everything between the socket and the terminal except the network itself: each
//! frame feeds `updates` stream events as SSE text through the parser and JSON decoding into the
//! app, then draws the board with the real crossterm backend into a sink (escape sequences are
//! generated, nothing is shown), so the numbers include ratatui's diff and output encoding.

use std::io;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::{App, Message, Options};
use crate::model::{Alert, AlertEvent};
use episante_client::sse::SseParser;

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub alerts: usize,
    pub frames: usize,
    pub updates_per_frame: usize,
    pub width: u16,
    pub height: u16,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub frames: usize,
    pub events: usize,
    pub total: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_frame = self.total / self.frames.max(1) as u32;
        write!(
            f,
            "{} frames, {} events in {:.3} s: frame (events + draw) mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms → {:.0} frames/s, {:.0} events/s",
            self.frames,
            self.events,
            self.total.as_secs_f64(),
            per_frame.as_secs_f64() * 1e3,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3,
            self.frames as f64 / self.total.as_secs_f64(),
            self.events as f64 / self.total.as_secs_f64(),
        )
    }
}

/// A plausible alert as JSON, the way the server sends it.
pub fn alert_json(i: usize, at: DateTime<Utc>) -> Value {
    let severity = ["critical", "high", "medium", "low"][i % 4];
    let state = ["acknowledged", "active", "active"][i % 3];
    let rule = [
        "hr.high",
        "spo2.low",
        "news2.aggregate",
        "temp.high",
        "rr.high",
    ][i % 5];
    json!({
        "id": Uuid::from_u128(i as u128 + 1),
        "patient_id": Uuid::from_u128(((i % 300) as u128 + 1) << 64),
        "device_id": format!("hub{i}"),
        "rule_key": rule,
        "vital": "heart_rate",
        "severity": severity,
        "state": state,
        "message": format!("heart rate {} /min above 130 for 2 min", 130 + i % 40),
        "first_value": 131.0,
        "last_value": 140.0,
        "occurrences": 1 + i % 7,
        "triggered_at": at - chrono::Duration::seconds((i * 7) as i64),
        "last_seen_at": at,
        "reading_received_at": at,
        "created_at": at,
        "updated_at": at,
        "acknowledged_at": null, "acknowledged_by": null, "resolved_at": null, "resolved_by": null,
        "resolution_note": null, "assigned_to": null, "escalated_at": null,
    })
}

pub fn run(config: &BenchConfig) -> io::Result<BenchReport> {
    let frames = config.frames.max(1);
    let now = Utc::now();
    let mut app = App::new(
        Options {
            readonly: false,
            bell: false,
            server: "bench".into(),
        },
        Some("bench@episante.test".into()),
        true,
    );
    let alerts: Vec<Alert> = (0..config.alerts)
        .filter_map(|i| serde_json::from_value(alert_json(i, now)).ok())
        .collect();
    app.apply(Message::Loaded(alerts));
    let area = Rect::new(0, 0, config.width, config.height);
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(area),
        },
    )?;
    let mut parser = SseParser::default();
    let mut times = Vec::with_capacity(frames);
    let mut event_id = 0i64;
    for frame in 0..frames {
        // The stream's text for this frame's updates, built outside the timed part.
        let mut wire = String::new();
        for u in 0..config.updates_per_frame {
            event_id += 1;
            let i = (frame * config.updates_per_frame + u) * 7919 % config.alerts.max(1);
            let mut snapshot = alert_json(i, now);
            snapshot["updated_at"] = json!(now + chrono::Duration::milliseconds(event_id));
            snapshot["occurrences"] = json!(event_id);
            let event = json!({
                "id": event_id, "alert_id": snapshot["id"], "patient_id": snapshot["patient_id"],
                "kind": "updated", "actor": null, "note": null, "at": now, "snapshot": snapshot,
            });
            wire.push_str(&format!("id: {event_id}\nevent: alert\ndata: {event}\n\n"));
        }
        if frame % 20 == 0 {
            app.handle_key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char('j'),
            ));
        }
        let t = Instant::now();
        for event in parser.feed(wire.as_bytes()) {
            if let Ok(e) = serde_json::from_str::<AlertEvent>(&event.data) {
                app.apply(Message::Event(Box::new(e)));
            }
        }
        app.now = Utc::now();
        terminal.draw(|f| crate::ui::draw(f, &mut app))?;
        times.push(t.elapsed());
    }
    let total: Duration = times.iter().sum();
    times.sort();
    let pick = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    Ok(BenchReport {
        frames,
        events: frames * config.updates_per_frame,
        total,
        p50: pick(0.5),
        p99: pick(0.99),
        max: times.last().copied().unwrap_or_default(),
    })
}
