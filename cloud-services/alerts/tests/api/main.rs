//! Alerts API tests.
