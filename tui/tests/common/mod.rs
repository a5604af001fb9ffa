//! Fixtures shared by the screen and key tests: alerts, events, an app at a pinned clock, and the
//! text of a rendered buffer.

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use episante_tui::app::{App, Message, Options};
use episante_tui::model::{Alert, AlertEvent};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use serde_json::json;
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
}

/// An open alert; `n` makes ids and the patient distinct, `minutes_ago` its age at [`t0`].
pub fn alert(n: u128, severity: &str, state: &str, rule: &str, minutes_ago: i64) -> Alert {
    let at = t0() - chrono::Duration::minutes(minutes_ago);
    serde_json::from_value(json!({
        "id": Uuid::from_u128(n), "patient_id": patient(n), "device_id": format!("hub{n}"),
        "rule_key": rule, "vital": "heart_rate", "severity": severity, "state": state,
        "message": format!("{rule} message {n}"), "first_value": 131.0, "last_value": 140.0,
        "occurrences": 3, "triggered_at": at, "last_seen_at": at, "reading_received_at": at,
        "created_at": at, "updated_at": at, "acknowledged_at": null, "acknowledged_by": null,
        "resolved_at": null, "resolved_by": null, "resolution_note": null, "assigned_to": null,
        "escalated_at": null
    }))
    .expect("a valid alert")
}

pub fn patient(n: u128) -> Uuid {
    Uuid::from_u128(0xabcd_0000_0000_0000_0000_0000_0000_0000 + n)
}

/// A stream event carrying `snapshot`, stamped a little after it so it wins over the list.
pub fn event(id: i64, kind: &str, mut snapshot: Alert) -> Message {
    snapshot.updated_at += chrono::Duration::seconds(id);
    Message::Event(Box::new(AlertEvent {
        id,
        alert_id: snapshot.id,
        patient_id: snapshot.patient_id,
        kind: kind.into(),
        actor: None,
        note: None,
        at: snapshot.updated_at,
        snapshot,
    }))
}

pub fn options() -> Options {
    Options {
        readonly: false,
        bell: true,
        server: "http://gateway.test".into(),
    }
}

/// A logged-in app showing `alerts`, with the clock at [`t0`].
pub fn app_with(alerts: Vec<Alert>) -> App {
    let mut app = App::new(options(), Some("dr.x@episante.test".into()), true);
    app.now = t0();
    app.apply(Message::Loaded(alerts));
    app
}

/// The usual board: one per severity, plus an older critical one.
pub fn sample() -> Vec<Alert> {
    vec![
        alert(1, "low", "active", "temp.low", 50),
        alert(2, "critical", "active", "news2.aggregate", 5),
        alert(3, "high", "acknowledged", "spo2.low", 30),
        alert(4, "medium", "active", "rr.high", 20),
        alert(5, "critical", "active", "hr.high", 12),
    ]
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Draws `app` on a `width`×`height` test terminal.
pub fn render(app: &mut App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| episante_tui::ui::draw(frame, app))
        .expect("draws");
    terminal.backend().buffer().clone()
}

/// The buffer's text, one string per row.
pub fn lines(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

/// Row index of the first line containing `needle`.
pub fn row_of(lines: &[String], needle: &str) -> Option<usize> {
    lines.iter().position(|l| l.contains(needle))
}

pub fn screen_text(buffer: &Buffer) -> String {
    lines(buffer).join("\n")
}
