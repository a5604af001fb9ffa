//! Patient records in and out of the database: encrypted and indexed on the way in, decrypted on
//! the way out. Nothing else touches ciphertext or blind indexes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use episante_kit::ApiError;
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::crypto::envelope::CipherError;
use crate::crypto::key_wrapper::WrapError;
use crate::crypto::{BlindIndex, PiiCipher};
use crate::db::history::HistoryRow;
use crate::db::patients::{Indexes, PatientRow};
use crate::domain::history::{HistoryContent, HistoryKind};
use crate::domain::patient::PatientIdentity;

/// A patient record as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Patient {
    pub id: Uuid,
    /// The auth user id of the patient, when they have an account.
    pub user_id: Option<Uuid>,
    /// `active` or `archived`.
    pub status: String,
    pub identity: PatientIdentity,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub kind: HistoryKind,
    #[serde(flatten)]
    pub content: HistoryContent,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

impl From<CipherError> for ApiError {
    fn from(e: CipherError) -> Self {
        match e {
            CipherError::Key(WrapError::Unavailable(detail)) => {
                tracing::error!(%detail, "key service unavailable");
                ApiError::Unavailable("the key service is unavailable; try again later".into())
            }
            e => ApiError::Internal(anyhow::anyhow!(e)),
        }
    }
}

pub struct PatientStore {
    pub cipher: Arc<PiiCipher>,
    pub index: Arc<BlindIndex>,
}

fn identity_aad(id: Uuid) -> Vec<u8> {
    format!("patient/{id}/identity").into_bytes()
}

fn history_aad(patient: Uuid, entry: Uuid) -> Vec<u8> {
    format!("patient/{patient}/history/{entry}").into_bytes()
}

impl PatientStore {
    pub fn indexes(&self, identity: &PatientIdentity) -> Indexes {
        Indexes {
            names: self.index.name_tokens(identity.names()),
            national_id: identity
                .national_id
                .as_deref()
                .map(|n| self.index.national_id(n)),
        }
    }

    async fn seal_identity(
        &self,
        id: Uuid,
        identity: &PatientIdentity,
    ) -> Result<(String, Vec<u8>), ApiError> {
        let plaintext = serde_json::to_vec(identity).map_err(anyhow::Error::from)?;
        let sealed = self.cipher.seal(&identity_aad(id), &plaintext).await?;
        Ok((sealed.wrapped_key, sealed.ciphertext))
    }

    pub async fn insert(
        &self,
        db: impl PgExecutor<'_>,
        user_id: Option<Uuid>,
        identity: &PatientIdentity,
    ) -> Result<Patient, ApiError> {
        let id = Uuid::new_v4();
        let (wrapped, ciphertext) = self.seal_identity(id, identity).await?;
        let row = crate::db::patients::insert(
            db,
            id,
            user_id,
            &wrapped,
            &ciphertext,
            &self.indexes(identity),
        )
        .await
        .map_err(|e| ApiError::from_db(e, crate::db::CONSTRAINTS))?;
        self.open(row).await
    }

    pub async fn update(
        &self,
        db: impl PgExecutor<'_>,
        id: Uuid,
        identity: &PatientIdentity,
    ) -> Result<Patient, ApiError> {
        let (wrapped, ciphertext) = self.seal_identity(id, identity).await?;
        let row = crate::db::patients::update_identity(
            db,
            id,
            &wrapped,
            &ciphertext,
            &self.indexes(identity),
        )
        .await
        .map_err(|e| ApiError::from_db(e, crate::db::CONSTRAINTS))?;
        self.open(row).await
    }

    /// Decrypts a row.
    pub async fn open(&self, row: PatientRow) -> Result<Patient, ApiError> {
        let plaintext = self
            .cipher
            .open(&row.wrapped_key, &identity_aad(row.id), &row.identity)
            .await?;
        let identity = serde_json::from_slice(&plaintext).map_err(anyhow::Error::from)?;
        Ok(Patient {
            id: row.id,
            user_id: row.user_id,
            status: row.status,
            identity,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    pub async fn get(&self, pool: &PgPool, id: Uuid) -> Result<Option<Patient>, ApiError> {
        match crate::db::patients::by_id(pool, id).await? {
            Some(row) => Ok(Some(self.open(row).await?)),
            None => Ok(None),
        }
    }

    pub async fn add_history(
        &self,
        db: impl PgExecutor<'_>,
        patient: Uuid,
        kind: HistoryKind,
        content: &HistoryContent,
        by: &str,
    ) -> Result<HistoryEntry, ApiError> {
        let id = Uuid::new_v4();
        let plaintext = serde_json::to_vec(content).map_err(anyhow::Error::from)?;
        let sealed = self
            .cipher
            .seal(&history_aad(patient, id), &plaintext)
            .await?;
        let row = crate::db::history::insert(
            db,
            id,
            patient,
            kind.as_str(),
            &sealed.wrapped_key,
            &sealed.ciphertext,
            by,
        )
        .await?;
        self.open_history(row).await
    }

    pub async fn open_history(&self, row: HistoryRow) -> Result<HistoryEntry, ApiError> {
        let plaintext = self
            .cipher
            .open(
                &row.wrapped_key,
                &history_aad(row.patient_id, row.id),
                &row.content,
            )
            .await?;
        Ok(HistoryEntry {
            id: row.id,
            patient_id: row.patient_id,
            kind: HistoryKind::parse(&row.kind)
                .ok_or_else(|| anyhow::anyhow!("unknown history kind {}", row.kind))?,
            content: serde_json::from_slice(&plaintext).map_err(anyhow::Error::from)?,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        })
    }
}
