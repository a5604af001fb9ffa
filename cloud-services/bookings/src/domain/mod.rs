//! Bookings' domain, independent of HTTP and SQL: what a practitioner's profile, a weekly
//! schedule, a slot and an appointment are; input is parsed into these types at the edge so the
//! rest of the service never sees an unchecked string.

pub mod appointment;
pub mod practitioner;
pub mod rules;
pub mod schedule;
