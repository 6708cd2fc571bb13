"""The status engine: typed Python over the rules that live in the Rust core.

Every status, label, transition and schedule rule here is computed by ``keyworker._core``
(``rust/keyworker-core/src/status/``); this module only turns its codes into the frozen
dataclasses below. The rules themselves are written down in ``docs/status-rules.md``; how the
engine and its bulk input work is in ``docs/status-engine.md``.

All instants are UTC epoch seconds (``int``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from keyworker import _core

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "DOOR_ACTIONS",
    "DOOR_EVENTS",
    "DOOR_ONLINE",
    "DOOR_STATES",
    "FLAG_APP_RELOADED",
    "FLAG_DELIVERED",
    "FLAG_HAS_SCHEDULE",
    "FLAG_PHONE_BLOCKED",
    "FLAG_REVOKED",
    "GENERAL_STATUSES",
    "HOME_STATUSES",
    "KEY_TYPES",
    "NO_END",
    "NO_HOME_STATUS",
    "WAITING_FOR",
    "WEEKDAYS",
    "BulkResult",
    "DoorFacts",
    "DoorPlan",
    "DoorStatus",
    "HomeStatus",
    "KeyFacts",
    "KeyStatus",
    "Schedule",
    "Status",
    "Window",
    "door_status",
    "evaluate",
    "evaluate_bulk",
    "general_status_label",
    "home_status_heading",
    "is_usable_at",
    "key_waiting_for",
    "next_door_state",
    "plan_modification",
    "row_waiting_for",
    "unreachable_since",
    "works_online",
]

# The code tables come from the core, so names and numbers exist once. In each tuple the
# index is the numeric code (the bulk columns' and stored index attributes' encoding).
KEY_TYPES: tuple[str, ...] = _core.KEY_TYPES
DOOR_STATES: tuple[str, ...] = _core.DOOR_STATES
GENERAL_STATUSES: tuple[str, ...] = _core.GENERAL_STATUSES
HOME_STATUSES: tuple[str, ...] = _core.HOME_STATUSES
DOOR_EVENTS: tuple[str, ...] = _core.DOOR_EVENTS
DOOR_ACTIONS: tuple[str, ...] = _core.DOOR_ACTIONS
"""What a modification does at a door: ``nothing``, ``deploy``, ``revoke``, ``update``."""
WEEKDAYS: tuple[str, ...] = _core.WEEKDAYS
"""Weekday names of schedules, Monday first."""
WAITING_FOR: tuple[str, ...] = _core.WAITING_FOR
"""Who pending work waits for: ``technician``, ``door``, ``mobile_cloud``, ``keyholder_app``."""

NO_HOME_STATUS: int = _core.NO_HOME_STATUS
"""Home-status code (255) of a key the app does not show."""
NO_END: int = _core.NO_END
"""Bulk ``valid_until`` of a key without an end (the largest i64)."""
DOOR_ONLINE: int = _core.DOOR_ONLINE
"""Bit 7 of a bulk door byte: the door is online (its pending work is automated)."""
FLAG_REVOKED: int = _core.FLAG_REVOKED
FLAG_PHONE_BLOCKED: int = _core.FLAG_PHONE_BLOCKED
FLAG_DELIVERED: int = _core.FLAG_DELIVERED
FLAG_APP_RELOADED: int = _core.FLAG_APP_RELOADED
FLAG_HAS_SCHEDULE: int = _core.FLAG_HAS_SCHEDULE


# --- facts ---


@dataclass(frozen=True, slots=True)
class Window:
    """On each of ``days``, local minutes ``start`` (inclusive) to ``end`` (exclusive).

    ``days`` is a non-empty subset of ``WEEKDAYS``; ``0 <= start < end <= 1440``. A window
    never crosses midnight (use two). Checked by the core wherever the schedule is used.
    """

    days: frozenset[str]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """A weekly schedule in the site's IANA time zone (daylight-saving time applies)."""

    time_zone: str
    windows: tuple[Window, ...]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Schedule:
        """Reads the JSON form of ``docs/status-rules.md``; raises ``InvalidSchedule``.

        ``{"time_zone": "Europe/Zurich", "windows": [{"days": ["mon", ...],
        "start": "07:00", "end": "19:00"}]}``
        """
        time_zone, windows = _core.schedule_from_json(obj)
        return cls(
            time_zone=time_zone,
            windows=tuple(Window(frozenset(days), start, end) for days, start, end in windows),
        )

    def to_json(self) -> dict[str, Any]:
        """The inverse of ``from_json``: days Monday-first, times as ``"HH:MM"``."""
        return _core.schedule_to_json(self)

    def label(self) -> str:
        """The home app's time/day information, e.g. ``"Mon–Fri 07:00–19:00"``."""
        return _core.schedule_label(self)


