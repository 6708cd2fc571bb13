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

/// For an access medium that can be revoked: whether each door byte becomes work for its door.
static ACCESS_MEDIUM_ROW_IS_WORK: LazyLock<[bool; 256]> = LazyLock::new(|| {
    let table = &*REVOKE_ACCESS_MEDIUM_ROW;
    let mut work = [false; 256];
    for (byte, slot) in (0u8..=255).zip(work.iter_mut()) {
        let next = table[usize::from(byte)];
        *slot = next != ILLEGAL && is_door_work(byte, next);
    }
    work
});

/// [`revoke_key`] without writing the rows: the decision and the door summary bits of the
/// rows after (for [`outcome_of_summary`]). The planner's fast path.
#[inline]
pub(crate) fn revoke_summary(
    tables: &RowTables,
    key_type: u8,
    key_flags: u8,
    doors: &[u8],
) -> (Decision, u8) {
    let mut summary = 0u8;
    if key_flags & flags::REVOKED != 0 {
        return (Decision::AlreadyRevoked, summary);
    }
    if key_type == KeyType::AccessMedium.code() {
        let table = tables.revoke;
        let mut illegal = false;
        for &b in doors {
            let next = table[usize::from(b)];
            illegal |= next == ILLEGAL;
            summary |= DOOR_BYTE_BITS[usize::from(next)];
        }
        if illegal {
            return (Decision::CannotRevoke, 0);
        }
    } else {
        for &b in doors {
            summary |= DOOR_BYTE_BITS[usize::from(b)];
        }
    }
    (Decision::Revoke, summary)
}

/// Whether the row `byte` of a key being revoked (decision [`Decision::Revoke`]) becomes work
/// for its door.
#[inline]
pub(crate) fn row_is_work(tables: &RowTables, key_type: u8, byte: u8) -> bool {
    key_type == KeyType::AccessMedium.code() && tables.work[usize::from(byte)]
}

/// The per-byte tables, fetched once per pass rather than through their lazy cells per row.
#[derive(Clone, Copy)]
pub(crate) struct RowTables {
    revoke: &'static [u8; 256],
    work: &'static [bool; 256],
}

impl RowTables {
    pub(crate) fn get() -> Self {
        RowTables {
            revoke: &REVOKE_ACCESS_MEDIUM_ROW,
            work: &ACCESS_MEDIUM_ROW_IS_WORK,
        }
    }
}

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
    if let Some(j) = door_index.iter().position(|&d| d >= door_count) {
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
