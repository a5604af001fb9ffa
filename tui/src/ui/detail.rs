//! The detail pane of one alert: patient, alert facts, vitals sparklines, timeline.

use chrono::Local;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;

use super::widgets::{age, number, severity_style, spark_scale, truncate};
use crate::app::{App, PatientLookup};
use crate::model::{Alert, VitalsHistory};

/// The vitals shown, in order, with their labels.
pub const VITALS: [(&str, &str); 6] = [
    ("heart_rate", "HR"),
    ("spo2", "SpO2"),
    ("body_temperature", "Temp"),
    ("respiratory_rate", "Resp"),
    ("systolic_bp", "BP sys"),
    ("diastolic_bp", "BP dia"),
];

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(alert) = app.detail_alert() else {
        frame.render_widget(Paragraph::new("loading…"), area);
        return;
    };
    let [title, patient, facts, vitals, timeline] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1 + VITALS.len() as u16),
        Constraint::Min(2),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(title_line(&alert)), title);
    frame.render_widget(Paragraph::new(patient_line(app, &alert)), patient);
    frame.render_widget(Paragraph::new(fact_lines(app, &alert)), facts);
    draw_vitals(frame, vitals, app);
    draw_timeline(frame, timeline, app);
}

fn title_line(alert: &Alert) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            format!(" {} ", alert.severity.label().to_uppercase()),
            severity_style(alert.severity).add_modifier(Modifier::REVERSED),
        ),
        Span::styled(
            format!(" {} ", alert.state.label()),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("{} · {}", alert.rule_key, alert.message)),
    ])
}

fn patient_line(app: &App, alert: &Alert) -> Line<'static> {
    let lookup = app.detail.as_ref().and_then(|d| d.patient.as_ref());
    let label = Span::styled("Patient ", Style::new().add_modifier(Modifier::BOLD));
    let text = match lookup {
        None => Span::raw(format!("{} · loading…", alert.patient_id)),
        Some(PatientLookup::Found(p)) => {
            let mut parts = vec![p.display_name()];
            if let Some(born) = p.identity.birth_date {
                parts.push(format!("born {born}"));
            }
            if let Some(sex) = &p.identity.sex {
                parts.push(sex.clone());
            }
            if !p.status.is_empty() {
                parts.push(p.status.clone());
            }
            Span::raw(parts.join(" · "))
        }
        Some(PatientLookup::NoAccess) => Span::styled(
            format!("{} · no access to the record", alert.patient_id),
            Style::new().fg(Color::DarkGray),
        ),
        Some(PatientLookup::Failed(e)) => Span::styled(
            format!("{} · record unavailable: {e}", alert.patient_id),
            Style::new().fg(Color::Red),
        ),
    };
    Line::from(vec![label, text])
}

fn fact_lines(app: &App, alert: &Alert) -> Vec<Line<'static>> {
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&Local).format("%H:%M:%S");
    let mut first = format!(
        "triggered {} ({} ago)",
        local(alert.triggered_at),
        age(app.now, alert.triggered_at)
    );
    if let Some(seen) = alert.last_seen_at {
        first.push_str(&format!(" · last seen {}", local(seen)));
    }
    first.push_str(&format!(" · ×{}", alert.occurrences));
    if let (Some(a), Some(b)) = (alert.first_value, alert.last_value) {
        first.push_str(&format!(" · {} → {}", number(a), number(b)));
    }
    first.push_str(&format!(" · device {}", alert.device_id));
    let mut second = Vec::new();
    if let Some(by) = &alert.acknowledged_by {
        second.push(format!("acked by {}", who(app, by)));
    }
    if let Some(to) = alert.assigned_to {
        second.push(format!("assigned to {}", who(app, &to.to_string())));
    }
    if alert.escalated_at.is_some() {
        second.push("ESCALATED".to_string());
    }
    if let Some(note) = &alert.resolution_note {
        second.push(format!("resolved: {note}"));
    }
    if second.is_empty() {
        second.push("not acknowledged".into());
    }
    vec![Line::from(first), Line::from(second.join(" · "))]
}

/// "you" for the logged-in user, else a short id.
fn who(app: &App, id: &str) -> String {
    let me = app.me.as_ref().and_then(|m| m.id).map(|u| u.to_string());
    if me.as_deref() == Some(id) {
        "you".into()
    } else {
        id.chars().take(8).collect()
    }
}

fn draw_vitals(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::new()
        .borders(Borders::TOP)
        .title(" Vitals (1 min, since 30 min before the alert) ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let vitals = app.detail.as_ref().and_then(|d| d.vitals.as_ref());
    let history = match vitals {
        None => {
            frame.render_widget(Paragraph::new("loading…"), inner);
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(Span::styled(
                    format!("vitals unavailable: {e}"),
                    Style::new().fg(Color::Red),
                )),
                inner,
            );
            return;
        }
        Some(Ok(h)) => h,
    };
    let rows = Layout::vertical(VITALS.map(|_| Constraint::Length(1))).split(inner);
    for ((vital, label), row) in VITALS.iter().zip(rows.iter()) {
        draw_vital(frame, *row, history, vital, label);
    }
}

fn draw_vital(frame: &mut Frame, area: Rect, history: &VitalsHistory, vital: &str, label: &str) {
    let [name, spark, value] = Layout::horizontal([
        Constraint::Length(7),
        Constraint::Min(10),
        Constraint::Length(22),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(label.to_string()), name);
    let Some(series) = history.series(vital).filter(|s| !s.points.is_empty()) else {
        frame.render_widget(
            Paragraph::new(Span::styled("no data", Style::new().fg(Color::DarkGray))),
            spark,
        );
        return;
    };
    let averages: Vec<f64> = series.points.iter().map(|p| p.avg).collect();
    let data = spark_scale(&averages, spark.width as usize);
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .max(100)
            .style(Style::new().fg(Color::Cyan)),
        spark,
    );
    let last = series.points.last().map(|p| p.avg).unwrap_or_default();
    let lo = series
        .points
        .iter()
        .map(|p| p.min)
        .fold(f64::INFINITY, f64::min);
    let hi = series
        .points
        .iter()
        .map(|p| p.max)
        .fold(f64::NEG_INFINITY, f64::max);
    frame.render_widget(
        Paragraph::new(format!(
            " {} {} ({}–{})",
            number(last),
            series.unit,
            number(lo),
            number(hi)
        )),
        value,
    );
}

fn draw_timeline(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::new().borders(Borders::TOP).title(" Timeline ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(detail) = app.detail.as_ref() else {
        return;
    };
    if let Some(e) = &detail.history_error {
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!("history unavailable: {e}"),
                Style::new().fg(Color::Red),
            )),
            inner,
        );
        return;
    }
    let width = inner.width as usize;
    let lines: Vec<Line> = detail
        .history
        .iter()
        .skip(detail.scroll)
        .take(inner.height as usize)
        .map(|e| {
            let mut text = format!(
                "{} {:<12}",
                e.at.with_timezone(&Local).format("%H:%M:%S"),
                e.kind
            );
            if let Some(actor) = &e.actor {
                text.push_str(&format!(" by {}", who(app, actor)));
            }
            if let Some(note) = &e.note {
                text.push_str(&format!(" — {note}"));
            }
            Line::from(truncate(&text, width))
        })
        .collect();
    if lines.is_empty() {
        let text = if detail.patient.is_none() {
            "loading…"
        } else {
            "no history"
        };
        frame.render_widget(Paragraph::new(text), inner);
    } else {
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
