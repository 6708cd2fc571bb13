//! Bulk evaluation over columnar input: the status of a million keys in a few milliseconds.
//!
//! Layout (one entry per key unless said otherwise):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `key_types` | u8 | [`KeyType`] code |
//! | `flags` | u8 | [`flags`] bits |
//! | `valid_from` | i64 | UTC seconds |
//! | `valid_until` | i64 | UTC seconds, [`NO_END`] for none |
//! | `door_offsets` | u32, n + 1 entries | key i's doors are `door_states[off[i]..off[i+1]]` |
//! | `door_states` | u8, one per (key, door) | [`DoorState`] code, bit 7 = door online |
//!
//! Everything is validated (lengths, offsets, codes, validity windows); on any error the
//! result is an error naming the column and the first bad key, never a partial result.
//!
//! The loop is built for throughput: per door one table load ORed into a summary byte, per
//! key a 12-bit situation index built with shifts and one load from the outcome table that
//! [`super::derive`]'s rule functions filled at compile time. Validity checks are ORed into a
//! flag rather than branched on; a chunk that raises the flag is re-walked slowly to report
//! the first error precisely.

use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;

use super::codes::{DoorState, GeneralStatus, HomeStatus, KeyType};
use super::derive::{foreign_bits, Outcome, DOOR_BYTE_BITS, DOOR_ONLINE, OUTCOMES};
use super::error::StatusError;

/// Bits of the per-key `flags` column.
pub mod flags {
    pub const REVOKED: u8 = 1 << 0;
    pub const PHONE_BLOCKED: u8 = 1 << 1;
    pub const DELIVERED: u8 = 1 << 2;
    pub const APP_RELOADED: u8 = 1 << 3;
    pub const HAS_SCHEDULE: u8 = 1 << 4;
    /// Every defined bit; the others must be zero.
    pub const KNOWN: u8 = 0x1f;
}

/// `valid_until` of a key without an end.
pub const NO_END: i64 = i64::MAX;

/// Keys per parallel task: large enough that scheduling costs nothing against the work
/// (~0.2 ms per chunk at 5 doors per key), small enough to balance two cores.
pub const CHUNK_KEYS: usize = 64 * 1024;

/// The largest thread count accepted (a guard against typos building huge pools).
pub const MAX_THREADS: usize = 256;

/// The columns of a batch, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct BulkInput<'a> {
    pub key_types: &'a [u8],
    pub flags: &'a [u8],
    pub valid_from: &'a [i64],
    pub valid_until: &'a [i64],
    pub door_offsets: &'a [u32],
    pub door_states: &'a [u8],
}

/// Status codes of every key, in input order, and how often each occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutput {
    /// [`GeneralStatus`] code per key.
    pub status: Vec<u8>,
    /// [`HomeStatus`] code per key, 255 ([`super::codes::NO_HOME_STATUS`]) for none.
    pub home_status: Vec<u8>,
    /// Count per general status code.
    pub status_counts: [u64; GeneralStatus::ALL.len()],
    /// Count per home-app status code, and in the last slot the keys without one.
    pub home_status_counts: [u64; HomeStatus::ALL.len() + 1],
}

/// Evaluates every key of `input` at `now`.
///
/// `threads`: `None` uses rayon's global pool (one thread per core) for batches of more than
/// one chunk; `Some(1)` runs on the calling thread; `Some(n)` runs on a pool of `n` threads
/// (built once per size and kept).
pub fn evaluate_bulk(
    input: &BulkInput<'_>,
    now: i64,
    threads: Option<usize>,
) -> Result<BulkOutput, StatusError> {
    check_shape(input)?;
    if let Some(t) = threads {
        if t == 0 || t > MAX_THREADS {
            return Err(StatusError::bulk(
                "threads",
                format!("threads must be between 1 and {MAX_THREADS}, got {t}"),
            ));
        }
    }
    let n = input.key_types.len();
    let mut status = vec![0u8; n];
    let mut home = vec![0u8; n];
    let sequential = threads == Some(1) || n <= CHUNK_KEYS;
    let counts = if sequential {
        run_chunk(input, 0, &mut status, &mut home, now).map_err(|()| first_error(input, 0))?
    } else {
        let mut run = || parallel(input, &mut status, &mut home, now);
        match threads {
            None => run(),
            Some(t) => pool(t)?.install(run),
        }?
    };
    Ok(BulkOutput {
        status,
        home_status: home,
        status_counts: counts.general(),
        home_status_counts: counts.home(),
    })
}

