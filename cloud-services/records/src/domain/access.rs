//! Object-level authorization (OWASP API1/API3/API5): which patients a caller may see.
//!
//! Roles decide *kinds* of operations; this decides *which records*. Admins see every patient,
//! clinicians the patients of the care teams they belong to, patients their own record (the one
//! linked to their user id); devices and services see no PII. A patient the caller may not see is
//! answered exactly like one that does not exist (404), so ids cannot be probed.

use episante_kit::{ApiError, AuthUser, Role};
use sqlx::PgPool;
use uuid::Uuid;

/// The set of patients a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientScope {
    All,
    CareOf(Uuid),
    Own(Uuid),
}

impl PatientScope {
    /// The caller's scope; 403 for roles that never see PII.
    pub fn of(caller: &AuthUser) -> Result<PatientScope, ApiError> {
        let user_id = || {
            caller
                .subject()
                .parse::<Uuid>()
                .map_err(|_| ApiError::Forbidden("token subject is not a user".into()))
        };
        match caller.role() {
            Role::Admin => Ok(PatientScope::All),
            Role::Clinician => Ok(PatientScope::CareOf(user_id()?)),
            Role::Patient => Ok(PatientScope::Own(user_id()?)),
            Role::Device | Role::Service => Err(ApiError::Forbidden(format!(
                "role {} may not read patient records",
                caller.role()
            ))),
        }
    }

    /// 404 unless the patient exists and is in scope.
    pub async fn check(&self, pool: &PgPool, patient: Uuid) -> Result<(), ApiError> {
        if self.includes(pool, patient).await? {
            Ok(())
        } else {
            Err(not_found(patient))
        }
    }

    pub async fn includes(&self, pool: &PgPool, patient: Uuid) -> Result<bool, ApiError> {
        let visible: bool = match self {
            PatientScope::All => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)")
                    .bind(patient)
                    .fetch_one(pool)
                    .await?
            }
            PatientScope::CareOf(clinician) => {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM care_team_patients p \
                 JOIN care_team_members m ON m.team_id = p.team_id \
                 WHERE p.patient_id = $1 AND m.clinician_id = $2)",
                )
                .bind(patient)
                .bind(clinician)
                .fetch_one(pool)
                .await?
            }
            PatientScope::Own(user) => {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1 AND user_id = $2)",
                )
                .bind(patient)
                .bind(user)
                .fetch_one(pool)
                .await?
            }
        };
        Ok(visible)
    }
}

pub fn not_found(patient: Uuid) -> ApiError {
    ApiError::NotFound(format!("no patient {patient}"))
}
