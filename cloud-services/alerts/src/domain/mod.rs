//! What an alert rule is, how NEWS2 scores vitals, and the alert's lifecycle.

pub mod alert;
pub mod news2;
pub mod rules;
