//! The plan of a revocation run, from the columnar state of a site's keys.
//!
//! A dry run shows it; a real run executes it chunk by chunk. It answers: how many keys the
//! selector takes, by current status; how many are skipped (already revoked) or cannot be
//! revoked; how many complete at once (their status after revocation is already `revoked`);
//! how many digital keys then wait for an app reload; per door, how many rows become work for
//! it (revocation pending) and how many door versions (changes) the run adds there.
//!
//! Chunks: the keys to revoke are cut into chunks of `chunk_size`, in an order that keeps the
//! keys of one door together. A worker writes one door change (one version bump) per door per
//! chunk, so each key is grouped under its most specific door with work (the door with the
//! fewest keys to revoke, i.e. the flat's own door rather than the entrance): keys sharing a
//! unit door then share its change, and only doors shared by many keys (entrances, garages)
//! get a change in most chunks. The grouping is a counting sort, O(keys + doors).

use crate::status::bulk::{self, BulkInput, NO_END};
use crate::status::codes::{GeneralStatus, KeyType};
use crate::status::derive::{foreign_bits, OUTCOMES, SITUATIONS};

use rayon::prelude::*;

use super::{
    check_door_index, first_not_below, RevocationError, ROW_BITS, ROW_CODES, ROW_REFUSES,
    ROW_SUMMARY, ROW_WORK,
};

/// Keys per chunk unless told otherwise: about a second of worker time against DynamoDB, and
/// one BatchGetItem (100 keys) to read them.
pub const DEFAULT_CHUNK_KEYS: usize = 100;
/// The largest chunk accepted; a chunk is one job that must finish within a worker's time
/// limit.
pub const MAX_CHUNK_KEYS: usize = 10_000;

/// The planner's input: the status columns of candidate keys plus two index columns.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub keys: BulkInput<'a>,
    /// Per door row (parallel to `keys.door_states`): the door's index in the site's door list.
    pub door_index: &'a [u32],
    /// How many doors the site's door list has (every `door_index` is below it).
    pub door_count: u32,
    /// Per key: the keyholder's index in a list of holders.
    pub holder_index: &'a [u32],
    /// How many holders that list has.
    pub holder_count: u32,
}

/// Which of the candidate keys the run is about, before the type and status filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Every candidate (all keys of a site, or keys found by id or phone number).
    All,
    /// Keys with a door row at one of these doors (indexes into the door list).
    Doors(&'a [u32]),
    /// Keys of one of these keyholders (indexes into the holder list).
    Holders(&'a [u32]),
}

/// A selector: a target, optionally narrowed by key type and current general status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector<'a> {
    pub target: Target<'a>,
    /// Bit `k` set: keys of type code `k` are taken. 0 takes every type.
    pub key_types: u8,
    /// Bit `s` set: keys whose current general status has code `s` are taken. 0 takes every
    /// status.
    pub statuses: u8,
}

impl Selector<'_> {
    /// Every key the target names, whatever its type and status.
    pub const ALL: Selector<'static> = Selector {
        target: Target::All,
        key_types: 0,
        statuses: 0,
    };
}

/// What a run with this selector does, and the order and chunks it does it in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Keys the selector takes.
    pub selected: u64,
    /// Selected keys by current general status (index = status code).
    pub status_counts: [u64; GeneralStatus::ALL.len()],
    /// Selected keys by general status after the run (skipped keys keep theirs).
    pub status_after_counts: [u64; GeneralStatus::ALL.len()],
    /// Selected keys already revoked: skipped.
    pub already_revoked: u64,
    /// Selected keys that cannot be revoked (a door row refuses `revoke`), by key index.
    pub cannot_revoke: Vec<u32>,
    /// Keys revoked whose status is `revoked` at once (no door still holds them).
    pub complete_at_once: u64,
    /// Digital keys revoked that wait for their app to reload its key list.
    pub app_reload_waits: u64,
    /// Keys to revoke (key indexes) in execution order: chunk `c` is
    /// `order[chunk_offsets[c]..chunk_offsets[c + 1]]`.
    pub order: Vec<u32>,
    pub chunk_offsets: Vec<u32>,
    /// Per door of the door list: rows of revoked keys that become work for the door.
    pub door_rows: Vec<u32>,
    /// Per door of the door list: door changes (versions) the run adds, one per chunk with
    /// work for the door.
    pub door_changes: Vec<u32>,
}

impl Plan {
    /// Number of chunks.
    pub fn chunks(&self) -> usize {
        self.chunk_offsets.len().saturating_sub(1)
    }
}

/// A set of small indexes (doors or holders), as bits.
struct IndexSet(Vec<u64>);

impl IndexSet {
    fn new(members: &[u32], size: u32, field: &str) -> Result<Self, RevocationError> {
        let mut bits = vec![0u64; (size as usize).div_ceil(64)];
        for (i, &m) in members.iter().enumerate() {
            if m >= size {
                return Err(RevocationError::input(
                    field,
                    format!("{field}[{i}] = {m} is not below {size}"),
                ));
            }
            bits[m as usize / 64] |= 1 << (m % 64);
        }
        Ok(IndexSet(bits))
    }

    #[inline]
    fn contains(&self, m: u32) -> bool {
        self.0[m as usize / 64] & (1 << (m % 64)) != 0
    }
}

/// A set of key indexes, as bits: the keys with door work that also have a row that is not
/// work (rare: the passes after the scan skip the per-row test of the others).
#[derive(Default)]
struct KeySet(Vec<u64>);

impl KeySet {
    fn new(keys: usize) -> Self {
        KeySet(vec![0; keys.div_ceil(64)])
    }

