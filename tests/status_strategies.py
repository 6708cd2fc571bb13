"""Hypothesis strategies for the status engine: schedules, instants, key facts, bulk columns.

Facts are generated in the shapes the service can actually reach (docs/status-rules.md: an
access medium's door rows are created with the key and all revoked together, and a modification
adds, changes or removes single doors of a key that is not revoked; a digital key's rows appear
on delivery, follow the phone's block state and end when the app reloads, and a modification
adds rows at `none` next to the delivered ones until the re-signed credential is delivered),
because the Rust engine and the oracle are required to agree on every reachable state.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import strategies as st
from oracle import STATES_OF_KEY_TYPE

from keyworker.status import DoorFacts, KeyFacts, Schedule, Window

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEY_TYPES = ("access_medium", "digital_key")
# The zones the brief names, plus two with odd offsets (+05:45, and a 30-minute DST shift) so a
# local-time computation that assumes whole-hour offsets or one-hour DST shifts shows up.
TIME_ZONES = (
    "UTC",
    "Europe/Zurich",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
)
DAY = 86_400
# 2023-11-14T22:13:20Z: a fixed "today" so examples stay readable and replayable.
BASE = 1_700_000_000
NO_END = 2**63 - 1


def _offset_changes(zone_name: str, first_year: int, last_year: int) -> list[int]:
    """UTC instants in [first_year, last_year] at which the zone's UTC offset changes."""
    zone = ZoneInfo(zone_name)

    def offset(instant: int) -> Any:
        return datetime.fromtimestamp(instant, tz=UTC).astimezone(zone).utcoffset()

    start = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(last_year + 1, 1, 1, tzinfo=UTC).timestamp())
    changes = []
    for day_start in range(start, end, DAY):
        lo, hi = day_start, day_start + DAY
        if offset(lo) == offset(hi):
            continue
        # Bisect to the first second of the new offset.
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if offset(mid) == offset(lo):
                lo = mid
            else:
                hi = mid
        changes.append(hi)
    return changes


# Daylight-saving changes of 2024-2026 in every zone above that has them.
DST_CHANGES: dict[str, list[int]] = {
    zone: changes for zone in TIME_ZONES if (changes := _offset_changes(zone, 2024, 2026))
}


@st.composite
def windows(draw: st.DrawFn) -> Window:
    days = draw(st.frozensets(st.sampled_from(WEEKDAYS), min_size=1))
    # Round times are what people type; any minute checks the arithmetic.
    minute = st.one_of(st.integers(0, 1440), st.sampled_from(range(0, 1441, 30)))
    start, end = sorted(draw(st.tuples(minute, minute).filter(lambda t: t[0] != t[1])))
    return Window(days=days, start=start, end=end)


@st.composite
def schedules(draw: st.DrawFn, time_zones: Sequence[str] = TIME_ZONES) -> Schedule:
    return Schedule(
        time_zone=draw(st.sampled_from(time_zones)),
        windows=tuple(draw(st.lists(windows(), min_size=1, max_size=3))),
    )


@st.composite
def dst_instants(draw: st.DrawFn) -> tuple[str, int]:
    """A zone and an instant within a few hours of one of its daylight-saving changes."""
    zone = draw(st.sampled_from(sorted(DST_CHANGES)))
    change = draw(st.sampled_from(DST_CHANGES[zone]))
    return zone, change + draw(st.integers(-3 * 3600, 3 * 3600))


def instants() -> st.SearchStrategy[int]:
    """Any instant 1970-2100, most of them near BASE."""
    return st.one_of(
        st.integers(0, 4_102_444_800),
        st.integers(BASE - 400 * DAY, BASE + 400 * DAY),
    )


def offsets_around_zero() -> st.SearchStrategy[int]:
    """A time offset in seconds, with the boundaries (0 and +-1 s) drawn often."""
    return st.one_of(
        st.sampled_from((0, 1, -1)),
        st.integers(-60 * DAY, 60 * DAY),
    )


@st.composite
def validity(draw: st.DrawFn, now: int) -> tuple[int, int | None]:
    """valid_from and valid_until placed around ``now`` (move-in and expiry both ways)."""
    valid_from = now + draw(offsets_around_zero())
    if draw(st.booleans()):
        return valid_from, None
    # valid_until is strictly after valid_from; bias it onto `now` to hit the expiry instant.
    valid_until = draw(
        st.one_of(
            st.integers(valid_from + 1, valid_from + 90 * DAY),
            st.sampled_from((now, now + 1)).filter(lambda u: u > valid_from),
        )
    )
    return valid_from, valid_until


@st.composite
def reachable_doors(draw: st.DrawFn, key_type: str, flags: KeyFlags) -> tuple[DoorFacts, ...]:
    """Door rows a key with these flags can have (see the module docstring)."""
    if key_type == "access_medium":
        states: tuple[str, ...] = (
            ("revocation_pending", "removed")
            if flags.revoked
            # A modification removes single doors of a key that stays in use.
            else ("deployment_pending", "deployed", "revocation_pending")
        )
    elif flags.app_reloaded:
        # Rows added by a modification whose credential never arrived stay at `none`.
        states = ("removed",) if flags.delivered else ("none", "removed")
    else:
        states = (
            ("blocking_pending", "blocked")
            if flags.phone_blocked
            else ("deployed", "unblocking_pending")
        )
        if not flags.delivered:
            # Never delivered (every row `none`), or re-delivered after a modification: the
            # delivered credential's rows beside the added doors' rows at `none`.
            states = ("none", *states) if draw(st.booleans()) else ("none",)
    n = draw(st.integers(0, 5))
    return tuple(
        DoorFacts(
            state=draw(st.sampled_from(states)),
            online=draw(st.booleans()),
            kind=draw(st.sampled_from(("common", "unit"))),
        )
        for _ in range(n)
    )