/// Column lengths and the offsets' two ends; per-key checks happen in the loop.
fn check_shape(input: &BulkInput<'_>) -> Result<(), StatusError> {
    let n = input.key_types.len();
    for (field, len) in [
        ("flags", input.flags.len()),
        ("valid_from", input.valid_from.len()),
        ("valid_until", input.valid_until.len()),
    ] {
        if len != n {
            return Err(StatusError::bulk(
                field,
                format!("{field} has {len} entries for {n} keys"),
            ));
        }
    }
    let offsets = input.door_offsets;
    if offsets.len() != n + 1 {
        return Err(StatusError::bulk(
            "door_offsets",
            format!(
                "door_offsets has {} entries, expected {} (keys + 1)",
                offsets.len(),
                n + 1
            ),
        ));
    }
    // Every door byte belongs to exactly one key, so every byte gets validated.
    let m = input.door_states.len();
    if offsets[0] != 0 || offsets[n] as usize != m {
        return Err(StatusError::bulk(
            "door_offsets",
            format!(
                "door_offsets must start at 0 and end at len(door_states) = {m}, got {} and {}",
                offsets[0], offsets[n]
            ),
        ));
    }
    Ok(())
}

fn parallel(
    input: &BulkInput<'_>,
    status: &mut [u8],
    home: &mut [u8],
    now: i64,
) -> Result<Counts, StatusError> {
    let results: Vec<Result<Counts, ()>> = status
        .par_chunks_mut(CHUNK_KEYS)
        .zip(home.par_chunks_mut(CHUNK_KEYS))
        .enumerate()
        .map(|(c, (s, h))| run_chunk(input, c * CHUNK_KEYS, s, h, now))
        .collect();
    let mut total = Counts::default();
    for (c, r) in results.into_iter().enumerate() {
        match r {
            Ok(counts) => total.add(&counts),
            // The first failing chunk holds the first bad key.
            Err(()) => return Err(first_error(input, c * CHUNK_KEYS)),
        }
    }
    Ok(total)
}

/// Counts per (general status, home slot) pair: one increment per key.
#[derive(Clone)]
struct Counts([u64; 64]);

impl Default for Counts {
    fn default() -> Self {
        Counts([0; 64])
    }
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    fn general(&self) -> [u64; GeneralStatus::ALL.len()] {
        let mut out = [0; GeneralStatus::ALL.len()];
        for (pair, count) in self.0.iter().enumerate() {
            if let Some(slot) = out.get_mut(pair >> 3) {
                *slot += count;
            }
        }
        out
    }

    fn home(&self) -> [u64; HomeStatus::ALL.len() + 1] {
        let mut out = [0; HomeStatus::ALL.len() + 1];
        for (pair, count) in self.0.iter().enumerate() {
            out[pair & 7] += count;
        }
        out
    }
}

