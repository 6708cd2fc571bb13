//! Bulk revocation runs: which keys a selector takes, what revoking them does (the plan a dry
//! run shows and a run executes), and the per-chunk computation a worker writes from.
//!
//! Everything here works on the status engine's columnar encoding
//! ([`crate::status::BulkInput`]) plus two index columns: per door row the door's index in the
//! site's door list, per key the keyholder's index. The rules are not restated: door rows move
//! by the status engine's transition function ([`crate::status::next_door_state`], tabulated
//! once per door byte), and the statuses before and after come from the same outcome table the
//! bulk status evaluation reads (filled by the rule functions of `status::derive`).
//!
//! Revoking a key, as `docs/status-rules.md` states it: the key's `revoked` fact is set; an
//! access medium's door rows take the `revoke` event (every row must allow it, otherwise the
//! key cannot be revoked and nothing of it changes); a digital key's rows do not change (doors
//! verify its signed credential; its revocation completes when the app reloads its key list).

pub mod chunk;
mod error;
pub mod plan;

#[cfg(test)]
mod tests;

use std::sync::LazyLock;

pub use chunk::{revoke_chunk, ChunkInput, ChunkResult};
pub use error::RevocationError;
pub use plan::{plan, Plan, PlanInput, Selector, Target, DEFAULT_CHUNK_KEYS, MAX_CHUNK_KEYS};

use crate::status::bulk::{flags, NO_END};
use crate::status::codes::{DoorEvent, DoorState, KeyType};
use crate::status::derive::{door_bits, Outcome, DOOR_BYTE_BITS, DOOR_ONLINE, OUTCOMES};
use crate::status::{next_door_state, Situation};

/// What a revocation run does with one selected key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Decision {
    /// Not revoked yet: it is revoked now.
    Revoke = 0,
    /// Revoked before the run reached it: skipped, and counted as such.
    AlreadyRevoked = 1,
    /// A door row is in a state that `revoke` does not leave (the transition tables refuse
    /// it): the key is reported as a failure and nothing of it changes.
    CannotRevoke = 2,
}

impl Decision {
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The API name.
    pub const fn name(self) -> &'static str {
        match self {
            Decision::Revoke => "revoke",
            Decision::AlreadyRevoked => "already_revoked",
            Decision::CannotRevoke => "cannot_revoke",
        }
    }

    /// Every decision, in code order.
    pub const ALL: &'static [Decision] = &[
        Decision::Revoke,
        Decision::AlreadyRevoked,
        Decision::CannotRevoke,
    ];
}

/// A door byte that `revoke` cannot move.
const ILLEGAL: u8 = 0xff;

/// Per door byte (state code | online bit) of an access medium: the byte after `revoke`, or
/// [`ILLEGAL`]. Built once from the status engine's transition function.
static REVOKE_ACCESS_MEDIUM_ROW: LazyLock<[u8; 256]> = LazyLock::new(|| {
    let mut table = [ILLEGAL; 256];
    for (byte, slot) in (0u8..=255).zip(table.iter_mut()) {
        let Some(state) = DoorState::from_code(byte & !DOOR_ONLINE) else {
            continue;
        };
        if let Ok(next) = next_door_state(KeyType::AccessMedium, state, DoorEvent::Revoke) {
            *slot = next.code() | (byte & DOOR_ONLINE);
        }
    }
    table
});

/// Revokes one key given in the bulk encoding: `after` (as long as `doors`) receives its door
/// bytes after the revocation. Returns the decision; only [`Decision::Revoke`] changes rows.
#[inline]
pub(crate) fn revoke_key(key_type: u8, key_flags: u8, doors: &[u8], after: &mut [u8]) -> Decision {
    after.copy_from_slice(doors);
    if key_flags & flags::REVOKED != 0 {
        return Decision::AlreadyRevoked;
    }
    if key_type == KeyType::AccessMedium.code() {
        let table = &*REVOKE_ACCESS_MEDIUM_ROW;
        let mut illegal = false;
        for slot in after.iter_mut() {
            let next = table[usize::from(*slot)];
            illegal |= next == ILLEGAL;
            *slot = next;
        }
        if illegal {
            after.copy_from_slice(doors);
            return Decision::CannotRevoke;
        }
    }
    Decision::Revoke
}

/// Whether a row that was `before` and is `after` now is new work for its door (it moved to a
/// pending state, so the door gets a change carrying it).
#[inline]
pub(crate) fn is_door_work(before: u8, after: u8) -> bool {
    before != after && DOOR_BYTE_BITS[usize::from(after)] & door_bits::PENDING != 0
}

/// Bits of a [`ROW_CODES`] entry: the low four are the door summary bits of the row after
/// the revocation that the statuses read (`door_bits::PRESENT` .. `MANUAL_PENDING`).
pub(crate) const ROW_SUMMARY: u8 = door_bits::PRESENT
    | door_bits::DEPLOYMENT_PENDING
    | door_bits::PENDING
    | door_bits::MANUAL_PENDING;
/// `revoke` cannot move the row: the key cannot be revoked.
pub(crate) const ROW_REFUSES: u8 = 1 << 4;
/// The row becomes work for its door (it moves to a pending state).
pub(crate) const ROW_WORK: u8 = 1 << 5;
const _: () = assert!(ROW_SUMMARY & (ROW_REFUSES | ROW_WORK) == 0);

