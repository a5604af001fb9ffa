//! Boxes drawn over a screen: help, the resolution note, and the login form.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::widgets::centered;
use crate::app::{App, LoginField};

/// Key, what it does.
pub const HELP: [(&str, &str); 17] = [
    ("j k ↓ ↑", "move (detail: scroll the timeline)"),
    ("g G", "first / last alert"),
    ("^d ^u PgDn PgUp", "ten rows down / up"),
    ("Enter l →", "open the alert's detail"),
    ("Esc h ←", "back; on the board, clear filters"),
    ("a", "acknowledge"),
    ("r", "resolve (asks for a note)"),
    ("m", "assign to me"),
    ("/", "filter: patient, rule, message"),
    ("s", "severity: all → crit → high → med → low"),
    ("p", "patient search (id prefix or name)"),
    ("b", "bell on new critical alerts on/off"),
    ("?", "this help"),
    ("q  ^c", "quit"),
    ("", ""),
    ("●", "new critical alert, not looked at yet"),
    ("*", "assigned to you"),
];

pub fn help(frame: &mut Frame, area: Rect, app: &App) {
    let popup = centered(area, 64, HELP.len() as u16 + 3);
    frame.render_widget(Clear, popup);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:>16}  "), Style::new().fg(Color::Yellow)),
                Span::raw(*what),
            ])
        })
        .collect();
    if app.options.readonly {
        lines.push(Line::from(Span::styled(
            "read-only mode: a, r and m are disabled",
            Style::new().fg(Color::Yellow),
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(" Keys — any key closes "),
        ),
        popup,
    );
}

pub fn resolve_note(frame: &mut Frame, area: Rect, rule: &str, note: &str) {
    let popup = centered(area, 70, 6);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::from(format!("Resolve {rule}: why? (required)")),
        Line::from(Span::styled(
            format!("> {note}▏"),
            Style::new().add_modifier(Modifier::BOLD),
        )),
        Line::from(Span::styled(
            "Enter resolve · Esc cancel",
            Style::new().fg(Color::DarkGray),
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::new().borders(Borders::ALL).title(" Resolve ")),
        popup,
    );
}

pub fn login(frame: &mut Frame, area: Rect, app: &App) {
    let popup = centered(area, 60, 11);
    let form = &app.login;
    let field = |label: &str, value: String, focused: bool| {
        let style = if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        Line::from(vec![
            Span::raw(format!("{label:>10} ")),
            Span::styled(format!("{value:<40}"), style),
        ])
    };
    let cursor = |focused: bool| if focused { "▏" } else { "" };
    let email_focus = form.focus == LoginField::Email;
    let mut lines = vec![
        Line::from(Span::styled(
            format!("Server {}", app.options.server),
            Style::new().fg(Color::DarkGray),
        )),
        Line::from(""),
        field(
            "Email",
            format!("{}{}", form.email, cursor(email_focus)),
            email_focus,
        ),
        field(
            "Password",
            format!(
                "{}{}",
                "•".repeat(form.password.chars().count()),
                cursor(!email_focus)
            ),
            !email_focus,
        ),
        Line::from(""),
    ];
    if form.busy {
        lines.push(Line::from(Span::styled(
            "logging in…",
            Style::new().fg(Color::Yellow),
        )));
    } else if let Some(e) = &form.error {
        lines.push(Line::from(Span::styled(
            e.clone(),
            Style::new().fg(Color::Red),
        )));
    } else {
        lines.push(Line::from(""));
    }
    lines.push(Line::from(Span::styled(
        "Tab switch field · Enter log in · Esc quit",
        Style::new().fg(Color::DarkGray),
    )));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::new()
                .borders(Borders::ALL)
                .title(" EpiSante — clinician log in "),
        ),
        popup,
    );
}