    #[inline(always)]
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    #[inline(always)]
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn union(&mut self, other: &KeySet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// The planner's own checks of its input and options, in the order they are reported.
/// `door_values`: whether to check every door index too (the scan checks them on the way, and
/// this runs with them only to name a bad one); the length is always checked.
fn check(
    input: &PlanInput<'_>,
    selector: &Selector<'_>,
    chunk_size: usize,
    door_values: bool,
) -> Result<(), RevocationError> {
    let n = input.keys.key_types.len();
    let rows = input.keys.door_states.len();
    if door_values {
        check_door_index(input.door_index, rows, input.door_count)?;
    } else if input.door_index.len() != rows {
        // `check_door_index`'s first check.
        check_door_index(input.door_index, rows, 0)?;
    }
    if input.holder_index.len() != n {
        return Err(RevocationError::input(
            "holder_index",
            format!(
                "holder_index has {} entries for {n} keys",
                input.holder_index.len()
            ),
        ));
    }
    if let Some(i) = first_not_below(input.holder_index, input.holder_count) {
        return Err(RevocationError::input(
            "holder_index",
            format!(
                "holder_index[{i}] = {} is not below holder_count ({})",
                input.holder_index[i], input.holder_count
            ),
        ));
    }
    let type_bits = (1u8 << KeyType::ALL.len()) - 1;
    if selector.key_types & !type_bits != 0 {
        return Err(RevocationError::input(
            "key_types",
            format!(
                "key type mask {:#04x} has bits for no key type",
                selector.key_types
            ),
        ));
    }
    let status_bits = (1u8 << GeneralStatus::ALL.len()) - 1;
    if selector.statuses & !status_bits != 0 {
        return Err(RevocationError::input(
            "statuses",
            format!(
                "status mask {:#04x} has bits for no general status",
                selector.statuses
            ),
        ));
    }
    if !(1..=MAX_CHUNK_KEYS).contains(&chunk_size) {
        return Err(RevocationError::input(
            "chunk_size",
            format!("chunk_size must be between 1 and {MAX_CHUNK_KEYS}, got {chunk_size}"),
        ));
    }
    Ok(())
}

/// Keys below this count are planned on the calling thread (splitting costs more than it
/// saves).
pub(crate) const PARALLEL_KEYS: usize = 64 * 1024;

/// What one part of the keys contributes to a plan (merged in key order).
#[derive(Default)]
struct Part {
    /// A key of the part is invalid (the status engine's per-key checks): the rest is
    /// meaningless, and the plan is the status engine's error for the first bad key.
    bad: bool,
    /// A door index of the part is not below the door count: the rest is meaningless.
    bad_door: bool,
    selected: u64,
    status_counts: [u64; GeneralStatus::ALL.len()],
    status_after_counts: [u64; GeneralStatus::ALL.len()],
    already_revoked: u64,
    cannot_revoke: Vec<u32>,
    complete_at_once: u64,
    app_reload_waits: u64,
    /// Keys to revoke with a row that becomes work for its door (access media), ascending.
    with_work: Vec<u32>,
    /// Keys to revoke without (digital keys, and cards whose rows all stay), ascending; with
    /// room for `with_work` too (the order is built in this buffer).
    without_work: Vec<u32>,
    door_rows: Vec<u32>,
    /// Every key of the part has this many rows (`offsets` advance by it throughout).
    stride: Option<u32>,
    /// The keys of `with_work` with a row that is not work (by key index, over all keys).
    rows_stay: KeySet,
}

// The scan's status histograms have eight slots.
const _: () = assert!(GeneralStatus::ALL.len() <= 8);

/// Where a key's rows are in the door row columns.
trait KeyRows: Copy {
    /// Key `i`'s rows: `lo..hi`.
    fn of(self, i: usize) -> (usize, usize);
}

/// Any keys: read from the offsets column.
#[derive(Clone, Copy)]
struct ByOffsets<'a>(&'a [u32]);

impl KeyRows for ByOffsets<'_> {
    #[inline(always)]
    fn of(self, i: usize) -> (usize, usize) {
        (self.0[i] as usize, self.0[i + 1] as usize)
    }
}

/// Keys from `first` on with `N` rows each, the first's at `base` (the offsets advance by `N`
/// there: checked by the scan): the row loops have a known trip count (unrolled, no loop
/// branch) and no offsets are loaded.
#[derive(Clone, Copy)]
struct Strided<const N: usize> {
    base: usize,
    first: usize,
}

impl<const N: usize> KeyRows for Strided<N> {
    #[inline(always)]
    fn of(self, i: usize) -> (usize, usize) {
        let lo = self.base + (i - self.first) * N;
        (lo, lo + N)
    }
}

/// `$body` with `$rows` the [`KeyRows`] of keys from `$first` on: [`Strided`] when they all
/// have `$stride` rows (1 to 8, `Some`), the first's at `$base`; else [`ByOffsets`].
macro_rules! with_rows {
    ($stride:expr, $offsets:expr, $base:expr, $first:expr, |$rows:ident| $body:expr) => {{
        let (base, first) = ($base, $first);
        match $stride {
            Some(1) => {
                let $rows = Strided::<1> { base, first };
                $body
            }
            Some(2) => {
                let $rows = Strided::<2> { base, first };
                $body
            }
            Some(3) => {
                let $rows = Strided::<3> { base, first };
                $body
            }
            Some(4) => {
                let $rows = Strided::<4> { base, first };
                $body
            }
            Some(5) => {
                let $rows = Strided::<5> { base, first };
                $body
            }
            Some(6) => {
                let $rows = Strided::<6> { base, first };
                $body
            }
            Some(7) => {
                let $rows = Strided::<7> { base, first };
                $body
            }
            Some(8) => {
                let $rows = Strided::<8> { base, first };
                $body
            }
            _ => {
                let _ = (base, first);
                let $rows = ByOffsets($offsets);
                $body
            }
        }
    }};
}

/// Everything the passes read.
struct Context<'a> {
    input: &'a PlanInput<'a>,
    selector: &'a Selector<'a>,
    target: Option<(IndexSet, bool)>,
    now: i64,
    row_codes: &'a [[u8; 256]; 2],
    row_bits: &'a [u16; 256],
}

