"""The strongest plain-Python bulk status evaluation we could write: vectorised numpy.

It is the bar ``bench/bulk_status.py`` holds the Rust core against (the plain loop of
``tests/oracle.py`` stays the correctness reference, not the bar). It lives in the bench, not
in the package: the package's rules live in the Rust core only.

How it works, per block of ``BLOCK_KEYS`` keys (so that every temporary stays in the L2 cache):

1. door facts: each door byte becomes the door facts the rules look at (6 bits: present,
   deployment pending, pending, manual pending, and two "never a state of this key type"
   marks) with one ``np.take`` from a 256-entry table, and the bits are ORed per key: for a
   batch where every key has the same number of doors, over that many strided columns; for
   variable door counts, through a prefix sum of the bits spread one per byte (the difference
   of two prefix sums at a key's offsets counts each fact over its doors, exactly, for keys of
   up to 127 doors), then one carry trick turns the counts back into bits;
2. one 12-bit situation index per key (key type, flags, the two clock comparisons, the four
   door facts) and two ``np.take`` from 4096-entry outcome tables; counts by ``np.bincount`` of
   the index.

The tables are not a second statement of the rules: the outcome table is filled by running
the oracle (``tests.oracle.evaluate_bulk``) on one representative key per situation, and the
door-byte table from the oracle's state sets. Invalid input raises ``ValueError`` (no field
naming: the bench only checks that it rejects what the core rejects).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tests import oracle

BLOCK_KEYS = 32 * 1024
MAX_VARIABLE_DOORS = 127

# Door-fact bits (the low four are the situation's door facts).
PRESENT, DEPLOYMENT_PENDING, PENDING, MANUAL_PENDING = 1, 2, 4, 8
FOREIGN = (16, 32)  # never a state of an access medium / of a digital key (or no state)

Array = np.ndarray[Any, Any]


def _door_bits(byte: int) -> int:
    code = byte & oracle.STATE_MASK
    if code >= len(oracle.DOOR_STATES):
        return FOREIGN[0] | FOREIGN[1]
    state = oracle.DOOR_STATES[code]
    bits = 0 if state in ("none", "removed") else PRESENT
    if state == "deployment_pending":
        bits |= DEPLOYMENT_PENDING
    if state in oracle.PENDING_DOOR_STATES:
        bits |= PENDING
        if not byte & oracle.ONLINE_BIT:
            bits |= MANUAL_PENDING
    for i, key_type in enumerate(oracle.KEY_TYPES):
        if state not in oracle.STATES_OF_KEY_TYPE[key_type]:
            bits |= FOREIGN[i]
    return bits


DOOR_BITS = np.array([_door_bits(b) for b in range(256)], dtype=np.uint8)
# The same six bits, one per byte of a u64, so that sums over a key's doors cannot carry.
DOOR_SPREAD = np.array(
    [sum(((int(v) >> j) & 1) << (8 * j) for j in range(6)) for v in DOOR_BITS], dtype=np.uint64
)
_SEVENS = np.uint64(0x7F7F7F7F7F7F)
_HIGHS = np.uint64(0x808080808080)
# Multiplying the six high bits (7, 15, ..., 47) by this gathers them into bits 56..61.
_GATHER = np.uint64(sum(1 << (49 - 7 * j) for j in range(6)))


def _representative_doors(key_type: str) -> dict[int, list[int]]:
    """One door list (bytes) per reachable 4-bit door summary of a key type."""
    allowed = [
        code | (oracle.ONLINE_BIT if online else 0)
        for code, state in enumerate(oracle.DOOR_STATES)
        if state in oracle.STATES_OF_KEY_TYPE[key_type]
        for online in (False, True)
    ]
    found: dict[int, list[int]] = {}
    for size in range(len(allowed) + 1):
        for doors in itertools.combinations(allowed, size):
            summary = 0
            for byte in doors:
                summary |= int(DOOR_BITS[byte])
            found.setdefault(summary & 0x0F, list(doors))
    return found


def _outcome_tables() -> tuple[Array, Array]:
    """General and home status per 12-bit situation, as the oracle evaluates them."""
    now = 0
    cols: dict[str, list[int]] = {k: [] for k in ("kt", "fl", "vf", "vu", "off", "doors")}
    cols["off"].append(0)
    indices = []
    for kt, key_type in enumerate(oracle.KEY_TYPES):
        reps = _representative_doors(key_type)
        for fl in range(32):
            for before, after in ((0, 0), (1, 0), (0, 1)):
                for summary, doors in reps.items():
                    indices.append(kt | fl << 1 | before << 6 | after << 7 | summary << 8)
                    cols["kt"].append(kt)
                    cols["fl"].append(fl)
                    cols["vf"].append(now + 1 if before else now - 10)
                    cols["vu"].append(now if after else oracle.NO_END)
                    cols["doors"].extend(doors)
                    cols["off"].append(len(cols["doors"]))
    result = oracle.evaluate_bulk(
        np.array(cols["kt"], np.uint8),
        np.array(cols["fl"], np.uint8),
        np.array(cols["vf"], np.int64),
        np.array(cols["vu"], np.int64),
        np.array(cols["off"], np.uint32),
        np.array(cols["doors"], np.uint8),
        now,
    )
    # Situations no valid key reaches (before valid_from and after valid_until at once, door
    # summaries no door list gives) keep 0; evaluate() never reads them.
    general = np.zeros(4096, np.uint8)
    home = np.zeros(4096, np.uint8)
    general[indices] = np.frombuffer(result.status, np.uint8)
    home[indices] = np.frombuffer(result.home_status, np.uint8)
    return general, home


OUT_GENERAL, OUT_HOME = _outcome_tables()
_HOME_SLOT = np.where(OUT_HOME == oracle.HOME_NONE, len(oracle.HOME_STATUSES), OUT_HOME)


def _door_summary_uniform(doors: Array, per_key: int) -> Array:
    bits = np.take(DOOR_BITS, doors).reshape(-1, per_key)
    summary = bits[:, 0].copy()
    for j in range(1, per_key):
        summary |= bits[:, j]
    return summary


def _door_summary_variable(doors: Array, offsets: Array) -> Array:
    prefix = np.empty(doors.size + 1, np.uint64)
    prefix[0] = 0
    np.cumsum(np.take(DOOR_SPREAD, doors), out=prefix[1:])
    rel = offsets - offsets[0]
    counts = prefix[rel[1:]] - prefix[rel[:-1]]
    # A byte holding a count of 1..128 gets its high bit from adding 0x7f, a zero count not.
    return (((counts + _SEVENS) & _HIGHS) * _GATHER >> np.uint64(56)).astype(np.uint8)


def evaluate_bulk(
    key_types: Array,
    flags: Array,
    valid_from: Array,
    valid_until: Array,
    door_offsets: Array,
    door_states: Array,
    now: int,
) -> tuple[Array, Array, Array, Array]:
    """General and home codes per key, and counts per general code and home slot."""
    n = key_types.size
    if not (flags.size == valid_from.size == valid_until.size == n == door_offsets.size - 1):
        raise ValueError("column lengths")
    offsets = door_offsets.astype(np.int64, copy=False)
    if offsets[0] != 0 or offsets[-1] != door_states.size:
        raise ValueError("door_offsets ends")
    counts_per_key = np.diff(offsets)
    if counts_per_key.size and counts_per_key.min() < 0:
        raise ValueError("door_offsets decrease")
    uniform = counts_per_key.size > 0 and counts_per_key.min() == counts_per_key.max()
    per_key = int(counts_per_key[0]) if uniform else 0
    if not uniform and counts_per_key.size and counts_per_key.max() > MAX_VARIABLE_DOORS:
        raise ValueError("more doors per key than this baseline handles")
    no_end = np.int64(oracle.NO_END)
    now64 = np.int64(now)

    general = np.empty(n, np.uint8)
    home = np.empty(n, np.uint8)
    situations = np.zeros(4096, np.int64)
    foreign = np.array(FOREIGN, np.uint8)
    for a in range(0, n, BLOCK_KEYS):
        b = min(a + BLOCK_KEYS, n)
        lo, hi = int(offsets[a]), int(offsets[b])
        if uniform and per_key:
            summary = _door_summary_uniform(door_states[lo:hi], per_key)
        elif uniform:
            summary = np.zeros(b - a, np.uint8)
        else:
            summary = _door_summary_variable(door_states[lo:hi], offsets[a : b + 1])
        kt = key_types[a:b]
        fl = flags[a:b]
        vf = valid_from[a:b]
        vu = valid_until[a:b]
        if (kt > 1).any() or (fl & 0xE0).any():
            raise ValueError("key_types or flags")
        bounded = vu != no_end
        if (bounded & (vu <= vf)).any():
            raise ValueError("valid_until")
        if (summary & np.take(foreign, kt)).any():
            raise ValueError("door_states")
        index = (summary & 0x0F).astype(np.uint16) << 8
        index |= fl.astype(np.uint16) << 1
        index |= kt
        index |= (vf > now64).view(np.uint8).astype(np.uint16) << 6
        index |= ((vu <= now64) & bounded).view(np.uint8).astype(np.uint16) << 7
        np.take(OUT_GENERAL, index, out=general[a:b])
        np.take(OUT_HOME, index, out=home[a:b])
        situations += np.bincount(index, minlength=4096)
    status_counts = np.bincount(OUT_GENERAL, weights=situations, minlength=7).astype(np.int64)
    home_counts = np.bincount(_HOME_SLOT, weights=situations, minlength=8).astype(np.int64)
    return general, home, status_counts, home_counts
