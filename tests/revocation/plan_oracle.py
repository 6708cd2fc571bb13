"""A plain-Python statement of the revocation plan (``docs/revocation-runs.md``, "The plan"),
independent of the core: transitions and statuses come from the test oracle
(``tests/oracle.py``), the grouping rule is written out again here. Tests compare the core's
plan with it; the plan benchmark times it as the baseline."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from oracle import (
    DOOR_STATES,
    GENERAL_STATUSES,
    KEY_TYPES,
    NO_END,
    ONLINE_BIT,
    PENDING_DOOR_STATES,
    REVOKED,
    STATE_MASK,
    evaluate_bulk,
    next_door_state,
)

from keyworker.errors import IllegalTransition


@dataclass
class OraclePlan:
    selected: int
    status_counts: list[int]
    status_after_counts: list[int]
    already_revoked: int
    cannot_revoke: list[int]
    complete_at_once: int
    app_reload_waits: int
    order: list[int]
    chunk_offsets: list[int]
    door_rows: list[int]
    door_changes: list[int]


def _revoked_rows(key_type: str, rows: Sequence[int]) -> list[int] | None:
    """The key's door bytes after revocation, or None when a row refuses ``revoke``."""
    if key_type != "access_medium":
        return list(rows)  # a digital key's revocation writes nothing to its doors
    after = []
    for byte in rows:
        try:
            state = next_door_state(key_type, DOOR_STATES[byte & STATE_MASK], "revoke")
        except IllegalTransition:
            return None
        after.append(DOOR_STATES.index(state) | (byte & ONLINE_BIT))
    return after


def _is_work(before: int, after: int) -> bool:
    return before != after and DOOR_STATES[after & STATE_MASK] in PENDING_DOOR_STATES


def plan(
    columns: Any,
    now: int,
    *,
    door_count: int,
    target: str = "all",
    members: Sequence[int] = (),
    key_types_mask: int = 0,
    statuses_mask: int = 0,
    chunk_size: int = 100,
) -> OraclePlan:
    """``columns``: key_types, flags, valid_from, valid_until, door_offsets, door_states,
    door_index, holder_index (sequences)."""
    c = columns
    n = len(c.key_types)
    before = evaluate_bulk(
        bytes(c.key_types),
        bytes(c.flags),
        array("q", c.valid_from),
        array("q", c.valid_until),
        array("I", c.door_offsets),
        bytes(c.door_states),
        now,
    ).status
    wanted = set(members)
    result = OraclePlan(
        0, [0] * 7, [0] * 7, 0, [], 0, 0, [], [0], [0] * door_count, [0] * door_count
    )
    to_revoke: list[tuple[int, list[int], list[int]]] = []
    for i in range(n):
        lo, hi = c.door_offsets[i], c.door_offsets[i + 1]
        doors = list(c.door_index[lo:hi])
        rows = list(c.door_states[lo:hi])
        if target == "doors" and not wanted & set(doors):
            continue
        if target == "holders" and c.holder_index[i] not in wanted:
            continue
        if key_types_mask and not key_types_mask & (1 << c.key_types[i]):
            continue
        if statuses_mask and not statuses_mask & (1 << before[i]):
            continue
        result.selected += 1
        result.status_counts[before[i]] += 1
        key_type = KEY_TYPES[c.key_types[i]]
        if c.flags[i] & REVOKED:
            result.already_revoked += 1
            result.status_after_counts[before[i]] += 1
            continue
        after = _revoked_rows(key_type, rows)
        if after is None:
            result.cannot_revoke.append(i)
            result.status_after_counts[before[i]] += 1
            continue
        status_after = evaluate_bulk(
            bytes([c.key_types[i]]),
            bytes([c.flags[i] | REVOKED]),
            array("q", [c.valid_from[i]]),
            array("q", [c.valid_until[i]]),
            array("I", [0, len(after)]),
            bytes(after),
            now,
        ).status[0]
        result.status_after_counts[status_after] += 1
        if GENERAL_STATUSES[status_after] == "revoked":
            result.complete_at_once += 1
        elif key_type == "digital_key":
            result.app_reload_waits += 1
        work = [d for d, b, a in zip(doors, rows, after, strict=True) if _is_work(b, a)]
        for d in work:
            result.door_rows[d] += 1
        to_revoke.append((i, work, doors))

    # Each key goes with its door with work that has the fewest rows (lowest index on a tie);
    # keys without door work last; key order kept within a door.
    def anchor(entry: tuple[int, list[int], list[int]]) -> int:
        work = entry[1]
        if not work:
            return door_count
        return min(work, key=lambda d: (result.door_rows[d], d))

    ordered = sorted(to_revoke, key=anchor)  # sorted() is stable
    result.order = [i for i, _, _ in ordered]
    result.chunk_offsets = [*range(0, len(ordered), chunk_size), len(ordered)]
    for start in range(0, len(ordered), chunk_size):
        touched = {d for _, work, _ in ordered[start : start + chunk_size] for d in work}
        for d in touched:
            result.door_changes[d] += 1
    return result


__all__ = ["NO_END", "OraclePlan", "plan"]
