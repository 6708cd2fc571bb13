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

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::codes::{DoorState, GeneralStatus, HomeStatus, KeyType, NO_HOME_STATUS};
use super::derive::{foreign_bits, DOOR_BYTE_BITS, DOOR_ONLINE, OUTCOMES};
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

/// Keys per parallel task: large enough that taking one costs nothing against the work
/// (~0.06 ms per chunk at 5 doors per key), small enough that the threads end close together
/// (a thread's last chunk is what the others wait for).
pub const CHUNK_KEYS: usize = 16 * 1024;

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

/// Counts per status code of a batch evaluated by [`evaluate_bulk_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BulkCounts {
    /// Count per general status code.
    pub status_counts: [u64; GeneralStatus::ALL.len()],
    /// Count per home-app status code, and in the last slot the keys without one.
    pub home_status_counts: [u64; HomeStatus::ALL.len() + 1],
}

/// Evaluates every key of `input` at `now`.
///
/// `threads`: `None` uses one thread per available core for batches of more than one chunk;
/// `Some(1)` runs on the calling thread; `Some(n)` on the calling thread and `n - 1` helper
/// threads (built once and kept, each pinned to a core other than the caller's).
pub fn evaluate_bulk(
    input: &BulkInput<'_>,
    now: i64,
    threads: Option<usize>,
) -> Result<BulkOutput, StatusError> {
    let n = input.key_types.len();
    let mut status = Vec::with_capacity(n);
    let mut home = Vec::with_capacity(n);
    let counts = evaluate_bulk_into(
        input,
        now,
        threads,
        &mut status.spare_capacity_mut()[..n],
        &mut home.spare_capacity_mut()[..n],
    )?;
    // SAFETY: both have capacity n, and on success `evaluate_bulk_into` wrote all n bytes.
    unsafe {
        status.set_len(n);
        home.set_len(n);
    }
    Ok(BulkOutput {
        status,
        home_status: home,
        status_counts: counts.status_counts,
        home_status_counts: counts.home_status_counts,
    })
}

/// [`evaluate_bulk`] writing the codes into the caller's buffers (one byte per key each), so
/// that a caller who must hand over memory of its own (the Python binding's `bytes`) gets the
/// codes written there by the worker threads: no copy afterwards, and no clearing beforehand,
/// on the calling thread alone. The buffers may be uninitialised; on success every byte of
/// both is written, on an error they hold nothing meaningful.
pub fn evaluate_bulk_into(
    input: &BulkInput<'_>,
    now: i64,
    threads: Option<usize>,
    status: &mut [MaybeUninit<u8>],
    home: &mut [MaybeUninit<u8>],
) -> Result<BulkCounts, StatusError> {
    check_batch(input, threads)?;
    let n = input.key_types.len();
    for (field, len) in [("status", status.len()), ("home_status", home.len())] {
        if len != n {
            return Err(StatusError::bulk(
                field,
                format!("the {field} output has {len} bytes for {n} keys"),
            ));
        }
    }
    let threads = threads_or_cores(threads);
    let counts = if threads == 1 || n <= CHUNK_KEYS {
        run_chunk(input, 0, status, home, now).map_err(|()| first_error(input, 0))?
    } else {
        parallel(threads, input, status, home, now)?
    };
    Ok(BulkCounts {
        status_counts: counts.general,
        home_status_counts: counts.home,
    })
}

