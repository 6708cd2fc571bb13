"""The strongest plain-Python revocation plan we could write: vectorised numpy, target "all".

It is the bar ``bench/revocation_plan.py`` holds the core's planner against (the plain loop of
``tests/revocation/plan_oracle.py`` stays the correctness reference). It lives in the bench,
not in the package. The statuses come from the numpy status baseline (``numpy_status``); the
door transitions from the oracle's transition function, as 256-entry tables; the grouping
rule is the one of ``docs/revocation-runs.md``:

- every key: its status before (numpy status evaluation), already revoked, cannot be revoked
  (a door row refuses ``revoke``: OR over its rows), or revoked;
- revoked keys: their status after (a second evaluation with the revoked flag and the rows
  after), rows that become work per door (``np.bincount``);
- each key's anchor, its door with work with the fewest rows (lowest index on a tie): a
  minimum over its rows' door row counts, then over the doors at that minimum (u32, folded
  over strided columns); the order sorts ``anchor << 32 | key`` (one ``np.sort`` of unique
  64-bit values, numpy's SIMD sort) rather than a stable argsort;
- door changes: distinct (door, chunk) pairs of work rows (a sort and a comparison with the
  neighbour), counted per door.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy_status

from keyworker.errors import IllegalTransition
from tests import oracle

ILLEGAL = 0xFF
Array = np.ndarray[Any, Any]


def _revoke_row(byte: int) -> int:
    code = byte & oracle.STATE_MASK
    if code >= len(oracle.DOOR_STATES):
        return ILLEGAL
    try:
        state = oracle.next_door_state("access_medium", oracle.DOOR_STATES[code], "revoke")
    except IllegalTransition:
        return ILLEGAL
    return oracle.DOOR_STATES.index(state) | (byte & oracle.ONLINE_BIT)


REVOKE_ROW = np.array([_revoke_row(b) for b in range(256)], np.uint8)
ROW_IS_WORK = np.array(
    [
        after not in (ILLEGAL, before)
        and oracle.DOOR_STATES[after & oracle.STATE_MASK] in oracle.PENDING_DOOR_STATES
        for before, after in enumerate(REVOKE_ROW.tolist())
    ],
    bool,
)


def _per_key(values: Array, offsets: Array, reduce: Any, empty: int) -> Array:
    """``reduce`` over each key's rows; ``empty`` for keys without rows."""
    counts = np.diff(offsets)
    if counts.size and counts.min() == counts.max():
        k = int(counts[0])
        if k == 0:
            return np.full(counts.size, empty, values.dtype)
        # Same rows per key: fold k strided columns (numpy's reduce along a short axis is slow).
        rows = values.reshape(-1, k)
        out = rows[:, 0].copy()
        for j in range(1, k):
            reduce(out, rows[:, j], out=out)
        return out
    padded = np.append(values, values.dtype.type(empty))
    out = reduce.reduceat(padded, offsets[:-1])
    out[counts == 0] = empty
    return out  # type: ignore[no-any-return]


