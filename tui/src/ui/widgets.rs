//! Small drawing helpers shared by the screens: severity colours, ages, sparkline scaling,
//! centred popups.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};

use crate::model::{AlertState, Severity};

pub fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Critical => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::High => Style::new().fg(Color::LightRed),
        Severity::Medium => Style::new().fg(Color::Yellow),
        Severity::Low => Style::new().fg(Color::Cyan),
        Severity::Unknown => Style::new(),
    }
}

pub fn state_short(state: AlertState) -> &'static str {
    match state {
        AlertState::Active => "ACT",
        AlertState::Acknowledged => "ACK",
        AlertState::Resolved => "RES",
        AlertState::Unknown => "?",
    }
}

/// "42s", "12m", "3h05", "2d": how long ago, in at most four characters.
pub fn age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h{:02}", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d", secs / 86_400),
    }
}

/// Values rescaled to 13..=100 between their own min and max, so a sparkline shows the variation
/// of a vital (36.4–38.9 °C) rather than a flat bar above zero; the floor keeps the lowest value a
/// visible `▁` in a one-row sparkline. The last `width` values only. Draw with `max(100)`.
pub fn spark_scale(values: &[f64], width: usize) -> Vec<u64> {
    let tail = &values[values.len().saturating_sub(width)..];
    let (lo, hi) = tail
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let span = hi - lo;
    tail.iter()
        .map(|v| {
            if span <= f64::EPSILON {
                50
            } else {
                13 + ((v - lo) / span * 87.0).round() as u64
            }
        })
        .collect()
}

/// A number without needless decimals: 140, 37.2.
pub fn number(v: f64) -> String {
    if (v - v.round()).abs() < 0.05 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// A rectangle of `width`×`height` centred in `area` (clipped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// Cuts `text` to `width` characters, with an ellipsis when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fit_four_characters() {
        let now = Utc::now();
        let ago = |s| now - chrono::Duration::seconds(s);
        assert_eq!(age(now, ago(5)), "5s");
        assert_eq!(age(now, ago(125)), "2m");
        assert_eq!(age(now, ago(3 * 3600 + 5 * 60)), "3h05");
        assert_eq!(age(now, ago(3 * 86_400)), "3d");
        assert_eq!(age(now, now + chrono::Duration::seconds(9)), "0s");
    }

    #[test]
    fn sparklines_show_variation_not_magnitude() {
        assert_eq!(spark_scale(&[36.0, 37.0, 38.0], 10), vec![13, 57, 100]);
        assert_eq!(spark_scale(&[70.0, 70.0], 10), vec![50, 50]);
        assert_eq!(spark_scale(&[1.0, 2.0, 3.0, 4.0], 2), vec![13, 100]);
        assert!(spark_scale(&[], 5).is_empty());
    }
}