impl Context<'_> {
    /// Validation, statuses now, selection, decision, statuses after and rows per door, for
    /// keys `range`.
    ///
    /// Built for a million keys in a few milliseconds, in blocks of [`SCAN_BLOCK`] keys and
    /// three short loops per block (few live values each, so no spills to the stack): per row
    /// one entry of [`ROW_BITS`] ORed into one word per key (unrolled for blocks whose keys
    /// all have the same number of rows, the common case); per key, without a branch, the
    /// status engine's checks (`evaluate_bulk`'s, ORed into [`Part::bad`]), the status now
    /// and after from the word (the key type applied to the word, not per row) and the
    /// decision as bits ([`decide_keys`]); then the selection and the counts, the keys to
    /// revoke sorted into two lists without a branch ([`take_every_key`] when the selector
    /// takes every key); then the row counts of the block's keys with door work, noting the
    /// rare ones with a row that stays ([`Part::rows_stay`]). The remaining branches (the
    /// selection, a key that cannot be revoked) follow long runs in real sites.
    fn scan(&self, range: std::ops::Range<usize>) -> Part {
        let keys = &self.input.keys;
        let offsets = keys.door_offsets;
        let selector = self.selector;
        let row_bits = self.row_bits;
        let now = self.now;
        let filtered = self.target.is_some() || selector.key_types != 0 || selector.statuses != 0;
        let len = range.len();
        // Counts live in locals. The status histograms are eight byte-wide counters packed in
        // a word each (emptied every 255 keys): a run of keys with the same status then adds
        // in a register instead of waiting on one counter in memory key after key.
        let mut door_rows = vec![0u32; self.input.door_count as usize];
        let mut rows_stay = KeySet::new(keys.key_types.len());
        let mut with_work: Vec<u32> = Vec::with_capacity(len);
        let mut without_work: Vec<u32> = Vec::with_capacity(len);
        let (mut with_len, mut without_len) = (0usize, 0usize);
        let mut cannot_revoke = Vec::new();
        let mut before_counts = [0u64; 8];
        let mut after_counts = [0u64; 8];
        let (mut before_packed, mut after_packed, mut packed_keys) = (0u64, 0u64, 0u32);
        let (mut selected, mut already_revoked) = (0u64, 0u64);
        let (mut complete_at_once, mut app_reload_waits) = (0u64, 0u64);
        let mut bad = false;
        let mut bad_door = false;
        // The row count every key of the blocks so far has, if they all have the same.
        let (mut stride, mut mixed) = (None, false);
        let door_count = self.input.door_count;
        let mut words = [0u16; SCAN_BLOCK];
        let mut status = [0u8; SCAN_BLOCK];
        let mut after = [0u8; SCAN_BLOCK];
        let mut decision = [0u8; SCAN_BLOCK];
        {
            let with_slots = &mut with_work.spare_capacity_mut()[..len];
            let without_slots = &mut without_work.spare_capacity_mut()[..len];
            for a in range.clone().step_by(SCAN_BLOCK) {
                let b = (a + SCAN_BLOCK).min(range.end);
                let k = b - a;
                let block_offsets = &offsets[a..=b];
                // Offsets start at 0 and end at len(door_states) (checked up front) and never
                // decrease (checked here): then every key's rows lie inside door_states.
                let step = block_offsets[1].wrapping_sub(block_offsets[0]);
                let (decreasing, uniform) =
                    block_offsets
                        .windows(2)
                        .fold((false, true), |(decreasing, uniform), w| {
                            (
                                decreasing | (w[1] < w[0]),
                                uniform & (w[1].wrapping_sub(w[0]) == step),
                            )
                        });
                if decreasing {
                    bad = true;
                    break;
                }
                match (uniform, stride) {
                    (true, None) => stride = Some(step),
                    (true, Some(s)) if s == step => {}
                    _ => mixed = true,
                }
                let (lo, hi) = (block_offsets[0] as usize, block_offsets[k] as usize);
                // The door indexes' check (`check_door_index`'s), per block instead of a pass
                // of its own over the column: a vectorised OR of "not below" (a compare and
                // an OR per lane; an unsigned maximum takes a blend more without SSE4.1).
                let above = self.input.door_index[lo..hi]
                    .iter()
                    .fold(0u32, |m, &d| m | u32::from(d >= door_count));
                if above != 0 {
                    bad_door = true;
                    break;
                }
                let rows = &keys.door_states[lo..hi];
                let words = &mut words[..k];
                match (uniform, step) {
                    (true, 0) => words.fill(0),
                    (true, 1) => fold_rows::<1>(rows, row_bits, words),
                    (true, 2) => fold_rows::<2>(rows, row_bits, words),
                    (true, 3) => fold_rows::<3>(rows, row_bits, words),
                    (true, 4) => fold_rows::<4>(rows, row_bits, words),
                    (true, 5) => fold_rows::<5>(rows, row_bits, words),
                    (true, 6) => fold_rows::<6>(rows, row_bits, words),
                    (true, 7) => fold_rows::<7>(rows, row_bits, words),
                    (true, 8) => fold_rows::<8>(rows, row_bits, words),
                    _ => fold_keys(rows, block_offsets, row_bits, words),
                }

                bad |= decide_keys(
                    now,
                    Columns {
                        key_types: &keys.key_types[a..b],
                        flags: &keys.flags[a..b],
                        valid_from: &keys.valid_from[a..b],
                        valid_until: &keys.valid_until[a..b],
                        words,
                    },
                    &mut status[..k],
                    &mut after[..k],
                    &mut decision[..k],
                );

                let block_with = with_len;
                if filtered {
                    for (k, ((&kt, &now_status), (&after_status, &d))) in keys.key_types[a..b]
                        .iter()
                        .zip(&status[..k])
                        .zip(after[..k].iter().zip(&decision[..k]))
                        .enumerate()
                    {
                        let i = a + k;
                        if !self.takes(i, kt, now_status) {
                            continue;
                        }
                        selected += 1;
                        if packed_keys == 255 {
                            unpack_counts(&mut before_counts, before_packed);
                            unpack_counts(&mut after_counts, after_packed);
                            (before_packed, after_packed, packed_keys) = (0, 0, 0);
                        }
                        packed_keys += 1;
                        before_packed += 1 << (8 * (now_status & 7));
                        after_packed += 1 << (8 * (after_status & 7));
                        already_revoked += u64::from(d & decide::ALREADY != 0);
                        if d & decide::REFUSED != 0 {
                            cannot_revoke.push(i as u32);
                        }
                        complete_at_once += u64::from(d & decide::COMPLETE != 0);
                        app_reload_waits += u64::from(d & decide::APP_RELOAD != 0);
                        // Written to both lists, kept by the one whose length moves on.
                        with_slots[with_len].write(i as u32);
                        without_slots[without_len].write(i as u32);
                        with_len += usize::from(d & decide::WORK != 0);
                        without_len += usize::from(d & decide::NO_WORK != 0);
                    }
                } else {
                    // Every key is taken.
                    selected += k as u64;
                    let mut lists = Lists {
                        with_slots: &mut *with_slots,
                        without_slots: &mut *without_slots,
                        with_len,
                        without_len,
                        cannot_revoke: &mut cannot_revoke,
                    };
                    let mut counts = Counts {
                        status: &mut before_counts,
                        after: &mut after_counts,
                        decided: [0; 8],
                    };
                    take_every_key(
                        a as u32,
                        &status[..k],
                        &after[..k],
                        &decision[..k],
                        &mut lists,
                        &mut counts,
                    );
                    (with_len, without_len) = (lists.with_len, lists.without_len);
                    already_revoked += counts.decided[0];
                    complete_at_once += counts.decided[2];
                    app_reload_waits += counts.decided[3];
                }
                // The block's keys with door work, while their rows are in the cache (the
                // fold and the door index check just read them): their rows' counts.
                let block_keys = with_slots[block_with..with_len].iter().map(|slot| {
                    // SAFETY: the slots below `with_len` were written by the loop above.
                    unsafe { slot.assume_init() }
                });
                let base = block_offsets[0] as usize;
                with_rows!(uniform.then_some(step), offsets, base, a, |rows| self
                    .count_work_rows(rows, block_keys, &mut door_rows, &mut rows_stay));
            }
        }
        // SAFETY: every slot below each length was written in the loop (a length only moves
        // past a slot just written), and both lengths are at most `len`, the capacity.
        unsafe {
            with_work.set_len(with_len);
            without_work.set_len(without_len);
        }
        let mut part = Part {
            bad,
            bad_door,
            selected,
            already_revoked,
            cannot_revoke,
            complete_at_once,
            app_reload_waits,
            with_work,
            without_work,
            door_rows,
            stride: if mixed { None } else { stride },
            rows_stay,
            ..Part::default()
        };
        unpack_counts(&mut before_counts, before_packed);
        unpack_counts(&mut after_counts, after_packed);
        let statuses = GeneralStatus::ALL.len();
        part.status_counts
            .copy_from_slice(&before_counts[..statuses]);
        part.status_after_counts
            .copy_from_slice(&after_counts[..statuses]);
        part
    }

    /// The error for a door index that is not below the door count (the scan found one and
    /// stopped): a bad key first, as the status engine reports it (a part stops scanning at
    /// a bad door index, so a later bad key is found here), then the bad door index.
    #[cold]
    fn door_index_error(&self) -> RevocationError {
        let input = self.input;
        if let Err(e) = bulk::evaluate_bulk(&input.keys, self.now, Some(1)) {
            return e.into();
        }
        match check_door_index(
            input.door_index,
            input.keys.door_states.len(),
            input.door_count,
        ) {
            Err(e) => e,
            // Not reached: the scan saw an index not below the door count.
            Ok(()) => RevocationError::input("door_index", "a door index is not below door_count"),
        }
    }

    /// Whether the selector takes key `i` (of type code `key_type`, status now `status`).
    #[inline]
    fn takes(&self, i: usize, key_type: u8, status: u8) -> bool {
        let selector = self.selector;
        let taken = match &self.target {
            None => true,
            Some((set, true)) => {
                let offsets = self.input.keys.door_offsets;
                let (lo, hi) = (offsets[i] as usize, offsets[i + 1] as usize);
                self.input.door_index[lo..hi]
                    .iter()
                    .any(|&d| set.contains(d))
            }
            Some((set, false)) => set.contains(self.input.holder_index[i]),
        };
        taken
            && (selector.key_types == 0 || (selector.key_types >> (key_type & 7)) & 1 != 0)
            && (selector.statuses == 0 || (selector.statuses >> (status & 7)) & 1 != 0)
    }

    /// Adds the rows with work of `keys` (access media being revoked) to their doors' counts.
    ///
    /// Key by key, in row order: a key's own rows are at different doors, so an add waits
    /// only on the add to the same door one key (several rows) earlier, and the rows in
    /// between overlap with it. (Measured on 1M keys x 5 doors, the same binary switching
    /// between the two: 6.5 ms, where going position by position with each door's run kept
    /// in registers took 11-13 ms, its per-row compare and branch costing more than the
    /// waits it saved.)
    #[inline(always)]
    fn count_work_rows<R: KeyRows>(
        &self,
        key_rows: R,
        keys: impl Iterator<Item = u32>,
        door_rows: &mut [u32],
        rows_stay: &mut KeySet,
    ) {
        let door_states = self.input.keys.door_states;
        let door_index = self.input.door_index;
        let codes = &self.row_codes[usize::from(KeyType::AccessMedium.code())];
        for i in keys {
            let (lo, hi) = key_rows.of(i as usize);
            let mut every = ROW_WORK;
            for (&b, &d) in door_states[lo..hi].iter().zip(&door_index[lo..hi]) {
                let code = codes[usize::from(b)];
                every &= code;
                door_rows[d as usize] += u32::from(code & ROW_WORK != 0);
            }
            // Rare: a row of a key with work that stays (e.g. one already revoked there).
            if every == 0 {
                rows_stay.insert(i as usize);
            }
        }
    }

    /// The most specific door with work of key `i` (an access medium with door work): the
    /// door with the fewest rows, lowest index on a tie, as the minimum of `rows << 32 |
    /// door` over its rows with work (the others skipped by a branch that is predicted: a
    /// key's rows with work are nearly all of them).
    #[inline(always)]
    fn anchor<R: KeyRows>(
        &self,
        key_rows: R,
        i: u32,
        door_rows: &[u32],
        rows_stay: &KeySet,
    ) -> u32 {
        let (lo, hi) = key_rows.of(i as usize);
        if !rows_stay.contains(i as usize) {
            // Every row is work: no per-row test.
            return self.input.door_index[lo..hi]
                .iter()
                .fold(u64::MAX, |best, &d| {
                    best.min(u64::from(door_rows[d as usize]) << 32 | u64::from(d))
                }) as u32;
        }
        let codes = &self.row_codes[usize::from(KeyType::AccessMedium.code())];
        let mut best = u64::MAX;
        for (&b, &d) in self.input.keys.door_states[lo..hi]
            .iter()
            .zip(&self.input.door_index[lo..hi])
        {
            // A branch, not a mask: nearly every row of a key with work is work.
            if codes[usize::from(b)] & ROW_WORK == 0 {
                continue;
            }
            best = best.min(u64::from(door_rows[d as usize]) << 32 | u64::from(d));
        }
        best as u32
    }

    /// The anchors of `keys` ([`Context::anchor`]), counted in `counts` (at slot anchor + 1).
    fn anchors<R: KeyRows>(
        &self,
        key_rows: R,
        keys: &[u32],
        door_rows: &[u32],
        rows_stay: &KeySet,
        counts: &mut [u32],
    ) -> Vec<u32> {
        // Collected from an iterator of known length: no capacity check (and its call, which
        // would keep the loop's values on the stack) per key.
        keys.iter()
            .map(|&i| {
                let a = self.anchor(key_rows, i, door_rows, rows_stay);
                counts[a as usize + 1] += 1;
                a
            })
            .collect()
    }

    /// Door changes of chunks `chunks`: one per door per chunk with work for it. Only the
    /// first `with_work` keys of the order are read: the keys after them have no row with
    /// work. `last_chunk` is scratch (at least one slot per door, overwritten): per door the
    /// last chunk that changed it.
    fn door_changes<R: KeyRows>(
        &self,
        key_rows: R,
        plan: &Plan,
        chunks: std::ops::Range<usize>,
        with_work: usize,
        rows_stay: &KeySet,
        last_chunk: &mut [u32],
    ) -> Vec<u32> {
        let door_count = self.input.door_count as usize;
        // Keys with door work are access media.
        let codes = &self.row_codes[usize::from(KeyType::AccessMedium.code())];
        let mut changes = vec![0u32; door_count];
        let last_chunk = &mut last_chunk[..door_count];
        last_chunk.fill(u32::MAX);
        for c in chunks {
            let from = (plan.chunk_offsets[c] as usize).min(with_work);
            let to = (plan.chunk_offsets[c + 1] as usize).min(with_work);
            let c = c as u32;
            for &i in &plan.order[from..to] {
                let (lo, hi) = key_rows.of(i as usize);
                if !rows_stay.contains(i as usize) {
                    // Every row is work: no per-row test, and no branch on whether the
                    // chunk is new for the door (a flat's first key in a chunk is, its
                    // second is not: no pattern a predictor learns).
                    for &d in &self.input.door_index[lo..hi] {
                        let d = d as usize;
                        let new = last_chunk[d] != c;
                        last_chunk[d] = c;
                        changes[d] += u32::from(new);
                    }
                    continue;
                }
                for (&b, &d) in self.input.keys.door_states[lo..hi]
                    .iter()
                    .zip(&self.input.door_index[lo..hi])
                {
                    // Branches, not selects: nearly every row of a key with work is work,
                    // and a door changes once per chunk (its first row there), so both are
                    // predicted, and the rows after the first only load.
                    if codes[usize::from(b)] & ROW_WORK == 0 {
                        continue;
                    }
                    let d = d as usize;
                    if last_chunk[d] != c {
                        last_chunk[d] = c;
                        changes[d] += 1;
                    }
                }
            }
        }
        changes
    }
}

