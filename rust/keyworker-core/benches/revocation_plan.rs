//! Revocation planning in the core alone (no Python): a site of 1,000,000 keys with 5 doors
//! each (its flat's door and four common doors of its building), every key selected, chunks of
//! 100; median of 7 runs on one thread and on two.
//!
//! Run: `cargo bench -p keyworker-core --bench revocation_plan` (`-- --keys N` for a quick
//! run, `-- --json` for one JSON line, which `bench/revocation_plan.py` records, `-- --runs N`
//! for the median of N runs instead of 7: more runs and their minimum (`--min`) when the
//! machine is noisy).

use std::time::Instant;

use keyworker_core::revocation::{plan, PlanInput, Selector, DEFAULT_CHUNK_KEYS};
use keyworker_core::status::bulk::{flags, NO_END};
use keyworker_core::status::BulkInput;

const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
const DEFAULT_RUNS: usize = 7;
const KEYS_PER_FLAT: usize = 4;
const KEYS_PER_BUILDING: usize = 1_000;
const COMMON_DOORS: usize = 4;

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct Site {
    key_types: Vec<u8>,
    flags: Vec<u8>,
    valid_from: Vec<i64>,
    valid_until: Vec<i64>,
    door_offsets: Vec<u32>,
    door_states: Vec<u8>,
    door_index: Vec<u32>,
    holder_index: Vec<u32>,
    door_count: u32,
}

/// Flats of four keys, buildings of a thousand; common doors online, flat doors offline; 60%
/// cards, a few percent deploying or revoked earlier (the mix of `bench/bulk_status.py`).
fn site(keys: usize) -> Site {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let flats = keys.div_ceil(KEYS_PER_FLAT);
    let buildings = keys.div_ceil(KEYS_PER_BUILDING);
    let mut s = Site {
        key_types: Vec::with_capacity(keys),
        flags: Vec::with_capacity(keys),
        valid_from: Vec::with_capacity(keys),
        valid_until: Vec::with_capacity(keys),
        door_offsets: Vec::with_capacity(keys + 1),
        door_states: Vec::with_capacity(keys * 5),
        door_index: Vec::with_capacity(keys * 5),
        holder_index: Vec::with_capacity(keys),
        door_count: (flats + buildings * COMMON_DOORS) as u32,
    };
    s.door_offsets.push(0);
    for k in 0..keys {
        let digital = r.chance(40);
        let roll = r.next() % 100;
        let mut f = 0u8;
        let state = if digital {
            f |= flags::DELIVERED;
            if roll >= 97 {
                f |= flags::REVOKED;
            }
            2
        } else if roll < 3 {
            1
        } else if roll >= 97 {
            f |= flags::REVOKED;
            3
        } else {
            2
        };
        let flat = (k / KEYS_PER_FLAT) as u32;
        let building = k / KEYS_PER_BUILDING;
        s.door_states.push(state);
        s.door_index.push(flat);
        for c in 0..COMMON_DOORS {
            s.door_states.push(state | 0x80);
            s.door_index
                .push((flats + building * COMMON_DOORS + c) as u32);
        }
        s.key_types.push(u8::from(digital));
        s.flags.push(f);
        s.valid_from.push(NOW - 100 * DAY);
        s.valid_until.push(NO_END);
        s.door_offsets.push(s.door_states.len() as u32);
        s.holder_index.push(flat);
    }
    s
}

/// CPU time of the calling thread in seconds (`/proc/thread-self/schedstat`, Linux), or NaN:
/// on a loaded machine the one-thread figure without other processes' time slices.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 * 1e-9)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys = args
        .iter()
        .position(|a| a == "--keys")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000usize);
    let json = args.iter().any(|a| a == "--json");
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
        .max(1);
    // The fastest run instead of the median.
    let fastest = args.iter().any(|a| a == "--min");
    let pick = |times: &[f64]| {
        if fastest {
            times[0]
        } else {
            times[times.len() / 2]
        }
    };
    let s = site(keys);
    let input = PlanInput {
        keys: BulkInput {
            key_types: &s.key_types,
            flags: &s.flags,
            valid_from: &s.valid_from,
            valid_until: &s.valid_until,
            door_offsets: &s.door_offsets,
            door_states: &s.door_states,
        },
        door_index: &s.door_index,
        door_count: s.door_count,
        holder_index: &s.holder_index,
        holder_count: s.door_count,
    };
    let mut medians = Vec::new();
    let mut cpu_1_thread = Vec::new();
    let mut chunks = 0;
    // One thread, then rayon's global pool (one thread per core: two here), as Python calls it.
    for threads in [Some(1usize), None] {
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let (t, cpu) = (Instant::now(), thread_cpu_seconds());
                let p = plan(&input, &Selector::ALL, NOW, DEFAULT_CHUNK_KEYS, threads)
                    .expect("valid site");
                let elapsed = t.elapsed().as_secs_f64();
                if threads == Some(1) {
                    cpu_1_thread.push(thread_cpu_seconds() - cpu);
                }
                chunks = p.chunks();
                elapsed
            })
            .collect();
        times.sort_by(f64::total_cmp);
        medians.push(pick(&times));
    }
    cpu_1_thread.sort_by(f64::total_cmp);
    let cpu = pick(&cpu_1_thread);
    if json {
        println!(
            "{{\"keys\": {keys}, \"doors_per_key\": 5, \"doors\": {}, \"chunks\": {chunks}, \
             \"runs\": {runs}, \"median_ms_1_thread\": {:.3}, \"median_cpu_ms_1_thread\": {:.3}, \
             \"median_ms_all_cores\": {:.3}}}",
            s.door_count,
            medians[0] * 1e3,
            cpu * 1e3,
            medians[1] * 1e3
        );
    } else {
        println!(
            "revocation_plan: {keys} keys x 5 doors ({} doors, {chunks} chunks), {} of {runs}\n  \
             1 thread : {:8.3} ms (CPU {:.3} ms)\n  all cores: {:8.3} ms",
            s.door_count,
            if fastest { "fastest" } else { "median" },
            medians[0] * 1e3,
            cpu * 1e3,
            medians[1] * 1e3
        );
    }
}
