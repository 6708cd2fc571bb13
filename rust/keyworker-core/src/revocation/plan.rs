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

use crate::status::bulk::{self, BulkInput};
use crate::status::codes::{GeneralStatus, KeyType};

use rayon::prelude::*;

use super::{
    check_door_index, outcome_of_summary, revoke_summary, row_is_work, Decision, RevocationError,
    RowTables,
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

fn check(
    input: &PlanInput<'_>,
    selector: &Selector<'_>,
    chunk_size: usize,
) -> Result<(), RevocationError> {
    let n = input.keys.key_types.len();
    check_door_index(
        input.door_index,
        input.keys.door_states.len(),
        input.door_count,
    )?;
    if input.holder_index.len() != n {
        return Err(RevocationError::input(
            "holder_index",
            format!(
                "holder_index has {} entries for {n} keys",
                input.holder_index.len()
            ),
        ));
    }
    if let Some(i) = input
        .holder_index
        .iter()
        .position(|&h| h >= input.holder_count)
    {
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
    selected: u64,
    status_counts: [u64; GeneralStatus::ALL.len()],
    status_after_counts: [u64; GeneralStatus::ALL.len()],
    already_revoked: u64,
    cannot_revoke: Vec<u32>,
    complete_at_once: u64,
    app_reload_waits: u64,
    to_revoke: Vec<u32>,
    door_rows: Vec<u32>,
}

/// Everything the passes read.
struct Context<'a> {
    input: &'a PlanInput<'a>,
    selector: &'a Selector<'a>,
    target: Option<(IndexSet, bool)>,
    status: &'a [u8],
    now: i64,
    tables: RowTables,
}

impl Context<'_> {
    #[inline]
    fn rows(&self, i: usize) -> std::ops::Range<usize> {
        let offsets = self.input.keys.door_offsets;
        offsets[i] as usize..offsets[i + 1] as usize
    }

    /// Selection, decision and statuses after, for keys `range`.
    fn scan(&self, range: std::ops::Range<usize>) -> Part {
        let keys = &self.input.keys;
        let door_index = self.input.door_index;
        let selector = self.selector;
        let mut part = Part {
            door_rows: vec![0; self.input.door_count as usize],
            ..Part::default()
        };
        for i in range {
            let rows = self.rows(i);
            let taken = match &self.target {
                None => true,
                Some((set, true)) => door_index[rows.clone()].iter().any(|&d| set.contains(d)),
                Some((set, false)) => set.contains(self.input.holder_index[i]),
            };
            let kt = keys.key_types[i];
            let status = self.status[i];
            if !taken
                || (selector.key_types != 0 && selector.key_types & (1 << kt) == 0)
                || (selector.statuses != 0 && selector.statuses & (1 << status) == 0)
            {
                continue;
            }
            part.selected += 1;
            part.status_counts[usize::from(status)] += 1;
            let door_bytes = &keys.door_states[rows.clone()];
            let fl = keys.flags[i];
            match revoke_summary(&self.tables, kt, fl, door_bytes) {
                (Decision::AlreadyRevoked, _) => {
                    part.already_revoked += 1;
                    part.status_after_counts[usize::from(status)] += 1;
                }
                (Decision::CannotRevoke, _) => {
                    part.cannot_revoke.push(i as u32);
                    part.status_after_counts[usize::from(status)] += 1;
                }
                (Decision::Revoke, summary) => {
                    part.to_revoke.push(i as u32);
                    let [general, _, _] = outcome_of_summary(
                        kt,
                        fl | bulk::flags::REVOKED,
                        keys.valid_from[i],
                        keys.valid_until[i],
                        self.now,
                        summary,
                    );
                    part.status_after_counts[usize::from(general)] += 1;
                    if general == GeneralStatus::Revoked.code() {
                        part.complete_at_once += 1;
                    } else if kt == KeyType::DigitalKey.code() {
                        part.app_reload_waits += 1;
                    }
                    for (&b, &d) in door_bytes.iter().zip(&door_index[rows]) {
                        if row_is_work(&self.tables, kt, b) {
                            part.door_rows[d as usize] += 1;
                        }
                    }
                }
            }
        }
        part
    }

    /// The key's most specific door with work (fewest rows; lowest index on a tie), or
    /// `none` when it has no door work.
    #[inline]
    fn anchor(&self, i: u32, door_rows: &[u32], none: usize) -> u32 {
        let i = i as usize;
        let rows = self.rows(i);
        let kt = self.input.keys.key_types[i];
        let mut best = none;
        let mut best_rows = u32::MAX;
        for (&b, &d) in self.input.keys.door_states[rows.clone()]
            .iter()
            .zip(&self.input.door_index[rows])
        {
            let d = d as usize;
            if row_is_work(&self.tables, kt, b) && (door_rows[d], d) < (best_rows, best) {
                best = d;
                best_rows = door_rows[d];
            }
        }
        best as u32
    }

    /// Door changes of chunks `chunks`: one per door per chunk with work for it.
    fn door_changes(&self, plan: &Plan, chunks: std::ops::Range<usize>) -> Vec<u32> {
        let door_count = self.input.door_count as usize;
        let mut changes = vec![0u32; door_count];
        let mut last_chunk = vec![u32::MAX; door_count];
        for c in chunks {
            let members =
                &plan.order[plan.chunk_offsets[c] as usize..plan.chunk_offsets[c + 1] as usize];
            for &i in members {
                let i = i as usize;
                let rows = self.rows(i);
                let kt = self.input.keys.key_types[i];
                for (&b, &d) in self.input.keys.door_states[rows.clone()]
                    .iter()
                    .zip(&self.input.door_index[rows])
                {
                    let d = d as usize;
                    if row_is_work(&self.tables, kt, b) && last_chunk[d] != c as u32 {
                        last_chunk[d] = c as u32;
                        changes[d] += 1;
                    }
                }
            }
        }
        changes
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
/// The key columns are validated by the status engine (all or nothing, as `evaluate_bulk`).
/// `threads`: `Some(1)` plans on the calling thread; otherwise large sites are planned on
/// rayon's global pool (and `threads` is passed to the status evaluation). Returns an error
/// naming the field for any inconsistent column or option; never a partial plan.
pub fn plan(
    input: &PlanInput<'_>,
    selector: &Selector<'_>,
    now: i64,
    chunk_size: usize,
    threads: Option<usize>,
) -> Result<Plan, RevocationError> {
    // The status engine validates the key columns and gives each key's current status.
    let before = bulk::evaluate_bulk(&input.keys, now, threads)?;
    check(input, selector, chunk_size)?;
    let target = match selector.target {
        Target::All => None,
        Target::Doors(members) => Some((IndexSet::new(members, input.door_count, "doors")?, true)),
        Target::Holders(members) => Some((
            IndexSet::new(members, input.holder_count, "holders")?,
            false,
        )),
    };
    let ctx = Context {
        input,
        selector,
        target,
        status: &before.status,
        now,
        tables: RowTables::get(),
    };
    let n = input.keys.key_types.len();
    let parts = if threads == Some(1) || n < PARALLEL_KEYS {
        1
    } else {
        rayon::current_num_threads()
    };

    // Selection, decisions, statuses after and rows per door; parts merged in key order.
    let scanned: Vec<Part> = if parts == 1 {
        vec![ctx.scan(0..n)]
    } else {
        split(n, parts)
            .into_par_iter()
            .map(|range| ctx.scan(range))
            .collect()
    };
    let door_count = input.door_count as usize;
    let mut plan = Plan {
        door_rows: vec![0; door_count],
        ..Plan::default()
    };
    let mut to_revoke = Vec::new();
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
        if to_revoke.is_empty() {
            to_revoke = part.to_revoke;
        } else {
            to_revoke.extend(part.to_revoke);
        }
    }

    // Order: keys grouped under their most specific door with work, keys without door work
    // (digital keys) last; a counting sort keeps key order within a door.
    let none = door_count;
    let anchors: Vec<u32> = if parts == 1 {
        to_revoke
            .iter()
            .map(|&i| ctx.anchor(i, &plan.door_rows, none))
            .collect()
    } else {
        to_revoke
            .par_iter()
            .with_min_len(4096)
            .map(|&i| ctx.anchor(i, &plan.door_rows, none))
            .collect()
    };
    let mut starts = vec![0u32; door_count + 2];
    for &a in &anchors {
        starts[a as usize + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    plan.order = vec![0; to_revoke.len()];
    for (&i, &a) in to_revoke.iter().zip(&anchors) {
        let slot = &mut starts[a as usize];
        plan.order[*slot as usize] = i;
        *slot += 1;
    }
    let total = plan.order.len();
    plan.chunk_offsets = (0..total.div_ceil(chunk_size))
        .map(|c| (c * chunk_size) as u32)
        .chain(std::iter::once(total as u32))
        .collect();

    // Door changes per door; chunk ranges are disjoint, so parts simply add up.
    let chunks = plan.chunks();
    plan.door_changes = if parts == 1 {
        ctx.door_changes(&plan, 0..chunks)
    } else {
        let partial: Vec<Vec<u32>> = split(chunks, parts)
            .into_par_iter()
            .map(|range| ctx.door_changes(&plan, range))
            .collect();
        let mut total = vec![0u32; door_count];
        for p in &partial {
            add_into(&mut total, p);
        }
        total
    };
    Ok(plan)
}