/// Keys per block of [`Context::scan`]: the block's words and per-key outcomes stay in L1.
const SCAN_BLOCK: usize = 1024;

/// Bits of the scan's per-key decision byte.
mod decide {
    /// Already revoked: skipped.
    pub const ALREADY: u8 = 1 << 0;
    /// Cannot be revoked (and not already revoked).
    pub const REFUSED: u8 = 1 << 1;
    /// Revoked, and `revoked` at once.
    pub const COMPLETE: u8 = 1 << 2;
    /// A digital key revoked that waits for its app to reload.
    pub const APP_RELOAD: u8 = 1 << 3;
    /// Revoked, with a row that becomes work for its door.
    pub const WORK: u8 = 1 << 4;
    /// Revoked, without door work.
    pub const NO_WORK: u8 = 1 << 5;
}

/// Per decision byte (its six [`decide`] bits), each bit as a byte lane of a word (bit `b` in
/// lane `b`): adding entries counts a run of up to 255 keys' already revoked (lane 0),
/// complete at once (lane 2) and app reload waits (lane 3) at once.
static DECISION_LANES: [u64; 64] = {
    let mut t = [0u64; 64];
    let mut d = 0;
    while d < 64 {
        let mut b = 0;
        while b < 6 {
            t[d] |= ((d as u64 >> b) & 1) << (8 * b);
            b += 1;
        }
        d += 1;
    }
    t
};
const _: () = assert!(
    decide::ALREADY == 1 << 0 && decide::COMPLETE == 1 << 2 && decide::APP_RELOAD == 1 << 3
);

