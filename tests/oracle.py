"""The test oracle: a second, independent, plain-Python statement of the status rules.

Written from ``docs/status-rules.md`` (and ``../shared/design/status-model.md``) without
looking at the Rust core, so that property tests comparing the two can catch a rule that one of
them got wrong. Where the rules page leaves a case open, the oracle follows the decisions
written in ``docs/status-engine.md`` ("Decisions the rules page leaves open", the bulk input
table): door states foreign to a key type are invalid data, flag bits 5-7 must be 0, columns
are buffers of their own element type or raw bytes, ``threads`` is 1..256, local time exists
for the UTC instants whose local date is in the years -9999..9999 under any UTC offset, and
booleans and 64-bit integers are checked as such.

It mirrors the facade ``keyworker.status`` name for name and signature for signature; it
borrows the facade's dataclasses and the exception classes of ``keyworker.errors`` as plain
data types, and none of their logic.

``evaluate_bulk`` here is also the plain-Python baseline of the bulk-evaluation benchmark, so it
is written as the straightforward loop over the columns a Python programmer would write: no
numpy, no tricks.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from keyworker.errors import (
    IllegalTransition,
    InvalidBulkInput,
    InvalidKeyData,
    InvalidModification,
    InvalidSchedule,
)
from keyworker.status import (
    BulkResult,
    DoorPlan,
    DoorStatus,
    HomeStatus,
    KeyFacts,
    KeyStatus,
    Schedule,
    Status,
    Window,
)

# --- codes (the index in each tuple is the numeric code of docs/status-rules.md) ---

KEY_TYPES = ("access_medium", "digital_key")
DOOR_STATES = (
    "none",
    "deployment_pending",
    "deployed",
    "revocation_pending",
    "removed",
    "blocking_pending",
    "blocked",
    "unblocking_pending",
)
GENERAL_STATUSES = (
    "planned",
    "active",
    "door_update_pending",
    "revocation_pending",
    "revoked",
    "deployment_pending",
    "deployed",
)
HOME_STATUSES = (
    "always",
    "time_day",
    "updating_common_doors",
    "please_update_door",
    "deactivation_in_progress",
    "expired",
    "blocked",
)
HOME_NONE = 255
DOOR_EVENTS = (
    "create",
    "deliver",
    "revoke",
    "block",
    "unblock",
    "confirm",
    "complete_revocation",
    "update",
)
DOOR_ACTIONS = ("nothing", "deploy", "revoke", "update")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NO_END = 2**63 - 1  # bulk valid_until meaning "no end"
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
DAY_SECONDS = 86_400
MAX_THREADS = 256
ONLINE_BIT = 0x80
STATE_MASK = 0x7F

# Flags of the bulk input, one byte per key.
REVOKED = 1 << 0
PHONE_BLOCKED = 1 << 1
DELIVERED = 1 << 2
APP_RELOADED = 1 << 3
HAS_SCHEDULE = 1 << 4
KNOWN_FLAGS = REVOKED | PHONE_BLOCKED | DELIVERED | APP_RELOADED | HAS_SCHEDULE

# --- labels: the seed's words ---

GENERAL_LABELS = {
    "planned": "Planned",
    "active": "Active",
    "door_update_pending": "Door update pending",
    "revocation_pending": "Revocation pending",
    "revoked": "Revoked",
    "deployment_pending": "Deployment pending",
    "deployed": "Deployed",
}
DOOR_LABELS = {
    "deployment_pending": "Deployment pending",
    "deployed": "Deployed",
    "revocation_pending": "Revocation pending",
    "blocking_pending": "Blocking pending",
    "blocked": "Blocked",
    "unblocking_pending": "Unblocking pending",
}
# Door states the per-door table shows with a mode (work still to be done at the door).
PENDING_DOOR_STATES = frozenset(
    {"deployment_pending", "revocation_pending", "blocking_pending", "unblocking_pending"}
)
# Pending states whose mode decides between "Please update the door" and "Updating common
# doors" (rules 4 and 5 of the home-app status name exactly these two).
ACCESS_MEDIUM_PENDING = frozenset({"deployment_pending", "revocation_pending"})
HOME_LABELS = {
    "always": "Always",
    "updating_common_doors": "Updating common doors",
    "please_update_door": "Please update the door",
    "deactivation_in_progress": "Deactivation in progress",
    "expired": "Expired",
    "blocked": "Blocked",
}
HOME_CATEGORIES = {
    "always": "active",
    "time_day": "active",
    "updating_common_doors": "active",
    "please_update_door": "active",
    "deactivation_in_progress": "active",
    "expired": "inactive",
    "blocked": "inactive",
}
DAY_LABELS = {
    "mon": "Mon",
    "tue": "Tue",
    "wed": "Wed",
    "thu": "Thu",
    "fri": "Fri",
    "sat": "Sat",
    "sun": "Sun",
}

# --- transitions at one door (the two tables of docs/status-rules.md, written out) ---

TRANSITIONS: dict[tuple[str, str, str], str] = {
    ("access_medium", "none", "create"): "deployment_pending",
    ("access_medium", "deployment_pending", "confirm"): "deployed",
    ("access_medium", "deployment_pending", "revoke"): "revocation_pending",
    ("access_medium", "deployed", "revoke"): "revocation_pending",
    ("access_medium", "revocation_pending", "confirm"): "removed",
    # Modifying a key: a kept door whose entry changed gets it again (also while pending); a
    # door being removed that is added back wants the entry again (latest intent wins).
    ("access_medium", "deployed", "update"): "deployment_pending",
    ("access_medium", "deployment_pending", "update"): "deployment_pending",
    ("access_medium", "revocation_pending", "create"): "deployment_pending",
    ("digital_key", "none", "deliver"): "deployed",
    ("digital_key", "deployed", "block"): "blocking_pending",
    ("digital_key", "blocking_pending", "confirm"): "blocked",
    ("digital_key", "blocked", "unblock"): "unblocking_pending",
    ("digital_key", "unblocking_pending", "confirm"): "deployed",
    ("digital_key", "blocking_pending", "unblock"): "unblocking_pending",
    ("digital_key", "unblocking_pending", "block"): "blocking_pending",
    ("digital_key", "deployed", "complete_revocation"): "removed",
    ("digital_key", "blocking_pending", "complete_revocation"): "removed",
    ("digital_key", "blocked", "complete_revocation"): "removed",
    ("digital_key", "unblocking_pending", "complete_revocation"): "removed",
}


# The door states each key type can have: those its transition table mentions. A row in any
# other state (a `blocked` access medium) is invalid data, not a status.
STATES_OF_KEY_TYPE: dict[str, frozenset[str]] = {
    key_type: frozenset(
        state
        for (kind, start, _), end in TRANSITIONS.items()
        if kind == key_type
        for state in (start, end)
    )
    for key_type in KEY_TYPES
}


def _check_code(value: str, allowed: Sequence[str], field: str) -> None:
    if value not in allowed:
        raise InvalidKeyData(f"unknown {field} {value!r}; expected one of {list(allowed)}", field)


def next_door_state(key_type: str, state: str, event: str) -> str:
    """The state a door row moves to on ``event``; IllegalTransition for pairs not listed."""
    _check_code(key_type, KEY_TYPES, "key_type")
    _check_code(state, DOOR_STATES, "state")
    _check_code(event, DOOR_EVENTS, "event")
    try:
        return TRANSITIONS[(key_type, state, event)]
    except KeyError:
        raise IllegalTransition(f"{key_type}: no {event!r} from door state {state!r}") from None


def _check_bool(value: object, field: str) -> None:
    if not isinstance(value, bool):
        raise InvalidKeyData(f"{field} must be a bool, got {value!r}", field)


def _check_i64(value: object, field: str, error: type[InvalidKeyData | InvalidBulkInput]) -> None:
    if not isinstance(value, int) or not I64_MIN <= value <= I64_MAX:
        raise error(f"{field} must be a 64-bit integer, got {value!r}", field)


def door_status(state: str, online: bool) -> DoorStatus | None:
    """The per-door row as the admin portal shows it; None for states without a label."""
    _check_code(state, DOOR_STATES, "state")
    _check_bool(online, "online")
    if state not in DOOR_LABELS:
        return None
    if state in PENDING_DOOR_STATES:
        mode = "automated" if online else "manual"
        return DoorStatus(code=state, mode=mode, label=f"({mode}) {DOOR_LABELS[state]}")
    return DoorStatus(code=state, mode=None, label=DOOR_LABELS[state])


# --- modifying a key ---


def _modification_error(field: str, message: str) -> InvalidModification:
    return InvalidModification(f"{field}: {message}", field)


def _plan_row(key_type: str, door_id: str, state: str, kept: bool, entry_changed: bool) -> DoorPlan:
    """One current row of a modification ("Modifying a key" in docs/status-rules.md)."""
    if key_type == "digital_key":
        # Nothing is written to a digital key's doors: rows stay; the credential changes.
        if not kept:
            return DoorPlan(door_id, "revoke", state)
        return DoorPlan(door_id, "update" if entry_changed else "nothing", state)
    if state == "revocation_pending":
        # Already leaving (an earlier modification removed it).
        if kept:
            return DoorPlan(door_id, "deploy", next_door_state(key_type, state, "create"))
        return DoorPlan(door_id, "nothing", state)
    if not kept:
        return DoorPlan(door_id, "revoke", next_door_state(key_type, state, "revoke"))
    if entry_changed:
        return DoorPlan(door_id, "update", next_door_state(key_type, state, "update"))
    return DoorPlan(door_id, "nothing", state)


def plan_modification(
    key_type: str,
    rows: Iterable[tuple[str, str]],
    new_door_ids: Iterable[str],
    entry_changed: bool,
) -> tuple[DoorPlan, ...]:
    """Rows in order, then added doors in order; errors in the documented order."""
    _check_code(key_type, KEY_TYPES, "key_type")
    if not isinstance(entry_changed, bool):
        raise _modification_error("entry_changed", "expected a bool")
    try:
        row_list = list(rows)
    except TypeError:
        raise _modification_error("rows", "expected a list of (door_id, state) pairs") from None
    for i, row in enumerate(row_list):
        if not (isinstance(row, tuple) and len(row) == 2):
            raise _modification_error(f"rows[{i}]", "expected a (door_id, state) pair")
        if not isinstance(row[0], str):
            raise _modification_error(f"rows[{i}].door_id", "expected a str")
        if not isinstance(row[1], str):
            raise _modification_error(f"rows[{i}].state", "expected a str")
        _check_code(row[1], DOOR_STATES, f"rows[{i}].state")
    if isinstance(new_door_ids, str):
        raise _modification_error("door_ids", "expected a list of door ids")
    try:
        new_ids = list(new_door_ids)
    except TypeError:
        raise _modification_error("door_ids", "expected a list of door ids") from None
    for i, door_id in enumerate(new_ids):
        if not isinstance(door_id, str):
            raise _modification_error(f"door_ids[{i}]", "expected a str")
    if not new_ids:
        raise _modification_error("door_ids", "no door left: that is a revocation")
    seen: set[str] = set()
    for i, door_id in enumerate(new_ids):
        if door_id in seen:
            raise _modification_error(f"door_ids[{i}]", f"{door_id!r} listed twice")
        seen.add(door_id)
    plan: list[DoorPlan] = []
    row_doors: set[str] = set()
    for i, (door_id, state) in enumerate(row_list):
        if door_id in row_doors:
            raise _modification_error(f"rows[{i}].door_id", f"two rows for {door_id!r}")
        row_doors.add(door_id)
        if state not in STATES_OF_KEY_TYPE[key_type]:
            raise InvalidKeyData(
                f"a door row of an {key_type} is never {state!r}", f"rows[{i}].state"
            )
        if state == "removed":
            raise _modification_error(f"rows[{i}].state", "a removed row is not a door of the key")
        plan.append(_plan_row(key_type, door_id, state, door_id in seen, entry_changed))
    # An added door: an access medium's row is created; a digital key's row waits at `none`
    # for the re-signed credential's delivery.
    added_state = (
        next_door_state(key_type, "none", "create") if key_type == "access_medium" else "none"
    )
    plan.extend(DoorPlan(d, "deploy", added_state) for d in new_ids if d not in row_doors)
    return tuple(plan)


# --- schedules ---

_HHMM = re.compile(r"^([0-9]{2}):([0-9]{2})$")


@cache
def _iana_names() -> frozenset[str]:
    # zoneinfo would also open files that are not zones of the IANA database (`posixrules`,
    # `right/UTC`, the host's `localtime` link), so only the database's own names count.
    return frozenset(available_timezones() - {"localtime"})


def _time_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or name not in _iana_names():
        raise InvalidSchedule(f"unknown time zone {name!r}", "schedule.time_zone")
    return ZoneInfo(name)


def validate_schedule(schedule: Schedule) -> None:
    """Raise InvalidSchedule unless the schedule keeps every rule of docs/status-rules.md."""
    _time_zone(schedule.time_zone)
    if not schedule.windows:
        raise InvalidSchedule("a schedule needs at least one window", "schedule.windows")
    for i, window in enumerate(schedule.windows):
        field = f"schedule.windows[{i}]"
        if not window.days:
            raise InvalidSchedule("a window needs at least one weekday", f"{field}.days")
        for day in window.days:
            if day not in WEEKDAYS:
                raise InvalidSchedule(f"unknown weekday {day!r}", f"{field}.days")
        if not 0 <= window.start < window.end <= 1440:
            raise InvalidSchedule(
                f"window {window.start}..{window.end} breaks 0 <= start < end <= 1440",
                f"{field}.start",
            )


def _minutes(text: object, field: str) -> int:
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidSchedule(f"expected a time 'HH:MM', got {text!r}", field)
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise InvalidSchedule(f"no such time of day {text!r}", field)
    return hours * 60 + minutes


def schedule_from_json(obj: Mapping[str, Any]) -> Schedule:
    """The JSON form of docs/status-rules.md turned into a validated Schedule."""
    if not isinstance(obj, Mapping):
        raise InvalidSchedule("a schedule is a JSON object", "schedule")
    time_zone = obj.get("time_zone")
    if not isinstance(time_zone, str):
        raise InvalidSchedule("time_zone must be an IANA time zone name", "schedule.time_zone")
    raw_windows = obj.get("windows")
    if not isinstance(raw_windows, list | tuple):
        raise InvalidSchedule("windows must be a list", "schedule.windows")
    windows = []
    for i, raw in enumerate(raw_windows):
        field = f"schedule.windows[{i}]"
        if not isinstance(raw, Mapping):
            raise InvalidSchedule("a window is a JSON object", field)
        days = raw.get("days")
        if not isinstance(days, list | tuple) or not all(isinstance(d, str) for d in days):
            raise InvalidSchedule("days must be a list of weekday names", f"{field}.days")
        windows.append(
            Window(
                days=frozenset(days),
                start=_minutes(raw.get("start"), f"{field}.start"),
                end=_minutes(raw.get("end"), f"{field}.end"),
            )
        )
    schedule = Schedule(time_zone=time_zone, windows=tuple(windows))
    validate_schedule(schedule)
    return schedule


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def schedule_to_json(schedule: Schedule) -> dict[str, Any]:
    """Inverse of schedule_from_json: days Monday-first, times as 'HH:MM'."""
    return {
        "time_zone": schedule.time_zone,
        "windows": [
            {
                "days": [d for d in WEEKDAYS if d in window.days],
                "start": _hhmm(window.start),
                "end": _hhmm(window.end),
            }
            for window in schedule.windows
        ],
    }


def _days_label(days: Iterable[str]) -> str:
    indices = sorted({WEEKDAYS.index(d) for d in days})
    if len(indices) == 7:
        return "Daily"
    # Split the Monday-first indices into runs of consecutive days (the week does not wrap).
    runs: list[list[int]] = []
    for index in indices:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts: list[str] = []
    for run in runs:
        names = [DAY_LABELS[WEEKDAYS[i]] for i in run]
        if len(run) >= 3:
            parts.append(f"{names[0]}–{names[-1]}")
        else:
            parts.extend(names)
    return ", ".join(parts)


def schedule_label(schedule: Schedule) -> str:
    """The home app's time/day information, e.g. ``Mon–Fri 07:00–19:00, Sat 09:00–12:00``."""
    validate_schedule(schedule)
    return ", ".join(
        f"{_days_label(w.days)} {_hhmm(w.start)}–{_hhmm(w.end)}" for w in schedule.windows
    )