@dataclass(frozen=True, slots=True)
class DoorFacts:
    """One door row of a key: its state and the door's connectivity now."""

    state: str
    online: bool
    kind: str = "unit"
    """``"common"`` or ``"unit"``; informational: the mode follows ``online``."""


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """What is stored about one key; its statuses are derived from this and the clock."""

    key_type: str
    revoked: bool
    valid_from: int
    valid_until: int | None
    doors: tuple[DoorFacts, ...]
    schedule: Schedule | None = None
    phone_blocked: bool = False
    delivered: bool = False
    """Digital key: the mobile-access cloud confirmed delivery."""
    app_reloaded: bool = False
    """Digital key: the keyholder's app reloaded its key list after revocation."""


# --- statuses ---


@dataclass(frozen=True, slots=True)
class Status:
    """The general status (admin portal)."""

    code: str
    label: str


@dataclass(frozen=True, slots=True)
class DoorStatus:
    """A row of the deployment status table; ``mode`` is set for pending states only."""

    code: str
    mode: str | None
    label: str


@dataclass(frozen=True, slots=True)
class HomeStatus:
    """What the keyholder's home app shows; ``category`` is ``"active"`` or ``"inactive"``."""

    code: str
    label: str
    category: str


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """Everything shown about one key; ``doors`` follows ``KeyFacts.doors``."""

    status: Status
    home_status: HomeStatus | None
    doors: tuple[DoorStatus | None, ...]


