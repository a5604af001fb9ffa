//! Drawing the app: one function per screen, all reading [`App`] and nothing else.
//!
//! Every frame redraws from state (ratatui diffs the buffer, so only changed cells reach the
//! terminal); the board builds widgets for the visible rows only, which keeps a frame cheap with
//! a thousand open alerts.

mod board;
mod detail;
mod popups;
pub mod widgets;

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::app::{App, Connection, Prompt, Screen, StatusKind};

pub fn draw(frame: &mut Frame, app: &mut App) {
    let area = frame.area();
    if app.screen == Screen::Login {
        popups::login(frame, area, app);
        if app.help {
            popups::help(frame, area, app);
        }
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(header_line(app), header);
    match app.screen {
        Screen::Detail => detail::draw(frame, body, app),
        _ => board::draw(frame, body, app),
    }
    frame.render_widget(footer_line(app), footer);
    if let Some(Prompt::ResolveNote { alert, note }) = &app.prompt {
        let rule = app
            .board
            .get(alert)
            .map(|a| a.rule_key.clone())
            .unwrap_or_default();
        popups::resolve_note(frame, area, &rule, note);
    }
    if app.help {
        popups::help(frame, area, app);
    }
}

fn connection_span(connection: &Connection) -> Span<'static> {
    match connection {
        Connection::Live => Span::styled("● live", Style::new().fg(Color::Green)),
        Connection::Connecting => Span::styled("◌ connecting", Style::new().fg(Color::Yellow)),
        Connection::Offline => Span::styled("○ offline", Style::new().fg(Color::DarkGray)),
        Connection::Retrying { attempt, delay, .. } => Span::styled(
            format!("✕ reconnecting #{attempt} in {:.1}s", delay.as_secs_f32()),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    }
}

fn header_line(app: &App) -> Line<'static> {
    let who = app
        .me
        .as_ref()
        .map(|m| m.name.clone())
        .or(app.email.clone())
        .unwrap_or_default();
    let mut spans = vec![
        Span::styled(
            " EpiSante alerts ",
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::raw(" "),
        connection_span(&app.connection),
        Span::raw(format!("  {who}")),
    ];
    spans.push(Span::styled(
        if app.options.bell {
            "  bell on"
        } else {
            "  bell off"
        },
        Style::new().fg(Color::DarkGray),
    ));
    if app.options.readonly {
        spans.push(Span::styled(
            "  READ-ONLY",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    Line::from(spans)
}

fn footer_line(app: &App) -> Line<'static> {
    match &app.prompt {
        Some(Prompt::Filter(text)) => {
            return Line::from(vec![
                Span::styled("/", Style::new().fg(Color::Yellow)),
                Span::raw(format!("{text}▏")),
                Span::styled("  Enter keep · Esc clear", Style::new().fg(Color::DarkGray)),
            ])
        }
        Some(Prompt::Patient(text)) => {
            return Line::from(vec![
                Span::styled("patient: ", Style::new().fg(Color::Yellow)),
                Span::raw(format!("{text}▏")),
                Span::styled("  Enter keep · Esc clear", Style::new().fg(Color::DarkGray)),
            ])
        }
        _ => {}
    }
    if let Some((kind, text)) = &app.status {
        let style = match kind {
            StatusKind::Info => Style::new().fg(Color::Green),
            StatusKind::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        };
        return Line::from(Span::styled(text.clone(), style));
    }
    if let Connection::Retrying { reason, .. } = &app.connection {
        return Line::from(Span::styled(
            format!("stream: {reason}"),
            Style::new().fg(Color::Red),
        ));
    }
    let hint = match app.screen {
        Screen::Detail => "Esc back · a ack · r resolve · m assign me · j/k timeline · ? help",
        _ => "? help · / filter · s sev · p patient · ⏎ detail · a ack · r resolve · q quit",
    };
    Line::from(Span::styled(hint, Style::new().fg(Color::DarkGray)))
}
