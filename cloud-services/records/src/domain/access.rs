//! Object-level authorization (OWASP API1/API3/API5): which patients a caller may see.
//!
//! Roles decide *kinds* of operations; this decides *which records*. Admins see every patient,
//! clinicians the patients of the care teams they belong to, patients their own record (the one
//! linked to their user id); devices and services see no PII. A patient the caller may not see is
//! answered exactly like one that does not exist (404), so ids cannot be probed.

//!
//! The scope is decided here; `http/access.rs` derives it from a caller and answers 403/404,
//! `db/access.rs` asks whether a patient is in it.

use uuid::Uuid;

/// The set of patients a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientScope {
    All,
    CareOf(Uuid),
    Own(Uuid),
}