/// Evaluates keys `first..first + status.len()`; `Err(())` if any of them is invalid.
fn run_chunk(
    input: &BulkInput<'_>,
    first: usize,
    status: &mut [u8],
    home: &mut [u8],
    now: i64,
) -> Result<Counts, ()> {
    let len = status.len();
    let end = first + len;
    let key_types = &input.key_types[first..end];
    let flag_bytes = &input.flags[first..end];
    let valid_from = &input.valid_from[first..end];
    let valid_until = &input.valid_until[first..end];
    let offsets = &input.door_offsets[first..=end];
    let doors = input.door_states;
    let home = &mut home[..len];
    let foreign = [
        foreign_bits(KeyType::AccessMedium),
        foreign_bits(KeyType::DigitalKey),
    ];
    let mut counts = Counts::default();
    let mut bad = false;
    let mut lo = offsets[0] as usize;
    for i in 0..len {
        let hi = offsets[i + 1] as usize;
        // `get` yields None when the offsets decrease or overrun; the key then reads no doors
        // and `bad` rejects the batch.
        let key_doors = doors.get(lo..hi);
        bad |= key_doors.is_none();
        let mut summary = 0u8;
        for &d in key_doors.unwrap_or(&[]) {
            summary |= DOOR_BYTE_BITS[usize::from(d)];
        }
        lo = hi;

        let kt = key_types[i];
        let fl = flag_bytes[i];
        let (from, until) = (valid_from[i], valid_until[i]);
        bad |= kt > 1;
        bad |= fl & !flags::KNOWN != 0;
        bad |= until != NO_END && until <= from;
        bad |= summary & foreign[usize::from(kt & 1)] != 0;

        let index = usize::from(kt & 1)
            | usize::from(fl & flags::KNOWN) << 1
            | usize::from(now < from) << 6
            | usize::from(until != NO_END && now >= until) << 7
            | usize::from(summary & 0x0f) << 8;
        let outcome: Outcome = OUTCOMES[index];
        status[i] = outcome[0];
        home[i] = outcome[1];
        counts.0[usize::from(outcome[0] & 7) << 3 | usize::from(outcome[2] & 7)] += 1;
    }
    if bad {
        Err(())
    } else {
        Ok(counts)
    }
}

/// The first error at or after key `from` (the fast loop found one), described precisely.
fn first_error(input: &BulkInput<'_>, from: usize) -> StatusError {
    let n = input.key_types.len();
    let m = input.door_states.len();
    for i in from..n {
        let (lo, hi) = (input.door_offsets[i], input.door_offsets[i + 1]);
        if hi < lo {
            return StatusError::bulk(
                "door_offsets",
                format!("door_offsets decrease at key {i} ({lo} then {hi})"),
            );
        }
        if hi as usize > m {
            return StatusError::bulk(
                "door_offsets",
                format!(
                    "door_offsets[{}] = {hi} is past the end of door_states ({m})",
                    i + 1
                ),
            );
        }
        let Some(key_type) = KeyType::from_code(input.key_types[i]) else {
            return StatusError::bulk(
                "key_types",
                format!("unknown key type code {} at key {i}", input.key_types[i]),
            );
        };
        let unknown_flags = input.flags[i] & !flags::KNOWN;
        if unknown_flags != 0 {
            return StatusError::bulk(
                "flags",
                format!("undefined flag bits {unknown_flags:#04x} at key {i}"),
            );
        }
        let (valid_from, valid_until) = (input.valid_from[i], input.valid_until[i]);
        if valid_until != NO_END && valid_until <= valid_from {
            return StatusError::bulk(
                "valid_until",
                format!("valid_until ({valid_until}) <= valid_from ({valid_from}) at key {i}"),
            );
        }
        for j in lo as usize..hi as usize {
            let byte = input.door_states[j];
            match DoorState::from_code(byte & !DOOR_ONLINE) {
                None => {
                    return StatusError::bulk(
                        "door_states",
                        format!(
                            "unknown door state code {} at door {j} (key {i})",
                            byte & !DOOR_ONLINE
                        ),
                    )
                }
                Some(state) if !key_type.allows(state) => {
                    return StatusError::bulk(
                        "door_states",
                        format!(
                            "a door row of a {key_type} is never `{state}`: door {j} (key {i})"
                        ),
                    )
                }
                Some(_) => {}
            }
        }
    }
    // Unreachable when the fast loop flagged an error; kept total rather than panicking.
    StatusError::bulk("door_states", "invalid bulk input")
}

