//! The status engine's one error type.

use super::codes::{DoorEvent, DoorState, KeyType};

/// Everything the status engine refuses. Each variant is a distinct failure that callers
/// handle differently (the Python binding maps each to its own exception class), and every
/// input error names the field it is about, so the API can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The event is not allowed in the door row's current state; nothing changed.
    #[error("illegal transition: a {key_type} door row in state `{state}` cannot take `{event}`")]
    IllegalTransition {
        key_type: KeyType,
        state: DoorState,
        event: DoorEvent,
    },
    /// A code name that the status model does not define.
    #[error("{field}: unknown {kind} `{value}`")]
    UnknownCode {
        field: String,
        kind: &'static str,
        value: String,
    },
    /// Facts of a key that cannot be evaluated (validity reversed, a door state foreign to the
    /// key type, an instant out of range, ...).
    #[error("{field}: {reason}")]
    InvalidKeyData { field: String, reason: String },
    /// A schedule that breaks the rules of a schedule (unknown time zone or weekday, a window
    /// outside 0 <= start < end <= 1440, no windows, ...).
    #[error("{field}: {reason}")]
    InvalidSchedule { field: String, reason: String },
    /// A modification that cannot be planned: no door left (that is a revocation), a door
    /// listed twice, or a row that is no longer a door of the key.
    #[error("{field}: {reason}")]
    InvalidModification { field: String, reason: String },
    /// Columnar bulk input whose columns disagree or hold unknown codes; no result is given.
    #[error("{field}: {reason}")]
    InvalidBulkInput { field: String, reason: String },
}

impl StatusError {
    /// The input field the error is about (`None` for an illegal transition, which is about
    /// the pair of state and event rather than one field).
    pub fn field(&self) -> Option<&str> {
        match self {
            StatusError::IllegalTransition { .. } => None,
            StatusError::UnknownCode { field, .. }
            | StatusError::InvalidKeyData { field, .. }
            | StatusError::InvalidSchedule { field, .. }
            | StatusError::InvalidModification { field, .. }
            | StatusError::InvalidBulkInput { field, .. } => Some(field),
        }
    }

    pub(crate) fn key_data(field: impl Into<String>, reason: impl Into<String>) -> Self {
        StatusError::InvalidKeyData {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn schedule(field: impl Into<String>, reason: impl Into<String>) -> Self {
        StatusError::InvalidSchedule {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn modification(field: impl Into<String>, reason: impl Into<String>) -> Self {
        StatusError::InvalidModification {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn bulk(field: impl Into<String>, reason: impl Into<String>) -> Self {
        StatusError::InvalidBulkInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