@dataclass(frozen=True, slots=True)
class DoorPlan:
    """What a modification of a key does at one door, and the door row's state afterwards.

    ``action``: ``deploy`` (the door is added, or added back while its removal was pending),
    ``revoke`` (the door is removed), ``update`` (kept, and the key's entry changed),
    ``nothing``. ``state_after`` is a ``DOOR_STATES`` name; its ``door_status`` at the door's
    connectivity gives the mode (manual or automated) of the door's work.
    """

    door_id: str
    action: str
    state_after: str


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Codes of every key of a batch (one byte each) and how often each occurs."""

    status: bytes
    """``GENERAL_STATUSES`` code per key."""
    home_status: bytes
    """``HOME_STATUSES`` code per key, ``NO_HOME_STATUS`` (255) for none."""
    status_counts: dict[str, int]
    """Every general status code, with its count (0 allowed)."""
    home_status_counts: dict[str, int]
    """Every home status code and ``"none"``, with its count."""


# The results are immutable and few, so they are built once from the core's answers and
# shared; that keeps one evaluate call to a few microseconds.
_STATUS_BY_CODE: tuple[Status, ...] = tuple(
    Status(code, _core.general_status_label(code)) for code in GENERAL_STATUSES
)


def _fixed_home_status(code: str) -> HomeStatus | None:
    label = _core.home_status_label(code)
    return None if label is None else HomeStatus(code, label, _core.home_status_category(code))


_HOME_BY_CODE: tuple[HomeStatus | None, ...] = tuple(map(_fixed_home_status, HOME_STATUSES))
_TIME_DAY = "time_day"
_TIME_DAY_CODE = HOME_STATUSES.index(_TIME_DAY)
_TIME_DAY_CATEGORY = _core.home_status_category(_TIME_DAY)


def _door_status_of_byte(byte: int) -> DoorStatus | None:
    """The row for a door byte of ``_core.evaluate`` (state code, | 0x80 when automated)."""
    state = byte & ~DOOR_ONLINE
    if state >= len(DOOR_STATES):
        return None
    found = _core.door_status(DOOR_STATES[state], bool(byte & DOOR_ONLINE))
    return None if found is None else DoorStatus(*found)


_DOOR_BY_BYTE: tuple[DoorStatus | None, ...] = tuple(map(_door_status_of_byte, range(256)))


# --- operations ---


def next_door_state(key_type: str, state: str, event: str) -> str:
    """The state a door row moves to on ``event``.

    Raises ``IllegalTransition`` for a pair the transition tables do not list (nothing
    changes) and ``InvalidKeyData`` for an unknown key type, state or event.
    """
    return _core.next_door_state(key_type, state, event)


def plan_modification(
    key_type: str,
    rows: Iterable[tuple[str, str]],
    new_door_ids: Iterable[str],
    entry_changed: bool,
) -> tuple[DoorPlan, ...]:
    """The plan for modifying a key (``docs/status-rules.md``, "Modifying a key").

    ``rows`` are the key's door rows as ``(door_id, state)``; ``new_door_ids`` the key's doors
    after the modification; ``entry_changed`` whether its validity or schedule changes. The
    plan has one ``DoorPlan`` per row, in order, then one per added door, in the order given.

    Raises ``InvalidModification`` (field ``door_ids``) for an empty door set (that is a
    revocation) or a door listed twice, and (field ``rows[i]...``) for two rows of one door or
    a ``removed`` row; ``InvalidKeyData`` for an unknown key type or state, or a state foreign
    to the key type; ``IllegalTransition`` for a row the modification cannot move (an access
    medium's row in ``none``). Nothing is planned when it raises.
    """
    return tuple(
        DoorPlan(door_id, action, state_after)
        for door_id, action, state_after in _core.plan_modification(
            key_type, rows, new_door_ids, entry_changed
        )
    )


def general_status_label(code: str) -> str:
    """The seed's words for a general status code."""
    return _core.general_status_label(code)


def home_status_heading(code: str) -> str:
    """The seed's words for a home-app status code; for ``time_day``, whose label is each
    key's schedule, the seed's name of the row: "Time/day information"."""
    return _core.home_status_label(code) or "Time/day information"


def row_waiting_for(state: str, online: bool, unreachable: bool = False) -> str | None:
    """Who a door row in ``state`` waits for: ``door`` (an online, reachable door),
    ``technician`` (an offline or unreachable door), or None when the row is not pending."""
    return _core.row_waiting_for(state, online, unreachable)


def key_waiting_for(
    key_type: str, revoked: bool, delivered: bool, app_reloaded: bool
) -> str | None:
    """Who a key's own state waits for: a digital key's delivery (``mobile_cloud``) or, once
    revoked, the keyholder's app (``keyholder_app``); None otherwise and for access media."""
    return _core.key_waiting_for(key_type, revoked, delivered, app_reloaded)


def works_online(online: bool, unreachable: bool) -> bool:
    """Whether a door's pending work is automated: an unreachable online door's is manual."""
    return _core.works_online(online, unreachable)


def unreachable_since(
    online: bool, last_seen: int | None, pending_since: int | None, threshold: int, now: int
) -> int | None:
    """When an online door with unconfirmed work became unreachable: ``threshold`` seconds
    after the later of its ``last_seen`` and its work's ``pending_since``; None when offline,
    up to date, or heard from (or given work) recently enough."""
    return _core.unreachable_since(online, last_seen, pending_since, threshold, now)


def door_status(state: str, online: bool) -> DoorStatus | None:
    """The deployment-status row of a door row; ``None`` for ``none`` and ``removed``."""
    found = _core.door_status(state, online)
    return None if found is None else DoorStatus(*found)


def evaluate(facts: KeyFacts, now: int) -> KeyStatus:
    """General status, home-app status and door rows of one key at ``now``.

    Raises ``InvalidKeyData`` (or its subclass ``InvalidSchedule``) naming the bad field.
    """
    return _key_status(*_core.evaluate(facts, now))


@lru_cache(maxsize=4096)
def _key_status(general: int, home: int, home_label: str | None, doors: bytes) -> KeyStatus:
    """The status of a key from the core's codes. Keys share a handful of outcomes (status,
    home status with its schedule's label, door rows) and the result is immutable, so each
    is built once and shared: building the frozen dataclass alone took 1.2 of a call's 3 to
    5.7 us (the API evaluates a key per request)."""
    home_status: HomeStatus | None
    if home == NO_HOME_STATUS:
        home_status = None
    elif home == _TIME_DAY_CODE and home_label is not None:
        home_status = HomeStatus(_TIME_DAY, home_label, _TIME_DAY_CATEGORY)
    else:
        home_status = _HOME_BY_CODE[home]
    return KeyStatus(
        _STATUS_BY_CODE[general], home_status, tuple(map(_DOOR_BY_BYTE.__getitem__, doors))
    )


def is_usable_at(facts: KeyFacts, instant: int) -> bool:
    """Whether the key opens its doors at ``instant``: ready (``active``/``deployed``), phone
    not blocked, ``valid_from <= instant < valid_until``, and inside its schedule if any."""
    return _core.is_usable_at(facts, instant)


def evaluate_bulk(
    key_types: Buffer,
    flags: Buffer,
    valid_from: Buffer,
    valid_until: Buffer,
    door_offsets: Buffer,
    door_states: Buffer,
    now: int,
    *,
    threads: int | None = None,
) -> BulkResult:
    """Status codes of every key of a columnar batch, computed without the interpreter.

    Columns (any buffer: ``bytes``, ``array.array``, numpy arrays; a column may also be raw
    bytes holding native-endian values): ``key_types`` u8[n], ``flags`` u8[n] (``FLAG_*``
    bits), ``valid_from`` i64[n], ``valid_until`` i64[n] (``NO_END`` for none),
    ``door_offsets`` u32[n+1] from 0 to ``len(door_states)``, ``door_states`` u8[m] (state
    code, ``| DOOR_ONLINE`` for an online door).

    ``threads``: ``None`` uses every core for large batches, ``1`` the calling thread, ``n`` a
    pool of ``n`` threads. Raises ``InvalidBulkInput`` naming the column (and the first bad
    key) on any inconsistency; there is never a partial result.
    """
    status, home, status_counts, home_counts = _core.evaluate_bulk(
        key_types,
        flags,
        valid_from,
        valid_until,
        door_offsets,
        door_states,
        now,
        threads=threads,
    )
    return BulkResult(
        status=status,
        home_status=home,
        status_counts=dict(zip(GENERAL_STATUSES, status_counts, strict=True)),
        home_status_counts=dict(zip((*HOME_STATUSES, "none"), home_counts, strict=True)),
    )