/// The checks [`evaluate_bulk`] makes before the per-key ones: column lengths, the offsets'
/// two ends, the thread count. For a caller that folds the per-key checks into a loop of its
/// own (the revocation planner) and names the first bad key with [`first_error`].
pub(crate) fn check_batch(
    input: &BulkInput<'_>,
    threads: Option<usize>,
) -> Result<(), StatusError> {
    check_shape(input)?;
    if let Some(t) = threads {
        if t == 0 || t > MAX_THREADS {
            return Err(StatusError::bulk(
                "threads",
                format!("threads must be between 1 and {MAX_THREADS}, got {t}"),
            ));
        }
    }
    Ok(())
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

/// The calling thread and `threads - 1` helpers take chunks from a shared cursor until none is
/// left. The caller starts at once; each helper is the one worker of a pool pinned to a core
/// other than the caller's, and joins when it is awake. Measured (a 2-chunk batch after the
/// calling thread had been busy, as in the bench): waking sleeping pool workers and then the
/// caller cost ~0.1-0.2 ms per call, all of it serial, when the caller only waited.
fn parallel(
    threads: usize,
    input: &BulkInput<'_>,
    status: &mut [MaybeUninit<u8>],
    home: &mut [MaybeUninit<u8>],
    now: i64,
) -> Result<Counts, StatusError> {
    type Outputs<'o> = (&'o mut [MaybeUninit<u8>], &'o mut [MaybeUninit<u8>]);
    // Each chunk's output slices, taken by the one thread that draws the chunk's number.
    let chunks: Vec<Mutex<Option<Outputs<'_>>>> = status
        .chunks_mut(CHUNK_KEYS)
        .zip(home.chunks_mut(CHUNK_KEYS))
        .map(|outputs| Mutex::new(Some(outputs)))
        .collect();
    let results: Vec<Mutex<Option<Result<Counts, ()>>>> =
        chunks.iter().map(|_| Mutex::new(None)).collect();
    let cursor = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let work = || loop {
        let c = cursor.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = chunks.get(c) else {
            return;
        };
        let taken = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((s, h)) = taken {
            let r = run_chunk(input, c * CHUNK_KEYS, s, h, now);
            *results[c].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        }
        finished.fetch_add(1, Ordering::Release);
    };
    let helpers = helpers(threads - 1)?;
    with_helpers(&helpers, &work, &|| {
        work();
        // The helpers' last chunks: wait for them here (they end within a chunk's time)
        // rather than asleep in the scope, whose wake-up would come one wake-up late.
        let mut spins = 0u32;
        while finished.load(Ordering::Acquire) < chunks.len() {
            spins += 1;
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    });
    let mut total = Counts::default();
    for (c, r) in results.into_iter().enumerate() {
        match r.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(Ok(counts)) => total.add(&counts),
            // The first failing chunk holds the first bad key.
            Some(Err(())) => return Err(first_error(input, c * CHUNK_KEYS)),
            // Every chunk number is drawn and run once (unreachable; kept total).
            None => return Err(StatusError::bulk("threads", "a chunk was not evaluated")),
        }
    }
    Ok(total)
}

/// Runs `caller` on this thread while each of `pools` runs `helper` once.
fn with_helpers(
    pools: &[Arc<rayon::ThreadPool>],
    helper: &(dyn Fn() + Sync),
    caller: &(dyn Fn() + Sync),
) {
    match pools.split_first() {
        None => caller(),
        Some((pool, rest)) => pool.in_place_scope(|scope| {
            scope.spawn(|_| helper());
            with_helpers(rest, helper, caller);
        }),
    }
}

/// The CPU the calling thread runs on, where the OS says.
fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu takes nothing and returns a CPU number, or -1 on error.
        usize::try_from(unsafe { libc::sched_getcpu() }).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `count` one-thread pools for the helpers of a call from this thread: pinned to the allowed
/// cores other than the caller's, round robin (built on first use per (helper, core) and kept).
/// Pinned, because a worker woken from a busy core is placed on that core (see [`pinned_pool`]).
fn helpers(count: usize) -> Result<Vec<Arc<rayon::ThreadPool>>, StatusError> {
    static CORES: OnceLock<Vec<core_affinity::CoreId>> = OnceLock::new();
    /// Per (helper number, core): its pool.
    type Pools = Vec<((usize, Option<usize>), Arc<rayon::ThreadPool>)>;
    static POOLS: Mutex<Pools> = Mutex::new(Vec::new());
    let cores = CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default());
    let here = current_cpu();
    let others: Vec<core_affinity::CoreId> = cores
        .iter()
        .filter(|c| Some(c.id) != here)
        .copied()
        .collect();
    let others = if others.is_empty() {
        cores.clone()
    } else {
        others
    };
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut chosen = Vec::with_capacity(count);
    for i in 0..count {
        let core = (!others.is_empty()).then(|| others[i % others.len()]);
        let key = (i, core.map(|c| c.id));
        if let Some((_, p)) = pools.iter().find(|(k, _)| *k == key) {
            chosen.push(Arc::clone(p));
            continue;
        }
        let built = pinned_pool(1, core.into_iter().collect(), move |_| {
            format!("keyworker-bulk-{i}")
        })?;
        pools.push((key, Arc::clone(&built)));
        chosen.push(built);
    }
    Ok(chosen)
}

/// Counts per general status code, and per home slot (the home code, or the last slot for
/// keys without one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    general: [u64; GeneralStatus::ALL.len()],
    home: [u64; HomeStatus::ALL.len() + 1],
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        for (a, b) in self.general.iter_mut().zip(&other.general) {
            *a += b;
        }
        for (a, b) in self.home.iter_mut().zip(&other.home) {
            *a += b;
        }
    }
}

