//! The records domain: what a patient record is and what valid input looks like. Parsing happens
//! here, at the edge, so everything past the HTTP layer holds only valid values.

pub mod access;
pub mod history;
pub mod patient;
