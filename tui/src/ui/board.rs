//! The alerts board: counts, then one row per open alert, visible rows only.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::widgets::{age, severity_style, state_short};
use crate::app::App;
use crate::model::{AlertState, Severity};

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let [counts, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    frame.render_widget(Paragraph::new(counts_line(app)), counts);
    rows(frame, table, app);
}

fn counts_line(app: &App) -> Line<'static> {
    let counts = app.board.counts();
    let mut spans = Vec::new();
    for (i, severity) in Severity::ALL.iter().enumerate() {
        spans.push(Span::styled(
            format!("{} {}", severity.short(), counts.by_severity[i]),
            severity_style(*severity),
        ));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(format!(
        "│ active {} ack {} resolved {}",
        counts.active, counts.acknowledged, counts.resolved
    )));
    let filter = app.board.filter();
    if !filter.is_empty() {
        let mut parts = Vec::new();
        if let Some(s) = filter.severity {
            parts.push(format!("sev={}", s.short()));
        }
        if !filter.text.is_empty() {
            parts.push(format!("/{}", filter.text));
        }
        if !filter.patient.is_empty() {
            parts.push(format!("pt={}", filter.patient));
        }
        spans.push(Span::styled(
            format!(" │ {}", parts.join(" ")),
            Style::new().fg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

fn rows(frame: &mut Frame, area: Rect, app: &mut App) {
    let height = area.height.saturating_sub(1) as usize; // minus the header row
    app.sync_selection();
    let total = app.rows().len();
    // Keep the selection on screen, then draw that window only.
    if app.selected_row < app.scroll {
        app.scroll = app.selected_row;
    } else if height > 0 && app.selected_row >= app.scroll + height {
        app.scroll = app.selected_row + 1 - height;
    }
    app.scroll = app.scroll.min(total.saturating_sub(height));
    let end = (app.scroll + height).min(total);
    let start = app.scroll;
    let window: Vec<uuid::Uuid> = app.rows()[start..end].to_vec();

    let header = Row::new(["", "SEV", "ST", "AGE", "PATIENT", "RULE", "MESSAGE"])
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let rows = window.iter().filter_map(|id| {
        let alert = app.board.get(id)?;
        let marker = if app.fresh.contains(id) {
            Span::styled(
                "●",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        } else if app.is_mine(alert) {
            Span::styled("*", Style::new().fg(Color::Green))
        } else {
            Span::raw(" ")
        };
        let state_style = match alert.state {
            AlertState::Active => Style::new().add_modifier(Modifier::BOLD),
            _ => Style::new().fg(Color::DarkGray),
        };
        let mut row = Row::new([
            Cell::from(marker),
            Cell::from(Span::styled(
                alert.severity.short(),
                severity_style(alert.severity),
            )),
            Cell::from(Span::styled(state_short(alert.state), state_style)),
            Cell::from(age(app.now, alert.triggered_at)),
            Cell::from(app.patient_label(&alert.patient_id)),
            Cell::from(alert.rule_key.clone()),
            Cell::from(alert.message.clone()),
        ]);
        if app.fresh.contains(id) {
            row = row.style(Style::new().bg(Color::Red).fg(Color::White));
        }
        Some(row)
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(12),
        Constraint::Length(16),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    if total > 0 {
        state.select(Some(app.selected_row.saturating_sub(app.scroll)));
    }
    frame.render_stateful_widget(table, area, &mut state);
    if total == 0 {
        let text = if app.board.is_empty() {
            "No open alerts."
        } else {
            "No alert matches the filters (Esc clears them)."
        };
        let [_, below] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        frame.render_widget(
            Paragraph::new(Span::styled(text, Style::new().fg(Color::DarkGray))),
            below,
        );
    }
}
