//! Queries, one module per table family; migrations in `../migrations`. Runtime-checked queries
//! (`query_as`), so building needs no live database.

pub mod access;
pub mod audit;
pub mod care_teams;
pub mod devices;
pub mod history;
pub mod patients;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Constraint names mapped to the 409 messages callers see.
pub const CONSTRAINTS: &[(&str, &str)] = &[
    (
        "patients_national_id_key",
        "a patient with this national id already exists",
    ),
    (
        "patients_user_id_key",
        "this user is already linked to another patient record",
    ),
    ("care_teams_name_key", "a care team with this name exists"),
    (
        "device_assignments_pkey",
        "this device is assigned to another patient; unassign it first",
    ),
    ("care_team_members_pkey", "already a member of this team"),
    (
        "care_team_patients_pkey",
        "the patient is already in this team",
    ),
];