/// The general status code per situation index ([`OUTCOMES`]' first column): a byte an entry,
/// 4 KB, for the scan's two lookups per key.
static GENERAL: [u8; SITUATIONS] = {
    let mut t = [0u8; SITUATIONS];
    let mut i = 0;
    while i < SITUATIONS {
        t[i] = OUTCOMES[i][0];
        i += 1;
    }
    t
};

// The decision index's layout below reads these bits where they are.
const _: () = assert!(bulk::flags::REVOKED == 1 && ROW_REFUSES == 1 << 4 && ROW_WORK == 1 << 5);
const _: () = assert!(KeyType::DigitalKey.code() == 1);

/// The scan's decision byte ([`decide`] bits) of a selected key, per index: bit 0 already
/// revoked, bit 1 a row refuses `revoke` (an access medium), bit 2 a row becomes work for its
/// door (an access medium), bit 3 the general status after the revocation is `revoked`, bit
/// 4 a digital key. One load per key instead of a dozen operations.
static DECISIONS: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        let already = i & 1 != 0;
        let refused = i & 2 != 0;
        let work_row = i & 4 != 0;
        let revoked_after = i & 8 != 0;
        let digital = i & 16 != 0;
        let revoking = !already && !refused;
        let complete = revoking && revoked_after;
        let work = revoking && work_row;
        let mut d = 0;
        if already {
            d |= decide::ALREADY;
        }
        if refused && !already {
            d |= decide::REFUSED;
        }
        if complete {
            d |= decide::COMPLETE;
        }
        if revoking && !complete && digital {
            d |= decide::APP_RELOAD;
        }
        if work {
            d |= decide::WORK;
        }
        if revoking && !work {
            d |= decide::NO_WORK;
        }
        t[i] = d;
        i += 1;
    }
    t
};

