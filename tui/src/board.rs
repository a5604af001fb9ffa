//! The open alerts the clinician sees, kept sorted and filtered.
//!
//! Updates arrive at stream speed (many per second with a thousand open alerts) while the screen
//! shows a few dozen rows, so the board stores alerts by id and rebuilds its sorted, filtered view
//! only when something changed and somebody looks (`view()`), never per event. Snapshots carry
//! `updated_at`: an older snapshot never overwrites a newer one, so the initial list, the replayed
//! events and action answers can arrive in any order.

use std::collections::HashMap;

use uuid::Uuid;

use crate::model::{Alert, AlertState, Severity};

/// What narrows the board.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Case-insensitive text over patient (id or known name), rule, message and device.
    pub text: String,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Patient id prefix or part of a known name.
    pub patient: String,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.severity.is_none() && self.patient.is_empty()
    }

    fn matches(&self, alert: &Alert, patient_name: Option<&str>) -> bool {
        if self.severity.is_some_and(|s| s != alert.severity) {
            return false;
        }
        let name = patient_name.unwrap_or("").to_lowercase();
        if !self.patient.is_empty() {
            let wanted = self.patient.to_lowercase();
            if !alert.patient_id.to_string().starts_with(&wanted) && !name.contains(&wanted) {
                return false;
            }
        }
        if !self.text.is_empty() {
            let wanted = self.text.to_lowercase();
            let hit = alert.patient_id.to_string().contains(&wanted)
                || name.contains(&wanted)
                || alert.rule_key.to_lowercase().contains(&wanted)
                || alert.message.to_lowercase().contains(&wanted)
                || alert.device_id.to_lowercase().contains(&wanted);
            if !hit {
                return false;
            }
        }
        true
    }
}

/// Counts for the header line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub active: usize,
    pub acknowledged: usize,
    /// Resolved while this TUI was watching.
    pub resolved: usize,
    /// Open alerts per severity, in [`Severity::ALL`] order.
    pub by_severity: [usize; 4],
}

/// What an upsert did, so the app can ring the bell for new critical alerts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Not on the board before (or it was resolved).
    Added,
    Updated,
    Removed,
    /// Older than what the board holds, or a resolution of an alert it never had.
    Ignored,
}

#[derive(Debug, Default)]
pub struct Board {
    alerts: HashMap<Uuid, Alert>,
    resolved: usize,
    filter: Filter,
    /// Sorted, filtered ids; `None` when it must be rebuilt.
    view: Option<Vec<Uuid>>,
}

impl Board {
    /// Replaces everything with a fresh list of open alerts (the initial load, or a reload after
    /// a reconnect without a resume point). Alerts that the list misses but that are newer than
    /// it are kept: they came from the stream after the list was read.
    pub fn replace(&mut self, alerts: Vec<Alert>) {
        let newest = alerts.iter().map(|a| a.updated_at).max();
        let mut fresh: HashMap<Uuid, Alert> = alerts
            .into_iter()
            .filter(|a| a.state.is_open())
            .map(|a| (a.id, a))
            .collect();
        for (id, alert) in self.alerts.drain() {
            let newer_than_list = newest.is_none_or(|n| alert.updated_at > n);
            match fresh.get(&id) {
                Some(listed) if listed.updated_at >= alert.updated_at => {}
                Some(_) => {
                    fresh.insert(id, alert);
                }
                None if newer_than_list => {
                    fresh.insert(id, alert);
                }
                None => {}
            }
        }
        self.alerts = fresh;
        self.view = None;
    }

    /// Applies the latest known state of one alert.
    pub fn upsert(&mut self, alert: Alert) -> Change {
        let existing = self.alerts.get(&alert.id);
        if existing.is_some_and(|e| e.updated_at > alert.updated_at) {
            return Change::Ignored;
        }
        let change = match (existing.is_some(), alert.state.is_open()) {
            (true, true) => Change::Updated,
            (false, true) => Change::Added,
            (true, false) => Change::Removed,
            (false, false) => Change::Ignored,
        };
        match change {
            Change::Added | Change::Updated => {
                self.alerts.insert(alert.id, alert);
            }
            Change::Removed => {
                self.alerts.remove(&alert.id);
                if alert.state == AlertState::Resolved {
                    self.resolved += 1;
                }
            }
            Change::Ignored => {
                if alert.state == AlertState::Resolved {
                    self.resolved += 1;
                }
            }
        }
        self.view = None;
        change
    }

    pub fn get(&self, id: &Uuid) -> Option<&Alert> {
        self.alerts.get(id)
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    pub fn set_filter(&mut self, filter: Filter) {
        if filter != self.filter {
            self.filter = filter;
            self.view = None;
        }
    }

    /// Forces the view to be rebuilt (patient names changed, so name filters may match now).
    pub fn invalidate(&mut self) {
        self.view = None;
    }

    /// The sorted, filtered ids (rebuilt only after a change).
    pub fn view(&mut self, names: &HashMap<Uuid, String>) -> &[Uuid] {
        if self.view.is_none() {
            let mut rows: Vec<&Alert> = self
                .alerts
                .values()
                .filter(|a| {
                    self.filter
                        .matches(a, names.get(&a.patient_id).map(String::as_str))
                })
                .collect();
            rows.sort_unstable_by(|a, b| a.board_order(b));
            self.view = Some(rows.into_iter().map(|a| a.id).collect());
        }
        self.view.as_deref().unwrap_or_default()
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            resolved: self.resolved,
            ..Counts::default()
        };
        for alert in self.alerts.values() {
            match alert.state {
                AlertState::Active => counts.active += 1,
                AlertState::Acknowledged => counts.acknowledged += 1,
                _ => {}
            }
            if let Some(i) = Severity::ALL.iter().position(|s| *s == alert.severity) {
                counts.by_severity[i] += 1;
            }
        }
        counts
    }
}
