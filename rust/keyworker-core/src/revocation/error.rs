//! The revocation planner's one error type.

use crate::status::StatusError;

/// Everything the revocation planner refuses. Every variant names the input field it is
/// about, so the binding can raise the matching Python class with its `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// The key columns themselves are invalid (lengths, offsets, codes, validity windows):
    /// the status engine's own validation, whose error is kept as it is.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// A column or option that only the planner reads (door and holder indexes, the
    /// selector, the chunk size) is inconsistent; nothing is planned.
    #[error("{field}: {reason}")]
    InvalidInput { field: String, reason: String },
}

impl RevocationError {
    /// The input field the error is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            RevocationError::Status(e) => e.field(),
            RevocationError::InvalidInput { field, .. } => Some(field),
        }
    }

    pub(crate) fn input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RevocationError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