/// Per key of `out`, the OR of [`ROW_BITS`] over its `N` rows (`rows` holds `N` per key).
#[inline(always)]
fn fold_rows<const N: usize>(rows: &[u8], row_bits: &[u16; 256], out: &mut [u16]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(N)) {
        *o = r.iter().fold(0, |acc, &b| acc | row_bits[usize::from(b)]);
    }
}

/// [`fold_rows`] for keys with any number of rows: key `i`'s are
/// `rows[offsets[i] - offsets[0]..offsets[i + 1] - offsets[0]]`.
#[inline(always)]
fn fold_keys(rows: &[u8], offsets: &[u32], row_bits: &[u16; 256], out: &mut [u16]) {
    let base = offsets[0] as usize;
    for (o, w) in out.iter_mut().zip(offsets.windows(2)) {
        *o = rows[w[0] as usize - base..w[1] as usize - base]
            .iter()
            .fold(0, |acc, &b| acc | row_bits[usize::from(b)]);
    }
}

/// A scan block's key columns and folded row words ([`fold_rows`]).
struct Columns<'a> {
    key_types: &'a [u8],
    flags: &'a [u8],
    valid_from: &'a [i64],
    valid_until: &'a [i64],
    words: &'a [u16],
}

/// Per key of a scan block, without a branch: the status now and after (from the folded
/// word: the key type applied to the word, not per row) and the decision bits. Returns
/// whether a key fails the status engine's checks (`bulk::run_chunk_with`'s): the key type
/// and flag checks as one vectorised OR over the block, the others per key. Its own function
/// (not inlined into the scan) so that its columns and constants stay in registers.
#[inline(never)]
fn decide_keys(
    now: i64,
    keys: Columns<'_>,
    status: &mut [u8],
    after: &mut [u8],
    decision: &mut [u8],
) -> bool {
    let revoked_code = GeneralStatus::Revoked.code();
    let foreign_am = foreign_bits(KeyType::AccessMedium);
    let foreign_dk = foreign_bits(KeyType::DigitalKey);
    let unknown = keys
        .key_types
        .iter()
        .zip(keys.flags)
        .fold(0u8, |m, (&kt, &fl)| {
            m | (kt & !1) | (fl & !bulk::flags::KNOWN)
        });
    let mut bad = unknown != 0;
    let key_columns = keys
        .key_types
        .iter()
        .zip(keys.flags)
        .zip(keys.valid_from)
        .zip(keys.valid_until);
    let outputs = status
        .iter_mut()
        .zip(after.iter_mut())
        .zip(decision.iter_mut());
    for (((((&kt, &fl), &valid_from), &valid_until), &word), ((st, af), de)) in
        key_columns.zip(keys.words).zip(outputs)
    {
        let now_bits = word as u8;
        let bounded = valid_until != NO_END;
        let digital = kt & 1;
        let foreign = foreign_am ^ ((foreign_am ^ foreign_dk) & 0u8.wrapping_sub(digital));
        bad |= (bounded & (valid_until <= valid_from)) | (now_bits & foreign != 0);
        // The situation's index without its door facts (`Situation::index`).
        let situation = usize::from(digital)
            | usize::from(fl & bulk::flags::KNOWN) << 1
            | usize::from(now < valid_from) << 6
            | usize::from(bounded & (now >= valid_until)) << 7;
        let now_status = GENERAL[situation | usize::from(now_bits & 0x0f) << 8];
        // An access medium's rows move by `revoke` (the high byte); a digital key's stay
        // (its summary after is the one now).
        let access_medium = 0u8.wrapping_sub(digital ^ 1);
        let rows = (word >> 8) as u8 & access_medium;
        let summary_after = (rows | now_bits & !access_medium) & ROW_SUMMARY;
        let general = GENERAL
            [situation | usize::from(bulk::flags::REVOKED) << 1 | usize::from(summary_after) << 8];
        let d = DECISIONS[usize::from(
            fl & bulk::flags::REVOKED
                | (rows >> 3) & 0b110
                | u8::from(general == revoked_code) << 3
                | digital << 4,
        )];
        *st = now_status;
        // Skipped keys (already revoked, cannot be revoked) keep their status.
        let revoking = d & (decide::ALREADY | decide::REFUSED) == 0;
        *af = if revoking { general } else { now_status };
        *de = d;
    }
    bad
}