/// The general codes, in count order.
const GENERAL_CODES: [u8; GeneralStatus::ALL.len()] = {
    let mut t = [0u8; GeneralStatus::ALL.len()];
    let mut i = 0;
    while i < t.len() {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// The home codes in count order: each code, then [`NO_HOME_STATUS`] for keys without one.
const HOME_CODES: [u8; HomeStatus::ALL.len() + 1] = {
    let mut t = [NO_HOME_STATUS; HomeStatus::ALL.len() + 1];
    let mut i = 0;
    while i < HomeStatus::ALL.len() {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// Keys per inner block: the block's door bits, summaries and situation indexes stay in L1.
const BLOCK_KEYS: usize = 1024;

/// Bytes of padding after a block's door bits, so that every key's first 24 can be read as
/// three words without a bounds check per door.
const PAD: usize = 24;

/// `MASKS[k]`: the low `k` bytes of a word (k = 0..=8).
const MASKS: [u64; 9] = {
    let mut t = [0u64; 9];
    let mut k = 1;
    while k <= 8 {
        t[k] = u64::MAX >> (64 - 8 * k);
        k += 1;
    }
    t
};

/// One load per key in the output loop: general code | home code << 8, from [`OUTCOMES`].
/// Every code is one that the counting ([`GENERAL_CODES`], [`HOME_CODES`]) looks for, so
/// that the counts add up to the keys (checked here, at compile time).
static PACKED_OUTCOMES: [u16; OUTCOMES.len()] = {
    let mut t = [0u16; OUTCOMES.len()];
    let mut i = 0;
    while i < OUTCOMES.len() {
        let [general, home, _] = OUTCOMES[i];
        assert!((general as usize) < GENERAL_CODES.len());
        assert!((home as usize) < HomeStatus::ALL.len() || home == NO_HOME_STATUS);
        t[i] = general as u16 | (home as u16) << 8;
        i += 1;
    }
    t
};

/// Evaluates keys `first..first + status.len()`; `Err(())` if any of them is invalid.
fn run_chunk(
    input: &BulkInput<'_>,
    first: usize,
    status: &mut [MaybeUninit<u8>],
    home: &mut [MaybeUninit<u8>],
    now: i64,
) -> Result<Counts, ()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { run_chunk_avx2(input, first, status, home, now) };
    }
    run_chunk_with::<false>(input, first, status, home, now)
}

/// [`run_chunk_with`] compiled for AVX2: the door bytes are translated 32 at a time and the
/// per-key column loop is vectorised by the compiler.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_chunk_avx2(
    input: &BulkInput<'_>,
    first: usize,
    status: &mut [MaybeUninit<u8>],
    home: &mut [MaybeUninit<u8>],
    now: i64,
) -> Result<Counts, ()> {
    run_chunk_with::<true>(input, first, status, home, now)
}

/// The loop, in blocks of [`BLOCK_KEYS`] keys, each in passes with no per-door branch: the
/// block's offsets are checked (never decreasing, the last within `door_states`) and whether
/// every key has the same number of doors; the block's door bytes become summary bits (one
/// table entry per byte); each key ORs its doors' bits (one masked word for a block of
/// uniform keys with up to 8 doors, three masked words for up to 24 doors, a loop only
/// beyond); the two time columns give a byte of time facts per key, and with the byte
/// columns and the summary a 12-bit situation (loops over plain arrays of one type each, which
/// the compiler vectorises); one packed table load per key gives both codes; the codes are
/// counted by compare-and-add over 32-byte rows. Validity is ORed into a flag; the caller
/// re-walks a flagged chunk to name the first error.
#[inline(always)]
fn run_chunk_with<const AVX2: bool>(
    input: &BulkInput<'_>,
    first: usize,
    status: &mut [MaybeUninit<u8>],
    home: &mut [MaybeUninit<u8>],
    now: i64,
) -> Result<Counts, ()> {
    let len = status.len();
    let end = first + len;
    let offsets = &input.door_offsets[first..=end];
    let door_count = input.door_states.len();
    let foreign_am = foreign_bits(KeyType::AccessMedium);
    let foreign_dk = foreign_bits(KeyType::DigitalKey);
    let mut counts = Counts::default();
    // Nonzero once any key is invalid (the OR of every check's bad bits).
    let mut bad = 0u8;
    let mut bits: Vec<u8> = Vec::new();
    let mut summary = [0u8; BLOCK_KEYS];
    let mut times = [0u8; BLOCK_KEYS];
    let mut low = [0u8; BLOCK_KEYS];
    let mut general = [0u8; BLOCK_KEYS];
    let mut home_codes = [0u8; BLOCK_KEYS];
    for a in (0..len).step_by(BLOCK_KEYS) {
        let b = (a + BLOCK_KEYS).min(len);
        let k = b - a;
        let block_offsets = &offsets[a..=b];
        let step = block_offsets[1].wrapping_sub(block_offsets[0]);
        let (mut decreasing, mut uniform) = (false, true);
        for (&x, &y) in block_offsets[..k].iter().zip(&block_offsets[1..]) {
            decreasing |= y < x;
            uniform &= y.wrapping_sub(x) == step;
        }
        let (lo, hi) = (block_offsets[0] as usize, block_offsets[k] as usize);
        // Offsets that never decrease (checked block by block, before the block is read)
        // and end within door_states put every key's doors inside it. A block past the end
        // is an error even where the batch's last offset is right: a later chunk comes back.
        if decreasing || hi > door_count {
            return Err(());
        }
        // Only the bytes of each key are ever kept (the masks drop the rest), so the padding
        // may hold anything: grow, never clear.
        if bits.len() < hi - lo + PAD {
            bits.resize(hi - lo + PAD, 0);
        }
        translate::<AVX2>(&input.door_states[lo..hi], &mut bits[..hi - lo]);

        let step = step as usize;
        if uniform && step <= 8 {
            // Every key of the block has the same few doors (the common case: a site's keys
            // each open their flat and the same common doors): one masked word per key.
            let done = uniform_summary::<AVX2>(&bits, step, &mut summary[..k]);
            let mask = MASKS[step];
            for (i, s) in summary[..k].iter_mut().enumerate().skip(done) {
                let head = &bits[i * step..i * step + 8];
                let x = u64::from_le_bytes(head.try_into().unwrap_or_default()) & mask;
                *s = fold_bytes(x);
            }
        } else {
            for (i, s) in summary[..k].iter_mut().enumerate() {
                let from = block_offsets[i] as usize - lo;
                let to = block_offsets[i + 1] as usize - lo;
                let n = to - from;
                let head = &bits[from..from + PAD];
                let w0 = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
                let w1 = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
                let w2 = u64::from_le_bytes(head[16..].try_into().unwrap_or_default());
                // Up to 24 doors without a branch (keys of 1 to 20 doors are common).
                let mut x = (w0 & MASKS[n.min(8)])
                    | (w1 & MASKS[n.saturating_sub(8).min(8)])
                    | (w2 & MASKS[n.saturating_sub(16).min(8)]);
                if n > PAD {
                    for &d in &bits[from + PAD..to] {
                        x |= u64::from(d);
                    }
                }
                *s = fold_bytes(x);
            }
        }

        // The time facts: bit 6 before valid_from, bit 7 at or after valid_until, bit 0 an
        // invalid window (it ends before it starts).
        time_facts::<AVX2>(
            &input.valid_from[first + a..first + b],
            &input.valid_until[first + a..first + b],
            now,
            &mut times[..k],
        );
        // The situation's low byte: key type, flags, time facts; its high bits are the
        // summary's low four.
        let key_types = &input.key_types[first + a..first + b];
        let flag_bytes = &input.flags[first + a..first + b];
        for ((((x, &kt), &fl), &t), &s) in low[..k]
            .iter_mut()
            .zip(key_types)
            .zip(flag_bytes)
            .zip(&times[..k])
            .zip(&summary[..k])
        {
            // The foreign mask of the key's type, chosen without a table lookup (a gather).
            let foreign = foreign_am ^ ((foreign_am ^ foreign_dk) & 0u8.wrapping_sub(kt & 1));
            bad |= (kt & !1) | (fl & !flags::KNOWN) | (t & 1) | (s & foreign);
            *x = (kt & 1) | (fl & flags::KNOWN) << 1 | (t & 0xc0);
        }

        for (((&x, &s), g), h) in low[..k]
            .iter()
            .zip(&summary[..k])
            .zip(&mut general[..k])
            .zip(&mut home_codes[..k])
        {
            let packed = PACKED_OUTCOMES[usize::from(x) | usize::from(s & 0x0f) << 8];
            *g = packed as u8;
            *h = (packed >> 8) as u8;
        }
        count_codes::<AVX2, _>(&general[..k], &GENERAL_CODES, &mut counts.general);
        count_codes::<AVX2, _>(&home_codes[..k], &HOME_CODES, &mut counts.home);
        for (o, &g) in status[a..b].iter_mut().zip(&general[..k]) {
            o.write(g);
        }
        for (o, &h) in home[a..b].iter_mut().zip(&home_codes[..k]) {
            o.write(h);
        }
    }
    if bad != 0 {
        return Err(());
    }
    Ok(counts)
}

/// For a block whose keys all have `step` doors (1 to 8): `out[i]` = the OR of
/// `bits[i * step..(i + 1) * step]` for the first keys, with AVX2 (16 keys at a time); returns
/// how many keys it did (the caller does the rest one word per key).
#[inline(always)]
fn uniform_summary<const AVX2: bool>(bits: &[u8], step: usize, out: &mut [u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if AVX2 && (1..=8).contains(&step) {
        // SAFETY: `AVX2` is only true inside `run_chunk_avx2`, reached after the CPU check.
        return unsafe { simd::uniform_summary(bits, step, out) };
    }
    let _ = (bits, step, out);
    0
}

/// `out[i]`: the time facts of key i: bit 6 before `valid_from`, bit 7 at or after
/// `valid_until`, bit 0 an invalid window (it ends before it starts).
#[inline(always)]
fn time_facts<const AVX2: bool>(valid_from: &[i64], valid_until: &[i64], now: i64, out: &mut [u8]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only true inside `run_chunk_avx2`, reached after the CPU check.
        done = unsafe { simd::time_facts(valid_from, valid_until, now, out) };
    }
    for ((t, &from), &until) in out[done..]
        .iter_mut()
        .zip(&valid_from[done..])
        .zip(&valid_until[done..])
    {
        *t = time_byte(from, until, now);
    }
}

/// The time facts of one key (see [`time_facts`]).
#[inline(always)]
fn time_byte(from: i64, until: i64, now: i64) -> u8 {
    let bounded = until != NO_END;
    u8::from(now < from) << 6
        | u8::from(bounded & (now >= until)) << 7
        | u8::from(bounded & (until <= from))
}

/// Adds to `out[j]` how often `values[j]` occurs in `codes` (at most [`BLOCK_KEYS`] of them):
/// with AVX2 by compare-and-subtract into one byte counter per lane over rows of 32 codes,
/// instead of one histogram increment per key.
#[inline(always)]
fn count_codes<const AVX2: bool, const N: usize>(
    codes: &[u8],
    values: &[u8; N],
    out: &mut [u64; N],
) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only true inside `run_chunk_avx2`, reached after the CPU check.
        done = unsafe { simd::count_codes(codes, values, out) };
    }
    let mut hist = [0u32; 256];
    for &c in &codes[done..] {
        hist[usize::from(c)] += 1;
    }
    for (&v, o) in values.iter().zip(out.iter_mut()) {
        *o += u64::from(hist[usize::from(v)]);
    }
}

