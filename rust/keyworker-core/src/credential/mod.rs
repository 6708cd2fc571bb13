//! Key credentials and door-update payloads, on standards a door vendor or auditor can check
//! with their own tools (format: `docs/credential-format.md`).
//!
//! - A key credential is a CWT (RFC 8392) claims set, deterministic CBOR (RFC 8949 §4.2.1),
//!   signed as a tagged COSE_Sign1 (RFC 9052) with ES256 or EdDSA, `kid` protected.
//! - A door update is the list of changes one door must apply between two versions, CBOR,
//!   authenticated as a tagged COSE_Mac0 (HMAC 256/256) under the door's own key.
//!
//! COSE structures come from `coset`, CBOR from `ciborium`, every primitive from `ring`.

mod claims;
mod cose;
mod door_update;
mod error;
mod keys;
mod sign;
mod verify;
mod wire;

pub use claims::{
    weekday_mask, weekday_names, CredentialClaims, CredentialSchedule, KeyType, ScheduleWindow,
    CLAIM_DOOR_IDS, CLAIM_HOLDER_REF, CLAIM_KEY_TYPE, CLAIM_SCHEDULE, CREDENTIAL_ID_LEN, MAX_DOORS,
    MAX_TEXT_LEN, MAX_TIME_ZONE_LEN, MAX_WINDOWS, MINUTES_PER_DAY, WEEKDAY_NAMES,
};
pub use door_update::{
    door_decision, encode_door_update, encode_door_updates, open_door_update,
    open_door_update_up_to, ChangeParts, DoorChange, DoorDecision, DoorUpdate, OpenedDoorUpdate,
    BLOCKLIST_LIMIT, DOOR_CHANGE_ADD, DOOR_CHANGE_BLOCK, DOOR_CHANGE_REMOVE, DOOR_CHANGE_UNBLOCK,
    DOOR_UPDATE_FORMAT, DOOR_UPDATE_FORMAT_1, PHONE_HASH_LEN,
};
pub use error::CredentialError;
pub use keys::{Algorithm, DoorKey, SigningKey, VerificationKey, DOOR_KEY_MIN_LEN};
pub use sign::{issue, issue_batch, to_be_signed};
pub use verify::{verify, VerifiedCredential};

#[cfg(test)]
mod tests;