/// The two lists of keys to revoke being filled (slots below each length written) and the
/// keys that cannot be revoked.
struct Lists<'a> {
    with_slots: &'a mut [std::mem::MaybeUninit<u32>],
    without_slots: &'a mut [std::mem::MaybeUninit<u32>],
    with_len: usize,
    without_len: usize,
    cannot_revoke: &'a mut Vec<u32>,
}

/// Status histograms now and after, and per [`decide`] bit the keys that have it.
struct Counts<'a> {
    status: &'a mut [u64; 8],
    after: &'a mut [u64; 8],
    decided: [u64; 8],
}

/// Per status code (its low three bits), the word that counts it in byte lane `code`.
static STATUS_LANE: [u64; 8] = {
    let mut t = [0u64; 8];
    let mut s = 0;
    while s < 8 {
        t[s] = 1 << (8 * s);
        s += 1;
    }
    t
};

/// The scan's selection when the selector takes every key: keys `first..` with their statuses
/// now and after and decision bytes, counted and sorted into `lists`. Its own function (not
/// inlined into the scan) so that its few live values stay in registers; in runs of up to
/// 255 keys (what a packed byte counter holds), with no per-key test of the selection or of
/// the counters' fill, the decision's counted bits added as byte lanes of one word
/// ([`DECISION_LANES`]).
#[inline(never)]
fn take_every_key(
    first: u32,
    status: &[u8],
    after: &[u8],
    decision: &[u8],
    lists: &mut Lists<'_>,
    counts: &mut Counts<'_>,
) {
    let (mut with_len, mut without_len) = (lists.with_len, lists.without_len);
    let with_slots = &mut *lists.with_slots;
    let without_slots = &mut *lists.without_slots;
    let mut i = first;
    for ((status, after), decision) in status
        .chunks(255)
        .zip(after.chunks(255))
        .zip(decision.chunks(255))
    {
        let (mut status_run, mut after_run, mut decided) = (0u64, 0u64, 0u64);
        for ((&now_status, &after_status), &d) in status.iter().zip(after).zip(decision) {
            status_run += STATUS_LANE[usize::from(now_status & 7)];
            after_run += STATUS_LANE[usize::from(after_status & 7)];
            decided += DECISION_LANES[usize::from(d & 0x3f)];
            if d & decide::REFUSED != 0 {
                lists.cannot_revoke.push(i);
            }
            // Written to both lists, kept by the one whose length moves on.
            with_slots[with_len].write(i);
            without_slots[without_len].write(i);
            with_len += usize::from(d & decide::WORK != 0);
            without_len += usize::from(d & decide::NO_WORK != 0);
            i += 1;
        }
        unpack_counts(counts.status, status_run);
        unpack_counts(counts.after, after_run);
        unpack_counts(&mut counts.decided, decided);
    }
    (lists.with_len, lists.without_len) = (with_len, without_len);
}

/// Adds eight byte-wide counters packed in a word to `counts`.
#[inline]
fn unpack_counts(counts: &mut [u64; 8], packed: u64) {
    for (slot, count) in counts.iter_mut().enumerate() {
        *count += (packed >> (8 * slot)) & 0xff;
    }
}

