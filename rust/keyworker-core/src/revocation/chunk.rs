//! One chunk of a revocation run: what the worker writes for each key and each door.
//!
//! Input: the chunk's keys as the worker has just read them (status columns) and, per door
//! row, the door's index in the chunk's own door list. Output, per key: the decision, the door
//! states after, the statuses before and after (the audit event's snapshots and the stored
//! index copy); per door: the keys whose row there becomes work for the door, which is the
//! content of the one door change (version) the worker writes for that door in this chunk.

use crate::status::bulk::{self, flags, BulkInput};
use crate::status::derive::DOOR_ONLINE;

use super::{check_door_index, is_door_work, outcome, revoke_key, Decision, RevocationError};

/// A chunk's keys in the bulk encoding, and each door row's door (index into the chunk's door
/// list).
#[derive(Debug, Clone, Copy)]
pub struct ChunkInput<'a> {
    pub keys: BulkInput<'a>,
    pub door_index: &'a [u32],
    pub door_count: u32,
}

/// What revoking the chunk's keys does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkResult {
    /// [`Decision`] code per key.
    pub decisions: Vec<u8>,
    /// Door state code per door row after the revocation (rows of keys not revoked keep
    /// theirs); the online bit is dropped.
    pub door_states: Vec<u8>,
    /// General and home-app status codes per key, before and after (255: no home status).
    pub status_before: Vec<u8>,
    pub home_before: Vec<u8>,
    pub status_after: Vec<u8>,
    pub home_after: Vec<u8>,
    /// Per door of the chunk's door list, the keys (indexes, ascending) whose row there
    /// becomes work for the door: door `d`'s are `door_keys[door_key_offsets[d]..
    /// door_key_offsets[d + 1]]`.
    pub door_key_offsets: Vec<u32>,
    pub door_keys: Vec<u32>,
}

/// Revokes the chunk's keys at `now` (on the calling thread: a chunk is small).
pub fn revoke_chunk(input: &ChunkInput<'_>, now: i64) -> Result<ChunkResult, RevocationError> {
    let keys = &input.keys;
    let before = bulk::evaluate_bulk(keys, now, Some(1))?;
    check_door_index(input.door_index, keys.door_states.len(), input.door_count)?;
    let n = keys.key_types.len();
    let mut result = ChunkResult {
        decisions: Vec::with_capacity(n),
        door_states: Vec::with_capacity(keys.door_states.len()),
        status_before: before.status,
        home_before: before.home_status,
        status_after: Vec::with_capacity(n),
        home_after: Vec::with_capacity(n),
        door_key_offsets: vec![0; input.door_count as usize + 1],
        door_keys: Vec::new(),
    };
    let mut work: Vec<(u32, u32)> = Vec::new();
    let mut after = Vec::with_capacity(16);
    for i in 0..n {
        let rows = keys.door_offsets[i] as usize..keys.door_offsets[i + 1] as usize;
        let door_bytes = &keys.door_states[rows.clone()];
        after.resize(door_bytes.len(), 0);
        let (kt, fl) = (keys.key_types[i], keys.flags[i]);
        let decision = revoke_key(kt, fl, door_bytes, &mut after);
        result.decisions.push(decision.code());
        result
            .door_states
            .extend(after.iter().map(|&a| a & !DOOR_ONLINE));
        if decision == Decision::Revoke {
            let [general, home, _] = outcome(
                kt,
                fl | flags::REVOKED,
                keys.valid_from[i],
                keys.valid_until[i],
                now,
                &after,
            );
            result.status_after.push(general);
            result.home_after.push(home);
            for ((&b, &a), &d) in door_bytes.iter().zip(&after).zip(&input.door_index[rows]) {
                if is_door_work(b, a) {
                    work.push((d, i as u32));
                }
            }
        } else {
            result.status_after.push(result.status_before[i]);
            result.home_after.push(result.home_before[i]);
        }
    }
    // Group by door; a key has at most one row per door, and keys come in ascending order.
    work.sort_unstable();
    for &(d, _) in &work {
        result.door_key_offsets[d as usize + 1] += 1;
    }
    for d in 1..result.door_key_offsets.len() {
        result.door_key_offsets[d] += result.door_key_offsets[d - 1];
    }
    result.door_keys = work.into_iter().map(|(_, k)| k).collect();
    Ok(result)
}