/// The OR of a word's eight bytes.
#[inline(always)]
fn fold_bytes(mut x: u64) -> u8 {
    x |= x >> 32;
    x |= x >> 16;
    x |= x >> 8;
    x as u8
}

/// `out[j] = DOOR_BYTE_BITS[doors[j]]`.
#[inline(always)]
fn translate<const AVX2: bool>(doors: &[u8], out: &mut [u8]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only true inside `run_chunk_avx2`, reached after the CPU check.
        done = unsafe { simd::translate(doors, out) };
    }
    for (o, &d) in out[done..].iter_mut().zip(&doors[done..]) {
        *o = DOOR_BYTE_BITS[usize::from(d)];
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    use super::super::codes::DoorState;
    use super::super::derive::{door_bits, DOOR_BYTE_BITS, DOOR_ONLINE};
    use super::NO_END;

    /// A door byte is a state code (below 8) with the online bit, or invalid: its bits come
    /// from a 16-entry table on (code, online) and invalid bytes get both foreign bits.
    const _: () = assert!(DoorState::ALL.len() <= 8 && DOOR_ONLINE == 0x80);

    /// `DOOR_BYTE_BITS` of the 16 valid-shaped bytes: entry `code | online << 3`.
    const TABLE16: [u8; 16] = {
        let mut t = [0u8; 16];
        let mut k = 0;
        while k < 16 {
            t[k] = DOOR_BYTE_BITS[(k & 7) | (k & 8) << 4];
            k += 1;
        }
        t
    };

    /// Translates the longest multiple of 32 bytes; returns how many.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn translate(doors: &[u8], out: &mut [u8]) -> usize {
        let n = doors.len().min(out.len()) / 32 * 32;
        let table = _mm256_broadcastsi128_si256(_mm_loadu_si128(TABLE16.as_ptr().cast()));
        let low3 = _mm256_set1_epi8(7);
        let online = _mm256_set1_epi8(8);
        let middle = _mm256_set1_epi8(0x78);
        let foreign = _mm256_set1_epi8(
            (door_bits::FOREIGN_TO_ACCESS_MEDIUM | door_bits::FOREIGN_TO_DIGITAL_KEY) as i8,
        );
        let zero = _mm256_setzero_si256();
        let mut j = 0;
        while j < n {
            // SAFETY: j + 32 <= n <= both lengths.
            let d = _mm256_loadu_si256(doors.as_ptr().add(j).cast());
            // Bit 7 of each byte down to bit 3 (a 16-bit shift; the mask drops what crossed).
            let on = _mm256_and_si256(_mm256_srli_epi16(d, 4), online);
            let idx = _mm256_or_si256(_mm256_and_si256(d, low3), on);
            let bits = _mm256_shuffle_epi8(table, idx);
            let valid = _mm256_cmpeq_epi8(_mm256_and_si256(d, middle), zero);
            // Invalid bytes: exactly the two foreign bits, as in the table.
            let bits = _mm256_blendv_epi8(foreign, bits, valid);
            _mm256_storeu_si256(out.as_mut_ptr().add(j).cast(), bits);
            j += 32;
        }
        n
    }

    /// [`super::uniform_summary`] for the longest multiple of 16 keys whose loads stay within
    /// `bits`. Per four keys: two 16-byte loads (keys 0-1 and 2-3) side by side, a shuffle
    /// that puts each key's `step` bytes alone into a 64-bit word (the rest zero), the word's
    /// bytes ORed into its low byte by three shift-ORs; then a shuffle per four keys and one
    /// interleave put 16 summaries in key order.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn uniform_summary(bits: &[u8], step: usize, out: &mut [u8]) -> usize {
        if !(1..=8).contains(&step) {
            return 0;
        }
        // The last load of a group of 16 keys from key i reads bits[(i + 14) * step..][..16].
        let mut n = out.len() / 16 * 16;
        while n > 0 && (n - 2) * step + 16 > bits.len() {
            n -= 16;
        }
        let mut split = [-1i8; 16];
        for j in 0..step {
            split[j] = j as i8;
            split[8 + j] = (step + j) as i8;
        }
        // SAFETY: a 16-byte array.
        let split = _mm256_broadcastsi128_si256(_mm_loadu_si128(split.as_ptr().cast()));
        // Group g's two summaries per lane (bytes 0 and 8) go to bytes 2g and 2g + 1.
        let mut gather = [_mm256_setzero_si256(); 4];
        for (g, m) in gather.iter_mut().enumerate() {
            let mut t = [-1i8; 16];
            t[2 * g] = 0;
            t[2 * g + 1] = 8;
            // SAFETY: a 16-byte array.
            *m = _mm256_broadcastsi128_si256(_mm_loadu_si128(t.as_ptr().cast()));
        }
        let mut i = 0;
        while i < n {
            let mut acc = _mm256_setzero_si256();
            for (g, m) in gather.iter().enumerate() {
                // SAFETY: (i + 4g + 2) * step + 16 <= (n - 2) * step + 16 <= bits.len().
                let p = bits.as_ptr().add((i + 4 * g) * step);
                let v = _mm256_loadu2_m128i(p.add(2 * step).cast(), p.cast());
                let v = _mm256_shuffle_epi8(v, split);
                let v = _mm256_or_si256(v, _mm256_srli_epi64::<32>(v));
                let v = _mm256_or_si256(v, _mm256_srli_epi64::<16>(v));
                let v = _mm256_or_si256(v, _mm256_srli_epi64::<8>(v));
                acc = _mm256_or_si256(acc, _mm256_shuffle_epi8(v, *m));
            }
            // Lane 0 holds keys 0-1, 4-5, 8-9, 12-13 and lane 1 keys 2-3, 6-7, ..: interleave.
            let keys = _mm_unpacklo_epi16(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256::<1>(acc),
            );
            // SAFETY: i + 16 <= n <= out.len().
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), keys);
            i += 16;
        }
        n
    }

    /// [`super::time_facts`] for the longest multiple of 32 keys; returns how many. Per four
    /// keys four 64-bit compares; the 32 result words are packed down to 32 bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn time_facts(
        valid_from: &[i64],
        valid_until: &[i64],
        now: i64,
        out: &mut [u8],
    ) -> usize {
        let n = valid_from.len().min(valid_until.len()).min(out.len()) / 32 * 32;
        let now = _mm256_set1_epi64x(now);
        let no_end = _mm256_set1_epi64x(NO_END);
        let (bit0, bit6, bit7) = (
            _mm256_set1_epi64x(1),
            _mm256_set1_epi64x(1 << 6),
            _mm256_set1_epi64x(1 << 7),
        );
        // After the packs, lane 0 holds key pairs 0, 2, 4, .. 14 and lane 1 pairs 1, 3, .. 15
        // (two per dword): gather each lane's half, then order the pairs within each lane.
        let halves = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
        let pairs = _mm256_setr_epi8(
            0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, //
            0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
        );
        let mut i = 0;
        while i < n {
            let mut v = [_mm256_setzero_si256(); 8];
            for (j, w) in v.iter_mut().enumerate() {
                // SAFETY: i + 4 * j + 4 <= i + 32 <= n <= both lengths.
                let from = _mm256_loadu_si256(valid_from.as_ptr().add(i + 4 * j).cast());
                let until = _mm256_loadu_si256(valid_until.as_ptr().add(i + 4 * j).cast());
                let open = _mm256_cmpeq_epi64(until, no_end);
                let before = _mm256_and_si256(_mm256_cmpgt_epi64(from, now), bit6);
                let after = _mm256_andnot_si256(
                    _mm256_or_si256(open, _mm256_cmpgt_epi64(until, now)),
                    bit7,
                );
                let bad = _mm256_andnot_si256(
                    _mm256_or_si256(open, _mm256_cmpgt_epi64(until, from)),
                    bit0,
                );
                *w = _mm256_or_si256(_mm256_or_si256(before, after), bad);
            }
            // Each 64-bit word holds a byte value: three packs take 32 words to 32 bytes.
            let a = _mm256_packus_epi16(
                _mm256_packus_epi32(v[0], v[1]),
                _mm256_packus_epi32(v[2], v[3]),
            );
            let b = _mm256_packus_epi16(
                _mm256_packus_epi32(v[4], v[5]),
                _mm256_packus_epi32(v[6], v[7]),
            );
            let bytes = _mm256_packus_epi16(a, b);
            let ordered = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(bytes, halves), pairs);
            // SAFETY: i + 32 <= n <= out.len().
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), ordered);
            i += 32;
        }
        n
    }

    /// [`super::count_codes`] for the longest multiple of 32 codes (at most 255 rows, so no
    /// byte counter overflows); returns how many codes it counted.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn count_codes<const N: usize>(
        codes: &[u8],
        values: &[u8; N],
        out: &mut [u64; N],
    ) -> usize {
        let rows = (codes.len() / 32).min(255);
        let mut counters = [_mm256_setzero_si256(); N];
        for r in 0..rows {
            // SAFETY: 32 * r + 32 <= codes.len().
            let row = _mm256_loadu_si256(codes.as_ptr().add(32 * r).cast());
            for (c, &v) in counters.iter_mut().zip(values) {
                // A match is -1 in its byte: subtracting it counts one.
                *c = _mm256_sub_epi8(*c, _mm256_cmpeq_epi8(row, _mm256_set1_epi8(v as i8)));
            }
        }
        for (c, o) in counters.iter().zip(out.iter_mut()) {
            // Sum of the 32 byte counters: four 64-bit partial sums, then two, then one.
            let s = _mm256_sad_epu8(*c, _mm256_setzero_si256());
            let t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            *o += (_mm_cvtsi128_si64(t) + _mm_extract_epi64::<1>(t)) as u64;
        }
        rows * 32
    }
}