/// `0..n` cut into `parts` contiguous ranges.
fn split(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let size = n.div_ceil(parts.max(1)).max(1);
    (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect()
}

fn add_into(total: &mut [u32], part: &[u32]) {
    for (t, p) in total.iter_mut().zip(part) {
        *t += p;
    }
}

/// Plans the revocation of the keys `selector` takes from `input`, at `now`.
///
/// The key columns are validated as the status engine validates them (all or nothing, with
/// `evaluate_bulk`'s errors, which come before the planner's own).
/// `threads`: `Some(1)` plans on the calling thread; otherwise large sites are planned on the
/// status engine's pool of that many workers (`None`: one per core). Returns an error
/// naming the field for any inconsistent column or option; never a partial plan.
pub fn plan(
    input: &PlanInput<'_>,
    selector: &Selector<'_>,
    now: i64,
    chunk_size: usize,
    threads: Option<usize>,
) -> Result<Plan, RevocationError> {
    // The status engine's checks of the batch as a whole; its checks of each key are made by
    // the scan, which takes each key's status now in the same fold as its status after.
    bulk::check_batch(&input.keys, threads)?;
    let target = check(input, selector, chunk_size, false).and_then(|()| {
        Ok(match selector.target {
            Target::All => None,
            Target::Doors(members) => {
                Some((IndexSet::new(members, input.door_count, "doors")?, true))
            }
            Target::Holders(members) => Some((
                IndexSet::new(members, input.holder_count, "holders")?,
                false,
            )),
        })
    });
    let target = match target {
        Ok(target) => target,
        Err(e) => {
            // A bad key is reported first, as when the status engine evaluated the keys
            // before these checks, and a bad door index before the other checks.
            bulk::evaluate_bulk(&input.keys, now, Some(1))?;
            check(input, selector, chunk_size, true)?;
            return Err(e);
        }
    };
    let ctx = Context {
        input,
        selector,
        target,
        now,
        row_codes: &ROW_CODES,
        row_bits: &ROW_BITS,
    };
    // Large sites on the status engine's pool (its workers pinned one per core; see
    // `bulk::pool`), in as many parts as it has workers.
    let n = input.keys.key_types.len();
    let threads = bulk::threads_or_cores(threads);
    if threads == 1 || n < PARALLEL_KEYS {
        return assemble(&ctx, chunk_size, 1);
    }
    let pool = bulk::pool(threads)?;
    pool.install(|| assemble(&ctx, chunk_size, threads))
}

/// The plan from `ctx` in `parts` parts (1: on the calling thread; more: on the current
/// rayon pool), or the status engine's error for the first invalid key.
fn assemble(ctx: &Context<'_>, chunk_size: usize, parts: usize) -> Result<Plan, RevocationError> {
    let n = ctx.input.keys.key_types.len();
    // Selection, decisions, statuses after and rows per door; parts merged in key order.
    let door_count = ctx.input.door_count as usize;
    let mut plan = Plan::default();
    let offsets = ctx.input.keys.door_offsets;
    let stride;
    let mut rows_stay;
    let (with_work, without_work) = if parts == 1 {
        let part = ctx.scan(0..n);
        if part.bad_door {
            return Err(ctx.door_index_error());
        }
        if part.bad {
            return Err(bulk::first_error(&ctx.input.keys, 0).into());
        }
        plan.selected = part.selected;
        plan.status_counts = part.status_counts;
        plan.status_after_counts = part.status_after_counts;
        plan.already_revoked = part.already_revoked;
        plan.cannot_revoke = part.cannot_revoke;
        plan.complete_at_once = part.complete_at_once;
        plan.app_reload_waits = part.app_reload_waits;
        plan.door_rows = part.door_rows;
        stride = part.stride;
        rows_stay = part.rows_stay;
        (part.with_work, part.without_work)
    } else {
        let ranges = split(n, parts);
        let scanned: Vec<Part> = ranges
            .par_iter()
            .map(|range| ctx.scan(range.clone()))
            .collect();
        // The first bad part holds the first bad key.
        // A part with a bad door index stopped there: its later keys are checked again.
        if scanned.iter().any(|p| p.bad_door) {
            return Err(ctx.door_index_error());
        }
        if let Some((range, _)) = ranges.iter().zip(&scanned).find(|(_, p)| p.bad) {
            return Err(bulk::first_error(&ctx.input.keys, range.start).into());
        }
        plan.door_rows = vec![0; door_count];
        let first = scanned[0].stride;
        stride = first.filter(|_| scanned.iter().all(|p| p.stride == first));
        rows_stay = KeySet::new(n);
        for part in &scanned {
            rows_stay.union(&part.rows_stay);
        }
        let mut with_work = Vec::with_capacity(scanned.iter().map(|p| p.with_work.len()).sum());
        // Room for the whole order (see below).
        let mut without_work = Vec::with_capacity(
            scanned
                .iter()
                .map(|p| p.with_work.len() + p.without_work.len())
                .sum(),
        );
        for part in scanned {
            plan.selected += part.selected;
            for s in 0..GeneralStatus::ALL.len() {
                plan.status_counts[s] += part.status_counts[s];
                plan.status_after_counts[s] += part.status_after_counts[s];
            }
            plan.already_revoked += part.already_revoked;
            plan.cannot_revoke.extend(part.cannot_revoke);
            plan.complete_at_once += part.complete_at_once;
            plan.app_reload_waits += part.app_reload_waits;
            add_into(&mut plan.door_rows, &part.door_rows);
            with_work.extend(part.with_work);
            without_work.extend(part.without_work);
        }
        (with_work, without_work)
    };

    // Order: keys grouped under their most specific door with work (a counting sort, which
    // keeps key order within a door), then the keys without door work in key order.
    let mut starts = vec![0u32; door_count + 1];
    let anchors: Vec<u32> = if parts == 1 {
        // Anchors and their histogram in one pass.
        with_rows!(stride, offsets, 0, 0, |rows| ctx.anchors(
            rows,
            &with_work,
            &plan.door_rows,
            &rows_stay,
            &mut starts
        ))
    } else {
        let anchors: Vec<u32> = with_rows!(stride, offsets, 0, 0, |rows| with_work
            .par_iter()
            .with_min_len(4096)
            .map(|&i| ctx.anchor(rows, i, &plan.door_rows, &rows_stay))
            .collect());
        for &a in &anchors {
            starts[a as usize + 1] += 1;
        }
        anchors
    };
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    // The keys without door work move to the tail of their own buffer (reserved for the
    // whole order by the scan), and the others are placed before them: no fresh order buffer
    // and no copy out of a separate list.
    let with_work_len = with_work.len();
    let mut order = without_work;
    let without_work_len = order.len();
    order.resize(with_work_len + without_work_len, 0);
    order.copy_within(..without_work_len, with_work_len);
    for (&i, &a) in with_work.iter().zip(&anchors) {
        let slot = &mut starts[a as usize];
        order[*slot as usize] = i;
        *slot += 1;
    }
    plan.order = order;
    let total = plan.order.len();
    plan.chunk_offsets = (0..total.div_ceil(chunk_size))
        .map(|c| (c * chunk_size) as u32)
        .chain(std::iter::once(total as u32))
        .collect();

    // Door changes per door; chunk ranges are disjoint, so parts simply add up.
    let chunks = with_work_len.div_ceil(chunk_size);
    plan.door_changes = if parts == 1 {
        // The bucket starts, done with, as the scratch: no fresh pages to fault in.
        with_rows!(stride, offsets, 0, 0, |rows| ctx.door_changes(
            rows,
            &plan,
            0..chunks,
            with_work_len,
            &rows_stay,
            &mut starts
        ))
    } else {
        let partial: Vec<Vec<u32>> = split(chunks, parts)
            .into_par_iter()
            .map(|range| {
                let scratch = &mut vec![0; door_count];
                with_rows!(stride, offsets, 0, 0, |rows| ctx.door_changes(
                    rows,
                    &plan,
                    range,
                    with_work_len,
                    &rows_stay,
                    scratch
                ))
            })
            .collect();
        let mut total = vec![0u32; door_count];
        for p in &partial {
            add_into(&mut total, p);
        }
        total
    };
    Ok(plan)
}
