//! Medical history entries: conditions, allergies, medications and free-text notes. Their content
//! is health information, encrypted like the identity.

use chrono::NaiveDate;
use episante_kit::Invalid;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HistoryKind {
    Condition,
    Allergy,
    Medication,
    Note,
}

impl HistoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Condition => "condition",
            HistoryKind::Allergy => "allergy",
            HistoryKind::Medication => "medication",
            HistoryKind::Note => "note",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "condition" => HistoryKind::Condition,
            "allergy" => HistoryKind::Allergy,
            "medication" => HistoryKind::Medication,
            "note" => HistoryKind::Note,
            _ => return None,
        })
    }
}

/// The encrypted part of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryContent {
    /// What it is: "Type 2 diabetes", "Penicillin", "Metformin 500 mg twice daily", a note.
    #[schema(min_length = 1, max_length = 4000, format = "text")]
    pub text: String,
    /// When it started, if known.
    pub onset: Option<NaiveDate>,
}

impl HistoryContent {
    pub fn validated(self) -> Result<Self, Invalid> {
        let text = self.text.trim().to_string();
        if text.is_empty() || text.chars().count() > 4000 {
            return Err(Invalid("text must be 1 to 4000 characters".into()));
        }
        Ok(HistoryContent {
            text,
            onset: self.onset,
        })
    }
}