/// Per key type (index: its code) and door byte, what revoking the key does to that row, as
/// [`ROW_SUMMARY`] bits | [`ROW_REFUSES`] | [`ROW_WORK`]: the planner ORs one entry per row
/// into the key's decision and summary, with no branch on the key type (random from key to
/// key) or per row. Built once from [`revoke_key`]'s table and [`is_door_work`]; a digital
/// key's rows do not move. Bytes that are not door states never reach it (the status engine
/// rejects them first).
pub(crate) static ROW_CODES: LazyLock<[[u8; 256]; 2]> = LazyLock::new(|| {
    const _: () = assert!(KeyType::ALL.len() == 2);
    let mut codes = [[0u8; 256]; 2];
    for key_type in KeyType::ALL {
        let table = &mut codes[usize::from(key_type.code())];
        for (byte, slot) in (0u8..=255).zip(table.iter_mut()) {
            *slot = if *key_type == KeyType::AccessMedium {
                let next = REVOKE_ACCESS_MEDIUM_ROW[usize::from(byte)];
                if next == ILLEGAL {
                    ROW_REFUSES
                } else {
                    let work = if is_door_work(byte, next) {
                        ROW_WORK
                    } else {
                        0
                    };
                    DOOR_BYTE_BITS[usize::from(next)] & ROW_SUMMARY | work
                }
            } else {
                DOOR_BYTE_BITS[usize::from(byte)] & ROW_SUMMARY
            };
        }
    }
    codes
});

/// Per door byte, what the planner needs of the row for any key type, as one OR-able word:
/// the low byte is the row's summary bits now ([`DOOR_BYTE_BITS`]: the four the statuses read
/// and the two foreign bits that make a key invalid), the high byte the access medium's
/// [`ROW_CODES`] entry (the row after `revoke`). A digital key's rows do not move, so its
/// summary after is the low byte's. One fold per key gives the status now, the status after
/// and the decision; the key type is applied to the folded word, not per row.
pub(crate) static ROW_BITS: LazyLock<[u16; 256]> = LazyLock::new(|| {
    let access_medium = &ROW_CODES[usize::from(KeyType::AccessMedium.code())];
    let mut bits = [0u16; 256];
    for (byte, slot) in bits.iter_mut().enumerate() {
        *slot = u16::from(DOOR_BYTE_BITS[byte]) | u16::from(access_medium[byte]) << 8;
    }
    bits
});

/// General status, home-app status and home count slot of one key in the bulk encoding: the
/// situation the rules look at, read from the outcome table the rule functions filled.
#[inline]
pub(crate) fn outcome(
    key_type: u8,
    key_flags: u8,
    valid_from: i64,
    valid_until: i64,
    now: i64,
    doors: &[u8],
) -> Outcome {
    let mut summary = 0u8;
    for &d in doors {
        summary |= DOOR_BYTE_BITS[usize::from(d)];
    }
    outcome_of_summary(key_type, key_flags, valid_from, valid_until, now, summary)
}

/// [`outcome`] from the door summary bits (the OR of `DOOR_BYTE_BITS` over the key's rows).
#[inline]
pub(crate) fn outcome_of_summary(
    key_type: u8,
    key_flags: u8,
    valid_from: i64,
    valid_until: i64,
    now: i64,
    summary: u8,
) -> Outcome {
    let situation = Situation {
        digital_key: key_type == KeyType::DigitalKey.code(),
        revoked: key_flags & flags::REVOKED != 0,
        phone_blocked: key_flags & flags::PHONE_BLOCKED != 0,
        delivered: key_flags & flags::DELIVERED != 0,
        app_reloaded: key_flags & flags::APP_RELOADED != 0,
        has_schedule: key_flags & flags::HAS_SCHEDULE != 0,
        before_valid_from: now < valid_from,
        at_or_after_valid_until: valid_until != NO_END && now >= valid_until,
        any_door_present: summary & door_bits::PRESENT != 0,
        any_deployment_pending: summary & door_bits::DEPLOYMENT_PENDING != 0,
        any_door_pending: summary & door_bits::PENDING != 0,
        any_manual_pending: summary & door_bits::MANUAL_PENDING != 0,
    };
    OUTCOMES[situation.index()]
}

/// The first index of `values` that is not below `bound`. The common, valid case is one
/// branch-free maximum over the column (the compiler vectorises it: 20 MB of door indexes at
/// memory speed, where an early-exit search runs a compare and branch per entry); only an
/// invalid column is searched for the entry to name.
pub(crate) fn first_not_below(values: &[u32], bound: u32) -> Option<usize> {
    let max = values.iter().fold(0u32, |m, &v| m.max(v));
    if values.is_empty() || max < bound {
        return None;
    }
    values.iter().position(|&v| v >= bound)
}

/// Checks the door index column: one entry per door row, each below `door_count`.
pub(crate) fn check_door_index(
    door_index: &[u32],
    door_rows: usize,
    door_count: u32,
) -> Result<(), RevocationError> {
    if door_index.len() != door_rows {
        return Err(RevocationError::input(
            "door_index",
            format!(
                "door_index has {} entries for {door_rows} door rows",
                door_index.len()
            ),
        ));
    }
    if let Some(j) = first_not_below(door_index, door_count) {
        return Err(RevocationError::input(
            "door_index",
            format!(
                "door_index[{j}] = {} is not below door_count ({door_count})",
                door_index[j]
            ),
        ));
    }
    Ok(())
}