/// The first error at or after key `from` (the fast loop found one), described precisely.
pub(crate) fn first_error(input: &BulkInput<'_>, from: usize) -> StatusError {
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

/// `threads`, or by default one per available core: the default is a pool of keyworker's own
/// too (not rayon's global one), whose workers are pinned (see [`pool`]).
pub(crate) fn threads_or_cores(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |cores| cores.get().min(MAX_THREADS))
    })
}

/// A pool of exactly `threads` threads, built on first use and kept for later calls (the
/// revocation planner's; bulk evaluation works on the calling thread with [`helpers`]).
pub(crate) fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, StatusError> {
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(Arc::clone(p));
    }
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let built = pinned_pool(threads, cores, |i| format!("keyworker-status-{i}"))?;
    pools.push((threads, Arc::clone(&built)));
    Ok(built)
}

/// A pool of `threads` workers, worker i pinned to `cores[i % cores.len()]` (round robin; not
/// pinned when `cores` is empty). Unpinned, the kernel wakes workers on the core of the thread
/// that woke them (wake-affine) after that thread has been busy, and moves the second one to
/// the idle core only after a few milliseconds: as long as a call takes, so a 2-thread call
/// ran on one core (bench/bulk_status.py, "cores").
fn pinned_pool(
    threads: usize,
    cores: Vec<core_affinity::CoreId>,
    name: impl Fn(usize) -> String + Send + Sync + 'static,
) -> Result<Arc<rayon::ThreadPool>, StatusError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(name)
        .start_handler(move |i| {
            if !cores.is_empty() {
                core_affinity::set_for_current(cores[i % cores.len()]);
            }
        })
        .build()
        .map(Arc::new)
        .map_err(|e| StatusError::bulk("threads", format!("cannot start {threads} threads: {e}")))
}