def plan(columns: Any, now: int, *, door_count: int, chunk_size: int = 100) -> dict[str, Any]:
    """The plan of revoking every key of ``columns``, as the core's raw plan (numpy arrays)."""
    c = columns
    n = c.key_types.size
    offsets = c.door_offsets.astype(np.int64)
    before, _, status_counts, _ = numpy_status.evaluate_bulk(
        c.key_types, c.flags, c.valid_from, c.valid_until, c.door_offsets, c.door_states, now
    )
    if c.door_index.size != c.door_states.size or (c.door_index >= door_count).any():
        raise ValueError("door_index")
    row_key_type = np.repeat(c.key_types, np.diff(offsets))
    access_medium_row = row_key_type == 0
    revoked_rows = np.where(access_medium_row, np.take(REVOKE_ROW, c.door_states), c.door_states)
    illegal = _per_key(revoked_rows == ILLEGAL, offsets, np.logical_or, 0)
    already = (c.flags & oracle.REVOKED) != 0
    cannot = ~already & illegal
    revoke = ~already & ~illegal
    after_rows = np.where(revoked_rows == ILLEGAL, c.door_states, revoked_rows)
    after, _, _, _ = numpy_status.evaluate_bulk(
        c.key_types,
        c.flags | np.uint8(oracle.REVOKED),
        c.valid_from,
        c.valid_until,
        c.door_offsets,
        after_rows,
        now,
    )
    status_after = np.where(revoke, after, before)
    revoked_code = oracle.GENERAL_STATUSES.index("revoked")
    complete = revoke & (after == revoked_code)

    row_revoke = np.repeat(revoke, np.diff(offsets))
    work = row_revoke & access_medium_row & np.take(ROW_IS_WORK, c.door_states)
    door_rows = np.bincount(c.door_index[work], minlength=door_count).astype(np.uint32)

    # Anchor: the door with the fewest rows among the key's work rows, then the lowest index:
    # two per-key minimums on u32 (rows, then doors among the rows at that minimum).
    never = np.uint32(np.iinfo(np.uint32).max)
    rows_at = np.where(work, np.take(door_rows, c.door_index), never)
    fewest = _per_key(rows_at, offsets, np.minimum, int(never))
    fewest_per_row = np.repeat(fewest, np.diff(offsets))
    candidate = np.where(work & (rows_at == fewest_per_row), c.door_index, never)
    best = _per_key(candidate, offsets, np.minimum, int(never))
    anchor = np.where(best == never, np.int64(door_count), best.astype(np.int64))
    to_revoke = np.flatnonzero(revoke)
    order = (np.sort(anchor[to_revoke] << 32 | to_revoke) & 0xFFFFFFFF).astype(np.uint32)
    total = order.size
    chunk_offsets = np.append(np.arange(0, total, chunk_size), total).astype(np.uint32)

    chunk_of_key = np.zeros(n, np.uint32)
    chunk_of_key[order] = np.arange(total, dtype=np.uint32) // np.uint32(chunk_size)
    chunk_of_row = np.repeat(chunk_of_key, np.diff(offsets))[work]
    # Distinct (door, chunk) pairs: one SIMD sort and the places where the value changes
    # (numpy's np.unique takes a hash path here that is several times slower).
    pairs = np.sort(c.door_index[work].astype(np.uint64) << np.uint64(32) | chunk_of_row)
    first = np.ones(pairs.size, bool)
    np.not_equal(pairs[1:], pairs[:-1], out=first[1:])
    door_changes = np.bincount(pairs[first] >> np.uint64(32), minlength=door_count).astype(
        np.uint32
    )
    return {
        "selected": n,
        "status_counts": status_counts.tolist(),
        "status_after_counts": np.bincount(status_after, minlength=7).tolist(),
        "already_revoked": int(already.sum()),
        "cannot_revoke": np.flatnonzero(cannot).astype(np.uint32),
        "complete_at_once": int(complete.sum()),
        "app_reload_waits": int((revoke & ~complete & (c.key_types == 1)).sum()),
        "order": order,
        "chunk_offsets": chunk_offsets,
        "door_rows": door_rows,
        "door_changes": door_changes,
    }


def equals_core(numpy_plan: dict[str, Any], raw: tuple[Any, ...]) -> bool:
    """Whether a numpy plan equals the core's raw plan (``planner.plan_columns``)."""

    def u32(data: bytes) -> list[int]:
        return list(memoryview(data).cast("I"))

    got = [
        numpy_plan["selected"],
        numpy_plan["status_counts"],
        numpy_plan["status_after_counts"],
        numpy_plan["already_revoked"],
        numpy_plan["cannot_revoke"].tolist(),
        numpy_plan["complete_at_once"],
        numpy_plan["app_reload_waits"],
        numpy_plan["order"].tolist(),
        numpy_plan["chunk_offsets"].tolist(),
        numpy_plan["door_rows"].tolist(),
        numpy_plan["door_changes"].tolist(),
    ]
    want = [
        raw[0],
        list(raw[1]),
        list(raw[2]),
        raw[3],
        u32(raw[4]),
        raw[5],
        raw[6],
        u32(raw[7]),
        u32(raw[8]),
        u32(raw[9]),
        u32(raw[10]),
    ]
    return got == want