@dataclass(frozen=True)
class KeyFlags:
    revoked: bool
    phone_blocked: bool
    delivered: bool
    app_reloaded: bool


@st.composite
def key_flags(draw: st.DrawFn, key_type: str) -> KeyFlags:
    revoked = draw(st.booleans())
    if key_type == "access_medium":
        return KeyFlags(revoked, phone_blocked=False, delivered=False, app_reloaded=False)
    return KeyFlags(
        revoked=revoked,
        phone_blocked=draw(st.booleans()),
        delivered=draw(st.booleans()),
        app_reloaded=revoked and draw(st.booleans()),
    )


@st.composite
def reachable_key_facts(
    draw: st.DrawFn,
    now: int,
    key_type: str | None = None,
    with_schedule: bool | None = None,
) -> KeyFacts:
    """Facts of one key in a state the service can reach, times placed around ``now``."""
    kind = key_type or draw(st.sampled_from(KEY_TYPES))
    flags = draw(key_flags(kind))
    valid_from, valid_until = draw(validity(now))
    scheduled = draw(st.booleans()) if with_schedule is None else with_schedule
    return KeyFacts(
        key_type=kind,
        revoked=flags.revoked,
        valid_from=valid_from,
        valid_until=valid_until,
        doors=draw(reachable_doors(kind, flags)),
        schedule=draw(schedules()) if scheduled else None,
        phone_blocked=flags.phone_blocked,
        delivered=flags.delivered,
        app_reloaded=flags.app_reloaded,
    )


@st.composite
def any_key_facts(draw: st.DrawFn, now: int, with_schedule: bool | None = None) -> KeyFacts:
    """Facts with any flags and any door states of the key type, reachable or not.

    The rules are written so that every such combination has a status, so both
    implementations must agree on these too, not only on the states the service reaches.
    """
    kind = draw(st.sampled_from(KEY_TYPES))
    valid_from, valid_until = draw(validity(now))
    scheduled = draw(st.booleans()) if with_schedule is None else with_schedule
    door = st.builds(
        DoorFacts,
        state=st.sampled_from(sorted(STATES_OF_KEY_TYPE[kind])),
        online=st.booleans(),
        kind=st.sampled_from(("common", "unit")),
    )
    return KeyFacts(
        key_type=kind,
        revoked=draw(st.booleans()),
        valid_from=valid_from,
        valid_until=valid_until,
        doors=tuple(draw(st.lists(door, max_size=5))),
        schedule=draw(schedules()) if scheduled else None,
        phone_blocked=draw(st.booleans()),
        delivered=draw(st.booleans()),
        app_reloaded=draw(st.booleans()),
    )


# --- bulk columns ---

DOOR_CODES = {
    "none": 0,
    "deployment_pending": 1,
    "deployed": 2,
    "revocation_pending": 3,
    "removed": 4,
    "blocking_pending": 5,
    "blocked": 6,
    "unblocking_pending": 7,
}


@dataclass
class Columns:
    """The six columns of a bulk batch as plain lists (converted to buffers by ``as_buffers``)."""

    key_types: list[int]
    flags: list[int]
    valid_from: list[int]
    valid_until: list[int]
    door_offsets: list[int]
    door_states: list[int]

    @classmethod
    def from_facts(cls, facts: Sequence[KeyFacts]) -> Columns:
        cols = cls([], [], [], [], [0], [])
        for key in facts:
            cols.key_types.append(KEY_TYPES.index(key.key_type))
            cols.flags.append(
                key.revoked
                | key.phone_blocked << 1
                | key.delivered << 2
                | key.app_reloaded << 3
                | (key.schedule is not None) << 4
            )
            cols.valid_from.append(key.valid_from)
            cols.valid_until.append(NO_END if key.valid_until is None else key.valid_until)
            for door in key.doors:
                cols.door_states.append(DOOR_CODES[door.state] | (0x80 if door.online else 0))
            cols.door_offsets.append(len(cols.door_states))
        return cols

    def as_buffers(self, kind: str) -> tuple[Any, ...]:
        """The columns as ``bytes``, ``array.array`` or numpy arrays of the contract's types."""
        spec = (
            (self.key_types, "B", np.uint8),
            (self.flags, "B", np.uint8),
            (self.valid_from, "q", np.int64),
            (self.valid_until, "q", np.int64),
            (self.door_offsets, "I", np.uint32),
            (self.door_states, "B", np.uint8),
        )
        if kind == "numpy":
            return tuple(np.array(values, dtype=dtype) for values, _, dtype in spec)
        arrays = tuple(array.array(code, values) for values, code, _ in spec)
        if kind == "bytes":
            return tuple(a.tobytes() for a in arrays)
        return arrays


BUFFER_KINDS = ("array", "bytes", "numpy")


@st.composite
def bulk_batches(
    draw: st.DrawFn, max_keys: int = 20, reachable: bool = True
) -> tuple[int, list[KeyFacts]]:
    """A clock and the facts of a batch of keys (schedules only mark has_schedule)."""
    now = draw(instants())
    key = reachable_key_facts(now) if reachable else any_key_facts(now)
    facts = draw(st.lists(key, max_size=max_keys))
    return now, facts
