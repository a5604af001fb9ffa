//! A caller's patient scope (`domain::access`) at the HTTP edge: 403 for roles that never see
//! PII, 404 for a patient out of scope — answered exactly like one that does not exist, so ids
//! cannot be probed.

use episante_kit::{ApiError, AuthUser, Role};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::access::PatientScope;

impl PatientScope {
    /// The caller's scope; 403 for roles that never see PII.
    pub fn of(caller: &AuthUser) -> Result<PatientScope, ApiError> {
        match caller.role() {
            Role::Admin => Ok(PatientScope::All),
            Role::Clinician => Ok(PatientScope::CareOf(caller.user_id()?)),
            Role::Patient => Ok(PatientScope::Own(caller.user_id()?)),
            Role::Device | Role::Service => Err(ApiError::Forbidden(format!(
                "role {} may not read patient records",
                caller.role()
            ))),
        }
    }

    /// 404 unless the patient exists and is in scope.
    pub async fn check(&self, pool: &PgPool, patient: Uuid) -> Result<(), ApiError> {
        if crate::db::access::in_scope(pool, *self, patient).await? {
            Ok(())
        } else {
            Err(not_found(patient))
        }
    }
}

pub fn not_found(patient: Uuid) -> ApiError {
    ApiError::NotFound(format!("no patient {patient}"))
}