#[cfg(test)]
mod tests {
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
    fn evaluating_into_the_callers_buffers_gives_the_same_codes() {
        let c = sample();
        let whole = evaluate_bulk(&c.input(), NOW, None).unwrap();
        for threads in [None, Some(1), Some(2)] {
            // Stale bytes in the buffers must all be overwritten.
            let (mut status, mut home) = ([MaybeUninit::new(0xee); 5], [MaybeUninit::new(0xee); 5]);
            let counts =
                evaluate_bulk_into(&c.input(), NOW, threads, &mut status, &mut home).unwrap();
            // SAFETY: initialised above (and rewritten by the call).
            let read = |b: &[MaybeUninit<u8>]| {
                b.iter()
                    .map(|x| unsafe { x.assume_init() })
                    .collect::<Vec<u8>>()
            };
            assert_eq!(read(&status), whole.status);
            assert_eq!(read(&home), whole.home_status);
            assert_eq!(counts.status_counts, whole.status_counts);
            assert_eq!(counts.home_status_counts, whole.home_status_counts);
        }
        let (mut status, mut home) = ([MaybeUninit::new(0); 5], [MaybeUninit::new(0); 4]);
        let e = evaluate_bulk_into(&c.input(), NOW, None, &mut status, &mut home).unwrap_err();
        assert_eq!(e.field(), Some("home_status"));
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
        // More threads than cores too: helpers share cores, and the order still holds.
        for threads in [None, Some(1), Some(2), Some(3), Some(8)] {
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
    fn every_door_byte_translates_to_its_table_entry() {
        // Every byte, at every position of a 32-byte vector and in the scalar tail.
        let doors: Vec<u8> = (0..=255u8).cycle().take(256 * 33 + 7).collect();
        let mut out = vec![0u8; doors.len()];
        run_translate(&doors, &mut out);
        for (d, o) in doors.iter().zip(&out) {
            assert_eq!(*o, DOOR_BYTE_BITS[usize::from(*d)], "byte {d}");
        }
    }

    /// [`translate`] the way [`run_chunk`] picks it on this CPU.
    fn run_translate(doors: &[u8], out: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: checked just above.
            unsafe { translate_avx2(doors, out) };
            return;
        }
        translate::<false>(doors, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn translate_avx2(doors: &[u8], out: &mut [u8]) {
        translate::<true>(doors, out);
    }

    /// [`time_facts`] the way [`run_chunk`] picks it on this CPU.
    fn run_time_facts(from: &[i64], until: &[i64], now: i64, out: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: checked just above.
            unsafe { time_facts_avx2(from, until, now, out) };
            return;
        }
        time_facts::<false>(from, until, now, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn time_facts_avx2(from: &[i64], until: &[i64], now: i64, out: &mut [u8]) {
        time_facts::<true>(from, until, now, out);
    }

    /// [`count_codes`] the way [`run_chunk`] picks it on this CPU.
    fn run_count_codes<const N: usize>(codes: &[u8], values: &[u8; N]) -> [u64; N] {
        let mut out = [0; N];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: checked just above.
            unsafe { count_codes_avx2(codes, values, &mut out) };
            return out;
        }
        count_codes::<false, N>(codes, values, &mut out);
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn count_codes_avx2<const N: usize>(codes: &[u8], values: &[u8; N], out: &mut [u64; N]) {
        count_codes::<true, N>(codes, values, out);
    }

    /// Instants around `NOW` and at the ends of i64, where a compare could go wrong.
    fn instant() -> impl proptest::strategy::Strategy<Value = i64> {
        use proptest::prelude::*;
        prop_oneof![
            (-2i64..=2).prop_map(|d| NOW + d),
            Just(i64::MIN),
            Just(i64::MIN + 1),
            Just(NO_END - 1),
            Just(NO_END),
            Just(0),
            any::<i64>(),
        ]
    }

    proptest::proptest! {
        /// The vectorised time facts (32 keys at a time, then the scalar tail) equal the
        /// one-key rule at every position.
        #[test]
        fn time_facts_equal_the_one_key_rule(
            times in proptest::collection::vec((instant(), instant()), 0..100),
            now in instant(),
        ) {
            let (from, until): (Vec<i64>, Vec<i64>) = times.into_iter().unzip();
            let mut out = vec![0xee; from.len()];
            run_time_facts(&from, &until, now, &mut out);
            for i in 0..from.len() {
                proptest::prop_assert_eq!(out[i], time_byte(from[i], until[i], now), "key {}", i);
            }
        }

        /// The vectorised counts equal a plain tally, for any bytes and any block length.
        #[test]
        fn counting_codes_equals_a_tally(
            codes in proptest::collection::vec(
                proptest::prop_oneof![0u8..8, proptest::strategy::Just(NO_HOME_STATUS), proptest::arbitrary::any::<u8>()],
                0..=BLOCK_KEYS,
            ),
        ) {
            let tally = |v: u8| codes.iter().filter(|&&c| c == v).count() as u64;
            proptest::prop_assert_eq!(run_count_codes(&codes, &GENERAL_CODES), GENERAL_CODES.map(tally));
            proptest::prop_assert_eq!(run_count_codes(&codes, &HOME_CODES), HOME_CODES.map(tally));
        }
    }

    /// [`uniform_summary`] the way [`run_chunk`] picks it on this CPU; how many keys it did.
    fn run_uniform_summary(bits: &[u8], step: usize, out: &mut [u8]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: checked just above.
            return unsafe { uniform_summary_avx2(bits, step, out) };
        }
        uniform_summary::<false>(bits, step, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn uniform_summary_avx2(bits: &[u8], step: usize, out: &mut [u8]) -> usize {
        uniform_summary::<true>(bits, step, out)
    }

    #[test]
    fn the_fixed_door_count_summary_equals_the_or_of_each_keys_doors() {
        // Every door count the fast path takes, every key count up to a block (full groups of
        // 16 and tails), over bytes where every bit varies.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let bits: Vec<u8> = (0..BLOCK_KEYS * 9 + PAD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        for step in 0..=9 {
            for keys in [0, 1, 15, 16, 17, 31, 32, 100, BLOCK_KEYS - 1, BLOCK_KEYS] {
                let mut out = vec![0u8; keys];
                let used = &bits[..keys * step + PAD];
                let done = run_uniform_summary(used, step, &mut out);
                assert!(
                    done <= keys && done % 16 == 0,
                    "step {step}, {keys} keys: {done}"
                );
                if (1..=8).contains(&step) && std::arch::is_x86_feature_detected!("avx2") {
                    assert_eq!(done, keys / 16 * 16, "step {step}, {keys} keys");
                }
                for (i, &o) in out[..done].iter().enumerate() {
                    let want = used[i * step..(i + 1) * step].iter().fold(0, |a, &b| a | b);
                    assert_eq!(o, want, "step {step}, {keys} keys, key {i}");
                }
            }
        }
    }

    /// Codes and counts of one chunk from `run_chunk_with::<false>` (no AVX2) or from
    /// [`run_chunk`] (AVX2 where the CPU has it).
    fn chunk_of(c: &Columns, portable: bool) -> Result<(Vec<u8>, Vec<u8>, Counts), ()> {
        let n = c.key_types.len();
        let (mut status, mut home) = (
            vec![MaybeUninit::new(0xee); n],
            vec![MaybeUninit::new(0xee); n],
        );
        let counts = if portable {
            run_chunk_with::<false>(&c.input(), 0, &mut status, &mut home, NOW)?
        } else {
            run_chunk(&c.input(), 0, &mut status, &mut home, NOW)?
        };
        // SAFETY: initialised above (and rewritten by the call).
        let read = |b: &[MaybeUninit<u8>]| b.iter().map(|x| unsafe { x.assume_init() }).collect();
        Ok((read(&status), read(&home), counts))
    }

    #[test]
    fn the_portable_loop_equals_the_one_this_cpu_runs() {
        // Valid keys of every type, flag set, time around NOW and door state; blocks where
        // every key has the same 0, 1, 5, 8 or 9 doors and blocks of 0 to 40; then with one
        // bad key of each kind. On an AVX2 CPU this compares the vectorised paths with the
        // portable ones on whole chunks (several blocks and a partial one).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for doors_per_key in [Some(0), Some(1), Some(5), Some(8), Some(9), None] {
            let mut c = Columns::default();
            for _ in 0..2 * BLOCK_KEYS + 77 {
                let kt = (rnd() & 1) as u8;
                let key_type = KeyType::from_code(kt).unwrap();
                let allowed: Vec<u8> = DoorState::ALL
                    .iter()
                    .filter(|s| key_type.allows(**s))
                    .map(|s| s.code())
                    .collect();
                let n = doors_per_key.unwrap_or((rnd() % 41) as usize);
                let doors: Vec<u8> = (0..n)
                    .map(|_| {
                        allowed[rnd() as usize % allowed.len()]
                            | if rnd() & 1 == 1 { ON } else { 0 }
                    })
                    .collect();
                let from = NOW + (rnd() % 7) as i64 - 3;
                let until = if rnd() % 3 == 0 {
                    NO_END
                } else {
                    from + 1 + (rnd() % 4) as i64
                };
                c.push(kt, (rnd() & 0x1f) as u8, from, until, &doors);
            }
            let portable = chunk_of(&c, true).unwrap();
            assert_eq!(
                chunk_of(&c, false).unwrap(),
                portable,
                "{doors_per_key:?} doors"
            );
            let out = evaluate_bulk(&c.input(), NOW, Some(1)).unwrap();
            assert_eq!((out.status, out.home_status), (portable.0, portable.1));
            let at = BLOCK_KEYS + 40;
            let mut bad_type = c.clone();
            bad_type.key_types[at] = 2;
            let mut bad_flags = c.clone();
            bad_flags.flags[at] = 0x40;
            let mut bad_window = c.clone();
            bad_window.valid_until[at] = bad_window.valid_from[at];
            let mut bad_offsets = c.clone();
            bad_offsets.door_offsets[at] = bad_offsets.door_offsets[at + 1] + 1;
            for bad in [bad_type, bad_flags, bad_window, bad_offsets] {
                assert_eq!(chunk_of(&bad, true), Err(()));
                assert_eq!(chunk_of(&bad, false), Err(()));
            }
        }
    }

    #[test]
    fn a_block_of_one_value_counts_all_of_it() {
        // Every byte counter at its most (32 rows of the same code).
        let codes = [NO_HOME_STATUS; BLOCK_KEYS];
        let counts = run_count_codes(&codes, &HOME_CODES);
        assert_eq!(counts[HomeStatus::ALL.len()], BLOCK_KEYS as u64);
        assert_eq!(counts[..HomeStatus::ALL.len()].iter().sum::<u64>(), 0);
    }

    #[test]
    fn offsets_past_the_end_in_an_early_chunk_are_an_error_on_any_thread_count() {
        // Chunk 0's offsets never decrease but end past door_states; chunk 1 comes back down.
        // Chunk 0 must not read past the end (it once did: a panic on two threads).
        let mut c = Columns::default();
        for _ in 0..2 * CHUNK_KEYS {
            c.push(0, 0, NOW, NO_END, &[2]);
        }
        let m = c.door_states.len() as u32;
        c.door_offsets[CHUNK_KEYS] = m + 1000;
        for threads in [None, Some(1), Some(2)] {
            let (field, reason) = match evaluate_bulk(&c.input(), NOW, threads).unwrap_err() {
                StatusError::InvalidBulkInput { field, reason } => (field, reason),
                other => panic!("not a bulk input error: {other:?}"),
            };
            assert_eq!(field, "door_offsets");
            assert!(
                reason.contains(&format!(
                    "door_offsets[{CHUNK_KEYS}] = {} is past the end",
                    m + 1000
                )),
                "{reason}"
            );
        }
    }

    #[test]
    fn callers_on_several_threads_at_once_each_get_their_own_answer() {
        // The helper pools are shared by every caller (one per helper number and core): four
        // threads evaluating multi-chunk batches on two threads at once, each batch its own,
        // must each get what one thread alone gives for it.
        let batches: Vec<Columns> = (0..4u8)
            .map(|b| {
                let mut c = Columns::default();
                for i in 0..3 * CHUNK_KEYS + 17 {
                    let state = [0u8, 1, 2, 3, 4][(i + usize::from(b)) % 5];
                    let doors = vec![state | if i % 3 == 0 { ON } else { 0 }; 1 + i % 6];
                    let until = if i % 7 == 0 { NOW + 5 } else { NO_END };
                    c.push(0, 0, NOW - i64::from(b), until, &doors);
                }
                c
            })
            .collect();
        let alone: Vec<_> = batches
            .iter()
            .map(|c| evaluate_bulk(&c.input(), NOW, Some(1)).unwrap())
            .collect();
        std::thread::scope(|scope| {
            let runs: Vec<_> = batches
                .iter()
                .map(|c| {
                    scope.spawn(move || {
                        (0..20)
                            .map(|_| evaluate_bulk(&c.input(), NOW, Some(2)).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for (run, expected) in runs.into_iter().zip(&alone) {
                for out in run.join().unwrap() {
                    assert_eq!(&out, expected);
                }
            }
        });
    }

    #[test]
    fn keys_with_many_doors_and_none_are_evaluated_exactly() {
        // Door counts across the one-word (8), three-word (24) and loop (> 24) paths.
        let mut c = Columns::default();
        for n in 0..40usize {
            let mut doors = vec![2 | ON; n];
            if n > 0 {
                doors[n - 1] = 1; // the last door decides: deployment pending, offline
            }
            c.push(0, 0, NOW - 10, NO_END, &doors);
        }
        let out = evaluate_bulk(&c.input(), NOW, Some(1)).unwrap();
        assert_eq!(out.status[0], 1); // no doors: active
        assert!(out.status[1..].iter().all(|&s| s == 2), "{:?}", out.status);
        assert!(out.home_status[1..].iter().all(|&h| h == 3));
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