def _unix_day(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (years before 1 included)."""
    # The Gregorian calendar repeats every 400 years (146,097 days); shift into datetime's
    # range of years 1..9999 and back.
    cycles = 0
    while year < 1:
        year, cycles = year + 400, cycles - 1
    return date(year, month, day).toordinal() - date(1970, 1, 1).toordinal() + cycles * 146_097


# Local dates run from -9999-01-01 00:00 to 9999-12-31 23:59:59. docs/status-engine.md gives
# local time to the UTC instants that stay inside those years under any UTC offset up to
# +-25:59:59, whatever the zone's actual offset.
LOCAL_MIN = _unix_day(-9999, 1, 1) * DAY_SECONDS
LOCAL_END = (_unix_day(9999, 12, 31) + 1) * DAY_SECONDS
MAX_OFFSET = 25 * 3600 + 59 * 60 + 59
FIRST_LOCAL_INSTANT = LOCAL_MIN + MAX_OFFSET  # -9999-01-02T01:59:59Z
LAST_LOCAL_INSTANT = LOCAL_END - 1 - MAX_OFFSET  # 9999-12-30T22:00:00Z
# Instants datetime can place in any zone; outside them the zone's first rule (local mean
# time) or last rule (its POSIX footer) applies, read at the nearest end.
_UTC_FIRST = _unix_day(1, 1, 2) * DAY_SECONDS
_UTC_LAST = _unix_day(9999, 12, 30) * DAY_SECONDS


def local_seconds(time_zone: str, instant: int) -> int:
    """Seconds since 1970-01-01 00:00 of the wall clock in ``time_zone`` at ``instant``."""
    zone = _time_zone(time_zone)
    if not FIRST_LOCAL_INSTANT <= instant <= LAST_LOCAL_INSTANT:
        raise InvalidKeyData(f"instant {instant} has no local time", "instant")
    probe = min(max(instant, _UTC_FIRST), _UTC_LAST)
    offset = datetime.fromtimestamp(probe, tz=UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return instant + int(offset.total_seconds())


def in_schedule(schedule: Schedule, instant: int) -> bool:
    """Whether the local time at ``instant`` (DST included) falls in one of the windows."""
    local = local_seconds(schedule.time_zone, instant)
    day = WEEKDAYS[(local // DAY_SECONDS + 3) % 7]  # 1970-01-01 was a Thursday
    minute = local % DAY_SECONDS // 60
    return any(day in w.days and w.start <= minute < w.end for w in schedule.windows)


# --- the rules on plain values (shared by evaluate and evaluate_bulk) ---


def _general(
    key_type: str,
    revoked: bool,
    delivered: bool,
    app_reloaded: bool,
    valid_from: int,
    door_states: Sequence[str],
    now: int,
) -> str:
    if key_type == "access_medium":
        if revoked:
            if all(s in ("none", "removed") for s in door_states):
                return "revoked"
            return "revocation_pending"
        if now < valid_from:
            return "planned"
        # Created or modified: a door to add, change or remove (not revoked as a whole).
        if any(s in ACCESS_MEDIUM_PENDING for s in door_states):
            return "door_update_pending"
        return "active"
    if revoked:
        return "revoked" if app_reloaded else "revocation_pending"
    return "deployed" if delivered else "deployment_pending"


def _home(
    key_type: str,
    general: str,
    revoked: bool,
    phone_blocked: bool,
    delivered: bool,
    app_reloaded: bool,
    valid_from: int,
    valid_until: int | None,
    doors: Sequence[tuple[str, bool]],
    has_schedule: bool,
    now: int,
) -> str | None:
    digital = key_type == "digital_key"
    if general == "revoked":
        return None
    # Never delivered: not shown. Being re-delivered after a modification: the rows of the
    # delivered credential are still there and it still works, so the app keeps showing it.
    if digital and not delivered and all(s in ("none", "removed") for s, _ in doors):
        return None
    if now < valid_from and not any(s in PENDING_DOOR_STATES for s, _ in doors):
        return None
    expired = valid_until is not None and now >= valid_until
    if not digital and expired:
        return None
    if digital and phone_blocked:
        return "blocked"
    if digital and expired:
        return "expired"
    if digital and revoked and not app_reloaded:
        return "deactivation_in_progress"
    if not digital:
        pending_online = [online for s, online in doors if s in ACCESS_MEDIUM_PENDING]
        if not all(pending_online):
            return "please_update_door"
        if pending_online:
            return "updating_common_doors"
    return "time_day" if has_schedule else "always"


def _validate_facts(facts: KeyFacts, now: int, now_field: str) -> None:
    _check_code(facts.key_type, KEY_TYPES, "key_type")
    for name in ("revoked", "phone_blocked", "delivered", "app_reloaded"):
        _check_bool(getattr(facts, name), name)
    _check_i64(facts.valid_from, "valid_from", InvalidKeyData)
    if facts.valid_until is not None:
        _check_i64(facts.valid_until, "valid_until", InvalidKeyData)
        if facts.valid_until <= facts.valid_from:
            raise InvalidKeyData("valid_until must be after valid_from", "valid_until")
    _check_i64(now, now_field, InvalidKeyData)
    for i, door in enumerate(facts.doors):
        _check_code(door.state, DOOR_STATES, f"doors[{i}].state")
        if door.state not in STATES_OF_KEY_TYPE[facts.key_type]:
            raise InvalidKeyData(
                f"a door row of an {facts.key_type} is never {door.state!r}", f"doors[{i}].state"
            )
        _check_bool(door.online, f"doors[{i}].online")
    if facts.schedule is not None:
        validate_schedule(facts.schedule)


def evaluate(facts: KeyFacts, now: int) -> KeyStatus:
    """General status, home-app status and per-door rows of one key at ``now``."""
    _validate_facts(facts, now, "now")
    states = [d.state for d in facts.doors]
    general = _general(
        facts.key_type,
        facts.revoked,
        facts.delivered,
        facts.app_reloaded,
        facts.valid_from,
        states,
        now,
    )
    home_code = _home(
        facts.key_type,
        general,
        facts.revoked,
        facts.phone_blocked,
        facts.delivered,
        facts.app_reloaded,
        facts.valid_from,
        facts.valid_until,
        [(d.state, d.online) for d in facts.doors],
        facts.schedule is not None,
        now,
    )
    home: HomeStatus | None = None
    if home_code is not None:
        if home_code == "time_day":
            assert facts.schedule is not None
            label = schedule_label(facts.schedule)
        else:
            label = HOME_LABELS[home_code]
        home = HomeStatus(code=home_code, label=label, category=HOME_CATEGORIES[home_code])
    return KeyStatus(
        status=Status(code=general, label=GENERAL_LABELS[general]),
        home_status=home,
        doors=tuple(door_status(d.state, d.online) for d in facts.doors),
    )


def is_usable_at(facts: KeyFacts, instant: int) -> bool:
    """Whether the key opens its doors at ``instant`` (status, block, validity, schedule)."""
    _validate_facts(facts, instant, "instant")
    general = _general(
        facts.key_type,
        facts.revoked,
        facts.delivered,
        facts.app_reloaded,
        facts.valid_from,
        [d.state for d in facts.doors],
        instant,
    )
    ready = "active" if facts.key_type == "access_medium" else "deployed"
    if general != ready or facts.phone_blocked:
        return False
    if instant < facts.valid_from:
        return False
    if facts.valid_until is not None and instant >= facts.valid_until:
        return False
    return facts.schedule is None or in_schedule(facts.schedule, instant)


# --- bulk, columnar ---


# Buffer-protocol formats of each column's element type (native or explicitly little-endian;
# this oracle, like the service, runs on little-endian machines). 'l' and 'L' count only where
# the C long has the column's size.
_ELEMENT_FORMATS = {"B": ("B",), "q": ("q", "l"), "I": ("I", "L")}
_RAW_BYTE_FORMATS = ("B", "b")


def _column(buffer: Any, fmt: str, field: str) -> memoryview:
    """A column as a flat memoryview of ``fmt``: its own element type, or raw bytes."""
    try:
        view = memoryview(buffer)
    except TypeError:
        raise InvalidBulkInput(f"{field}: expected a buffer, got {buffer!r}", field) from None
    exported = view.format.lstrip("@=<")
    own_type = exported in _ELEMENT_FORMATS[fmt] and view.itemsize == struct.calcsize(fmt)
    if view.format.startswith((">", "!")) or not (own_type or exported in _RAW_BYTE_FORMATS):
        raise InvalidBulkInput(f"{field}: a buffer of format {view.format!r}", field)
    # tobytes() also flattens strided and multi-dimensional buffers in C order.
    raw = view if view.c_contiguous and view.ndim == 1 else memoryview(view.tobytes())
    try:
        return raw.cast("B").cast(fmt)
    except TypeError as error:
        raise InvalidBulkInput(f"{field}: {error}", field) from None


def evaluate_bulk(
    key_types: Any,
    flags: Any,
    valid_from: Any,
    valid_until: Any,
    door_offsets: Any,
    door_states: Any,
    now: int,
    *,
    threads: int | None = None,
) -> BulkResult:
    """General and home-app status codes of every key of a columnar batch, plus counts.

    ``threads`` is checked like the facade checks it; the oracle always runs on one thread.
    """
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise InvalidBulkInput(f"threads must be 1..{MAX_THREADS}, got {threads}", "threads")
    _check_i64(now, "now", InvalidBulkInput)
    types = _column(key_types, "B", "key_types")
    key_flags = _column(flags, "B", "flags")
    starts = _column(valid_from, "q", "valid_from")
    ends = _column(valid_until, "q", "valid_until")
    offsets = _column(door_offsets, "I", "door_offsets")
    states = _column(door_states, "B", "door_states")

    n = len(types)
    for name, column in (("flags", key_flags), ("valid_from", starts), ("valid_until", ends)):
        if len(column) != n:
            raise InvalidBulkInput(f"{name} has {len(column)} entries for {n} keys", name)
    if len(offsets) != n + 1:
        raise InvalidBulkInput(
            f"door_offsets has {len(offsets)} entries, expected {n + 1}", "door_offsets"
        )
    if offsets[0] != 0 or offsets[n] != len(states):
        raise InvalidBulkInput(
            "door_offsets must start at 0 and end at len(door_states)", "door_offsets"
        )
    for i in range(n):
        if offsets[i + 1] < offsets[i]:
            raise InvalidBulkInput(f"door_offsets decrease at key {i}", "door_offsets")

    status_out = bytearray(n)
    home_out = bytearray(n)
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        code = types[i]
        if code >= len(KEY_TYPES):
            raise InvalidBulkInput(f"unknown key type code {code} at key {i}", "key_types")
        key_type = KEY_TYPES[code]
        start = starts[i]
        end: int | None = ends[i]
        if end == NO_END:
            end = None
        elif end <= start:
            raise InvalidBulkInput(f"valid_until <= valid_from at key {i}", "valid_until")
        doors: list[tuple[str, bool]] = []
        for j in range(lo, hi):
            byte = states[j]
            state_code = byte & STATE_MASK
            if state_code >= len(DOOR_STATES):
                raise InvalidBulkInput(
                    f"unknown door state code {state_code} at door {j}", "door_states"
                )
            state = DOOR_STATES[state_code]
            if state not in STATES_OF_KEY_TYPE[key_type]:
                raise InvalidBulkInput(
                    f"a door row of an {key_type} is never {state!r} (door {j})", "door_states"
                )
            doors.append((state, bool(byte & ONLINE_BIT)))
        flag = key_flags[i]
        if flag & ~KNOWN_FLAGS:
            raise InvalidBulkInput(f"undefined flag bits {flag:#04x} at key {i}", "flags")
        revoked = bool(flag & REVOKED)
        delivered = bool(flag & DELIVERED)
        app_reloaded = bool(flag & APP_RELOADED)
        general = _general(
            key_type, revoked, delivered, app_reloaded, start, [s for s, _ in doors], now
        )
        home = _home(
            key_type,
            general,
            revoked,
            bool(flag & PHONE_BLOCKED),
            delivered,
            app_reloaded,
            start,
            end,
            doors,
            bool(flag & HAS_SCHEDULE),
            now,
        )
        status_out[i] = GENERAL_STATUSES.index(general)
        home_out[i] = HOME_NONE if home is None else HOME_STATUSES.index(home)

    status_counts = dict.fromkeys(GENERAL_STATUSES, 0)
    for code in status_out:
        status_counts[GENERAL_STATUSES[code]] += 1
    home_counts = dict.fromkeys((*HOME_STATUSES, "none"), 0)
    for code in home_out:
        home_counts["none" if code == HOME_NONE else HOME_STATUSES[code]] += 1
    return BulkResult(
        status=bytes(status_out),
        home_status=bytes(home_out),
        status_counts=status_counts,
        home_status_counts=home_counts,
    )
