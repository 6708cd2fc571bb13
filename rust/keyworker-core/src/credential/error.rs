//! The one error type of the credentials-and-door-updates area.
//!
//! Each variant is a distinct failure that a caller may want to handle differently (a door
//! that refuses an expired key is not under attack; one that sees a bad signature may be), so
//! the binding maps every variant to its own Python exception class.

use thiserror::Error;

/// Everything that can go wrong while issuing, verifying or encoding credentials and door updates.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredentialError {
    /// Caller input that breaks a documented rule; `field` names it (`claims[3].door_ids`).
    #[error("{field}: {reason}")]
    InvalidInput { field: String, reason: String },
    /// Key material that cannot be used (bad PKCS#8, wrong length, wrong curve).
    #[error("invalid key material for kid {kid:?}: {reason}")]
    InvalidKeyMaterial { kid: String, reason: String },
    /// Bytes that are not a well-formed credential or door update (bad CBOR, wrong structure,
    /// missing or mistyped claim).
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// The signature (or door-update MAC) does not verify with the key named by `kid`.
    #[error("{what} does not verify with key {kid:?}")]
    BadSignature { what: &'static str, kid: String },
    /// The algorithm in the protected header is missing, unsupported, or not the one of the
    /// key that `kid` names.
    #[error("unexpected algorithm {found}; key {kid:?} uses {expected}")]
    UnexpectedAlgorithm {
        kid: String,
        expected: String,
        found: String,
    },
    /// The protected header lists a critical parameter keyworker does not understand.
    #[error("unknown critical header parameter {label}")]
    UnknownCriticalHeader { label: String },
    /// No key with this `kid` is known (never issued, or retired).
    #[error("unknown key id {kid:?}")]
    UnknownKeyId { kid: String },
    /// The credential's validity window ended at `exp`, at or before `now`.
    #[error("credential expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    /// The credential's validity window starts at `nbf`, after `now`.
    #[error("credential not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    /// A door update (or other versioned message) written in a format newer than the newest
    /// this reader knows; it is refused as a whole rather than read in part.
    #[error("{what} format {found} is newer than format {newest}, the newest this reader knows")]
    UnsupportedFormat {
        what: &'static str,
        found: u64,
        newest: u64,
    },
    /// Applying the update would grow the door's blocklist past the limit.
    #[error("blocklist of door {door_id:?} would hold {would_hold} entries, limit is {limit}")]
    BlocklistFull {
        door_id: String,
        would_hold: u64,
        limit: u32,
    },
}

impl CredentialError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            reason: reason.into(),
        }
    }

    /// Prefix the field of an `InvalidInput` (used by batches: `claims[3].` + `door_ids`).
    pub(crate) fn in_field(self, prefix: &str) -> Self {
        self.in_field_public(prefix)
    }

    /// Prefix the field of an `InvalidInput` with the path of the value it sits in, for
    /// callers (the binding) that check parts of a larger input; an empty prefix changes
    /// nothing.
    pub fn in_field_public(self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        match self {
            Self::InvalidInput { field, reason } => Self::InvalidInput {
                field: format!("{prefix}.{field}"),
                reason,
            },
            other => other,
        }
    }
}
