//! Bulk status evaluation throughput of the core alone (no Python): 1,000,000 keys with 5
//! doors each, on one thread and on two, median of 7 runs.
//!
//! Run: `cargo bench -p keyworker-core --bench bulk_status` (`-- --keys N` for a quick run).
//! A plain timer rather than criterion keeps the bench quick to compile on a 2-core machine;
//! the Python bench (`bench/bulk_status.py`) is the one that writes JSON.

use std::time::Instant;

use keyworker_core::status::bulk::{flags, NO_END};
use keyworker_core::status::{evaluate_bulk, BulkInput};

const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
const DOORS_PER_KEY: usize = 5;
const RUNS: usize = 7;

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct Columns {
    key_types: Vec<u8>,
    flags: Vec<u8>,
    valid_from: Vec<i64>,
    valid_until: Vec<i64>,
    door_offsets: Vec<u32>,
    door_states: Vec<u8>,
}

/// A portfolio like a property manager's: mostly settled keys, a few percent in each
/// transitional state (the same mix as `bench/bulk_status.py`).
fn realistic(keys: usize) -> Columns {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut c = Columns {
        key_types: Vec::with_capacity(keys),
        flags: Vec::with_capacity(keys),
        valid_from: Vec::with_capacity(keys),
        valid_until: Vec::with_capacity(keys),
        door_offsets: Vec::with_capacity(keys + 1),
        door_states: Vec::with_capacity(keys * DOORS_PER_KEY),
    };
    c.door_offsets.push(0);
    for _ in 0..keys {
        let digital = r.chance(40);
        let mut f = 0u8;
        if r.chance(20) {
            f |= flags::HAS_SCHEDULE;
        }
        let from = NOW - 400 * DAY + (r.next() % (430 * DAY as u64)) as i64;
        let until = if r.chance(30) {
            from + DAY + (r.next() % (400 * DAY as u64)) as i64
        } else {
            NO_END
        };
        let roll = r.next() % 100;
        for _ in 0..DOORS_PER_KEY {
            // Common doors (entrance, garage) are mostly online; unit doors mostly offline.
            let online = if r.chance(50) { 0x80 } else { 0 };
            let state: u8 = if !digital {
                match roll {
                    0..=89 => 2,                                // deployed
                    90..=93 => [1, 2][(r.next() % 2) as usize], // deployment pending
                    94..=97 => [3, 4][(r.next() % 2) as usize], // revocation pending
                    _ => 4,                                     // revoked: removed
                }
            } else {
                match roll {
                    0..=4 => 0,                                 // not delivered yet
                    5..=94 => 2,                                // deployed
                    95..=96 => [5, 6][(r.next() % 2) as usize], // phone blocked
                    _ => 4,                                     // revoked, app reloaded
                }
            };
            c.door_states.push(state | online);
        }
        if !digital && roll >= 94 {
            f |= flags::REVOKED;
        }
        if digital {
            if roll >= 5 {
                f |= flags::DELIVERED;
            }
            if (95..=96).contains(&roll) {
                f |= flags::PHONE_BLOCKED;
            }
            if roll >= 97 {
                f |= flags::REVOKED | flags::APP_RELOADED;
            }
        }
        c.key_types.push(u8::from(digital));
        c.flags.push(f);
        c.valid_from.push(from);
        c.valid_until.push(until);
        c.door_offsets.push(c.door_states.len() as u32);
    }
    c
}

/// CPU seconds used so far by all threads of this process (`/proc/self/task/*/schedstat`,
/// Linux), or NaN: divided by the wall time of a run, how many cores the run really had.
fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let mut ns = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    ns as f64 * 1e-9
}

/// Median wall seconds of `RUNS` runs, and the median of the cores each run had (CPU time of
/// all threads over wall time).
fn median_seconds(input: &BulkInput<'_>, threads: usize) -> (f64, f64) {
    let mut runs: Vec<(f64, f64)> = (0..RUNS)
        .map(|_| {
            let (t, cpu) = (Instant::now(), process_cpu_seconds());
            let out = evaluate_bulk(input, NOW, Some(threads)).expect("valid batch");
            let elapsed = t.elapsed().as_secs_f64();
            let cores = (process_cpu_seconds() - cpu) / elapsed;
            assert_eq!(out.status.len(), input.key_types.len());
            (elapsed, cores)
        })
        .collect();
    let mut cores: Vec<f64> = runs.iter().map(|r| r.1).collect();
    cores.sort_by(f64::total_cmp);
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    (runs[RUNS / 2].0, cores[RUNS / 2])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys = args
        .iter()
        .position(|a| a == "--keys")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000usize);
    let c = realistic(keys);
    let input = BulkInput {
        key_types: &c.key_types,
        flags: &c.flags,
        valid_from: &c.valid_from,
        valid_until: &c.valid_until,
        door_offsets: &c.door_offsets,
        door_states: &c.door_states,
    };
    let pairs = c.door_states.len() as f64;
    let (one, _) = median_seconds(&input, 1);
    let (two, cores) = median_seconds(&input, 2);
    println!(
        "bulk_status: {keys} keys x {DOORS_PER_KEY} doors, median of {RUNS} runs\n  \
         1 thread : {:8.3} ms  {:7.1} M pairs/s\n  \
         2 threads: {:8.3} ms  {:7.1} M pairs/s  ({:.2}x; the runs had {cores:.2} cores)",
        one * 1e3,
        pairs / one / 1e6,
        two * 1e3,
        pairs / two / 1e6,
        one / two
    );
}