/// A pool of exactly `threads` threads, built on first use and kept for later calls.
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, StatusError> {
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(Arc::clone(p));
    }
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("keyworker-status-{i}"))
        .build()
        .map_err(|e| {
            StatusError::bulk("threads", format!("cannot start {threads} threads: {e}"))
        })?;
    let built = Arc::new(built);
    pools.push((threads, Arc::clone(&built)));
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::super::codes::NO_HOME_STATUS;
    use super::super::derive::door_bits;
    use super::*;

    const FOREIGN_MASK: u8 =
        door_bits::FOREIGN_TO_ACCESS_MEDIUM | door_bits::FOREIGN_TO_DIGITAL_KEY;

    /// A small, valid batch: owned columns and a borrowed view.
    #[derive(Clone, Default)]
    struct Columns {
        key_types: Vec<u8>,
        flags: Vec<u8>,
        valid_from: Vec<i64>,
        valid_until: Vec<i64>,
        door_offsets: Vec<u32>,
        door_states: Vec<u8>,
    }

    impl Columns {
        fn push(&mut self, key_type: u8, flags: u8, from: i64, until: i64, doors: &[u8]) {
            if self.door_offsets.is_empty() {
                self.door_offsets.push(0);
            }
            self.key_types.push(key_type);
            self.flags.push(flags);
            self.valid_from.push(from);
            self.valid_until.push(until);
            self.door_states.extend_from_slice(doors);
            self.door_offsets.push(self.door_states.len() as u32);
        }

        fn input(&self) -> BulkInput<'_> {
            BulkInput {
                key_types: &self.key_types,
                flags: &self.flags,
                valid_from: &self.valid_from,
                valid_until: &self.valid_until,
                door_offsets: &self.door_offsets,
                door_states: &self.door_states,
            }
        }
    }

    const NOW: i64 = 1_700_000_000;
    const ON: u8 = DOOR_ONLINE;

    fn sample() -> Columns {
        let mut c = Columns::default();
        // Access medium, one manual door pending: door update pending / please update.
        c.push(0, 0, NOW - 10, NO_END, &[1, 2 | ON]);
        // Access medium, all deployed, scheduled: active / time_day.
        c.push(0, flags::HAS_SCHEDULE, NOW - 10, NO_END, &[2, 2 | ON]);
        // Digital key delivered, phone blocked: deployed / blocked.
        c.push(
            1,
            flags::DELIVERED | flags::PHONE_BLOCKED,
            NOW,
            NOW + 1,
            &[5, 6 | ON],
        );
        // Digital key revoked and reloaded: revoked / none.
        c.push(
            1,
            flags::REVOKED | flags::DELIVERED | flags::APP_RELOADED,
            0,
            NO_END,
            &[4],
        );
        // Access medium without doors before move-in: planned / none.
        c.push(0, 0, NOW + 1, NO_END, &[]);
        c
    }

    #[test]
    fn evaluates_and_counts() {
        let c = sample();
        let out = evaluate_bulk(&c.input(), NOW, None).unwrap();
        assert_eq!(out.status, [2, 1, 6, 4, 0]);
        assert_eq!(out.home_status, [3, 1, 6, NO_HOME_STATUS, NO_HOME_STATUS]);
        assert_eq!(out.status_counts, [1, 1, 1, 0, 1, 0, 1]);
        assert_eq!(out.home_status_counts, [0, 1, 0, 1, 0, 0, 1, 2]);
        assert_eq!(evaluate_bulk(&c.input(), NOW, Some(3)).unwrap(), out);
    }

    #[test]
    fn empty_batch_is_fine() {
        let mut c = Columns::default();
        c.door_offsets.push(0);
        let out = evaluate_bulk(&c.input(), NOW, None).unwrap();
        assert!(out.status.is_empty());
        assert_eq!(out.status_counts, [0; 7]);
    }

    fn error_of(c: &Columns) -> (String, String) {
        match evaluate_bulk(&c.input(), NOW, None).unwrap_err() {
            StatusError::InvalidBulkInput { field, reason } => (field, reason),
            other => panic!("not a bulk input error: {other:?}"),
        }
    }

    #[test]
    fn column_lengths_must_agree() {
        let mut c = sample();
        c.flags.pop();
        assert_eq!(error_of(&c).0, "flags");
        let mut c = sample();
        c.valid_from.push(0);
        assert_eq!(error_of(&c).0, "valid_from");
        let mut c = sample();
        c.valid_until.clear();
        assert_eq!(error_of(&c).0, "valid_until");
        let mut c = sample();
        c.door_offsets.pop();
        assert_eq!(error_of(&c).0, "door_offsets");
    }

    #[test]
    fn offsets_must_cover_the_door_states_in_order() {
        let mut c = sample();
        c.door_states.push(2);
        assert!(error_of(&c).1.contains("end at len(door_states)"));
        let mut c = sample();
        c.door_offsets[0] = 1;
        assert_eq!(error_of(&c).0, "door_offsets");
        let mut c = sample();
        c.door_offsets[2] = 1; // 0, 2, 1, ...: decreases at key 1
        let (field, reason) = error_of(&c);
        assert_eq!(field, "door_offsets");
        assert!(reason.contains("key 1"), "{reason}");
        let mut c = sample();
        c.door_offsets[1] = 100; // past the end, then back
        let (field, reason) = error_of(&c);
        assert_eq!(field, "door_offsets");
        assert!(
            reason.contains("door_offsets[1] = 100 is past the end"),
            "{reason}"
        );
    }

    #[test]
    fn codes_must_be_known() {
        let mut c = sample();
        c.key_types[3] = 2;
        let (field, reason) = error_of(&c);
        assert_eq!(field, "key_types");
        assert!(reason.contains("key 3"));
        let mut c = sample();
        c.flags[1] |= 0x20;
        assert_eq!(error_of(&c).0, "flags");
        let mut c = sample();
        c.door_states[3] = 8 | ON;
        let (field, reason) = error_of(&c);
        assert_eq!(field, "door_states");
        assert!(reason.contains("door 3 (key 1)"), "{reason}");
        // A blocklist state at an access medium's door.
        let mut c = sample();
        c.door_states[0] = 6;
        assert!(error_of(&c).1.contains("never `blocked`"));
        // A deployment state at a digital key's door.
        let mut c = sample();
        c.door_states[6] = 1;
        assert_eq!(error_of(&c).0, "door_states");
    }

    #[test]
    fn validity_must_end_after_it_starts() {
        let mut c = sample();
        c.valid_until[2] = c.valid_from[2];
        let (field, reason) = error_of(&c);
        assert_eq!(field, "valid_until");
        assert!(reason.contains("key 2"));
    }

    #[test]
    fn the_first_bad_key_is_reported_even_across_chunks() {
        let mut c = Columns::default();
        for i in 0..3 * CHUNK_KEYS {
            c.push((i % 2) as u8, 0, NOW, NO_END, &[2]);
        }
        c.key_types[2 * CHUNK_KEYS + 5] = 9;
        c.valid_until[CHUNK_KEYS + 7] = 0;
        for threads in [None, Some(1), Some(2)] {
            let e = evaluate_bulk(&c.input(), NOW, threads).unwrap_err();
            assert_eq!(e.field(), Some("valid_until"));
            assert!(e.to_string().contains(&format!("key {}", CHUNK_KEYS + 7)));
        }
    }

    #[test]
    fn thread_counts_are_checked() {
        let c = sample();
        for t in [0, MAX_THREADS + 1] {
            let e = evaluate_bulk(&c.input(), NOW, Some(t)).unwrap_err();
            assert_eq!(e.field(), Some("threads"));
        }
    }

    #[test]
    fn foreign_and_unknown_door_bytes_are_flagged_in_the_table() {
        for b in 0..=255u8 {
            let bits = DOOR_BYTE_BITS[usize::from(b)];
            match DoorState::from_code(b & !ON) {
                None => assert_eq!(bits & FOREIGN_MASK, FOREIGN_MASK),
                Some(s) => {
                    assert_eq!(
                        bits & door_bits::FOREIGN_TO_ACCESS_MEDIUM == 0,
                        KeyType::AccessMedium.allows(s)
                    );
                    assert_eq!(
                        bits & door_bits::FOREIGN_TO_DIGITAL_KEY == 0,
                        KeyType::DigitalKey.allows(s)
                    );
                }
            }
        }
    }
}
