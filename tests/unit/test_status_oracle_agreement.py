"""The Rust status engine (through ``keyworker.status``) agrees with the independent oracle.

Random event histories drive one key through the door transitions and key-level events the
service applies (docs/status-rules.md), comparing both implementations after every step;
schedules, daylight-saving instants and columnar bulk batches are compared the same way.
Agreement means the same value, or the same exception class for input the rules reject.
"""

from __future__ import annotations

import array
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import oracle
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from oracle import STATES_OF_KEY_TYPE
from status_strategies import (
    BASE,
    BUFFER_KINDS,
    DAY,
    DOOR_CODES,
    KEY_TYPES,
    NO_END,
    TIME_ZONES,
    Columns,
    any_key_facts,
    bulk_batches,
    dst_instants,
    instants,
    reachable_key_facts,
    schedules,
    validity,
)

from keyworker import status as engine
from keyworker.errors import InvalidBulkInput, KeyworkerError
from keyworker.status import DoorFacts, KeyFacts, Schedule, Window


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """The value of a call, or the class of keyworker error it raised (anything else escapes)."""
    try:
        return ("value", call(*args, **kwargs))
    except KeyworkerError as error:
        return ("error", type(error))


def assert_agree(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``name`` on the engine and on the oracle; they must give the same outcome."""
    from_engine = outcome(getattr(engine, name), *args, **kwargs)
    from_oracle = outcome(getattr(oracle, name), *args, **kwargs)
    assert from_engine == from_oracle, f"{name}{args!r}: engine {from_engine}, oracle {from_oracle}"
    return from_engine


# --- codes and single-door rules, exhaustively ---


def test_codes_are_the_documented_codes() -> None:
    assert engine.KEY_TYPES == oracle.KEY_TYPES
    assert engine.DOOR_STATES == oracle.DOOR_STATES
    assert engine.GENERAL_STATUSES == oracle.GENERAL_STATUSES
    assert engine.HOME_STATUSES == oracle.HOME_STATUSES
    assert engine.DOOR_EVENTS == oracle.DOOR_EVENTS


@pytest.mark.parametrize("key_type", oracle.KEY_TYPES)
@pytest.mark.parametrize("state", oracle.DOOR_STATES)
@pytest.mark.parametrize("event", oracle.DOOR_EVENTS)
def test_every_door_transition_agrees(key_type: str, state: str, event: str) -> None:
    assert_agree("next_door_state", key_type, state, event)


@pytest.mark.parametrize(
    ("key_type", "state", "event"),
    [
        ("smart_card", "none", "create"),
        ("access_medium", "lost", "confirm"),
        ("digital_key", "deployed", "teleport"),
        ("", "", ""),
    ],
)
def test_unknown_codes_in_a_transition_are_rejected_alike(
    key_type: str, state: str, event: str
) -> None:
    kind, value = assert_agree("next_door_state", key_type, state, event)
    assert kind == "error"
    assert value is oracle.InvalidKeyData


@pytest.mark.parametrize("state", [*oracle.DOOR_STATES, "lost"])
@pytest.mark.parametrize("online", [False, True, 1, None])
def test_every_door_status_agrees(state: str, online: Any) -> None:
    assert_agree("door_status", state, online)


# --- random event histories of one key ---


@dataclass
class SimulatedKey:
    """One key as the service holds it, changed only through the transitions both agree on."""

    key_type: str
    valid_from: int
    valid_until: int | None
    schedule: Schedule | None
    now: int
    doors: list[DoorFacts] = field(default_factory=list)
    door_ids: list[str] = field(default_factory=list)
    """The key's doors (``doors[i]`` is the row of door ``door_ids[i]`` while rows last)."""
    revoked: bool = False
    phone_blocked: bool = False
    delivered: bool = False
    app_reloaded: bool = False
    wanted: list[str] = field(default_factory=list)
    """The door set the key was last given (a digital key's rows follow it on delivery)."""

    def facts(self) -> KeyFacts:
        return KeyFacts(
            key_type=self.key_type,
            revoked=self.revoked,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            doors=tuple(self.doors),
            schedule=self.schedule,
            phone_blocked=self.phone_blocked,
            delivered=self.delivered,
            app_reloaded=self.app_reloaded,
        )

    def apply(self, door: int, event: str) -> None:
        """Apply ``event`` at one door if the rules allow it; a refused event changes nothing."""
        current = self.doors[door]
        kind, value = assert_agree("next_door_state", self.key_type, current.state, event)
        if kind == "value":
            self.doors[door] = replace(current, state=value)
        else:
            assert value is oracle.IllegalTransition

    def drop_rows(self, leaving: Callable[[str, DoorFacts], bool]) -> None:
        """Rows that are no longer doors of the key leave it (with their door ids)."""
        kept = [(i, d) for i, d in zip(self.door_ids, self.doors, strict=True) if not leaving(i, d)]
        self.door_ids = [i for i, _ in kept]
        self.doors = [d for _, d in kept]

    def modify(self, new_door_ids: list[str], entry_changed: bool, online: list[bool]) -> None:
        """A modification as the service applies it: planned by the core, agreed by the oracle."""
        rows = [(i, d.state) for i, d in zip(self.door_ids, self.doors, strict=True)]
        kind, plan = assert_agree(
            "plan_modification", self.key_type, rows, new_door_ids, entry_changed
        )
        assert kind == "value", plan
        assert [p.door_id for p in plan[: len(rows)]] == self.door_ids
        for index, door_plan in enumerate(plan):
            if index < len(rows):
                self.doors[index] = replace(self.doors[index], state=door_plan.state_after)
            else:
                self.door_ids.append(door_plan.door_id)
                self.doors.append(DoorFacts(door_plan.state_after, online[index % len(online)]))
        self.wanted = list(new_door_ids)
        if self.key_type == "digital_key" and any(p.action != "nothing" for p in plan):
            self.delivered = False  # the re-signed credential is on its way

    def apply_everywhere(self, event: str) -> None:
        for door in range(len(self.doors)):
            self.apply(door, event)

    def step(self, action: tuple[Any, ...]) -> None:
        """One thing happening to the key, applied the way docs/status-rules.md describes."""
        match action:
            case ("confirm", door) if self.doors:
                # A door reports a version: it completes whatever is pending there; at a door
                # with nothing pending the confirmation is stale and changes nothing.
                self.apply(door % len(self.doors), "confirm")
                if not self.revoked:
                    # A door removed by a modification leaves the key once it confirmed.
                    self.drop_rows(lambda _, d: d.state == "removed")
            case ("modify", door_ids, entry_changed, online) if not self.revoked:
                # A revoked key cannot be modified (409 before anything is planned).
                self.modify(door_ids, entry_changed, online)
            case ("connectivity", door) if self.doors:
                index = door % len(self.doors)
                self.doors[index] = replace(self.doors[index], online=not self.doors[index].online)
            case ("clock", seconds):
                self.now += seconds
            case ("revoke",) if not self.revoked:
                self.revoked = True
                if self.key_type == "access_medium":
                    self.apply_everywhere("revoke")
                # Revoking a digital key writes nothing to its doors.
            case ("deliver",) if not self.delivered and not self.revoked:
                self.delivered = True
                # Rows already holding the delivered credential refuse `deliver` and stay;
                # rows of doors the new credential no longer lists leave the key.
                self.apply_everywhere("deliver")
                self.drop_rows(lambda door_id, _: door_id not in self.wanted)
                if self.phone_blocked:
                    # A delivery confirmed while the phone is blocked: deliver, then block.
                    self.apply_everywhere("block")
            case ("block",) if not self.phone_blocked:
                self.phone_blocked = True
                self.apply_everywhere("block")
            case ("unblock",) if self.phone_blocked:
                self.phone_blocked = False
                self.apply_everywhere("unblock")
            case ("reload",) if self.revoked and not self.app_reloaded:
                self.app_reloaded = True
                self.apply_everywhere("complete_revocation")
            case ("probe", door, event) if self.doors:
                # Any event at any door: the two must accept or refuse it alike. Not applied,
                # because the service never sends it out of turn.
                assert_agree(
                    "next_door_state",
                    self.key_type,
                    self.doors[door % len(self.doors)].state,
                    event,
                )
            case _:
                pass  # a key-level event that means nothing in this state (e.g. revoke twice)


def assert_key_agrees(key: SimulatedKey, other_instants: list[int]) -> None:
    facts = key.facts()
    assert_agree("evaluate", facts, key.now)
    for instant in (key.now, *other_instants):
        assert_agree("is_usable_at", facts, instant)
    for door in facts.doors:
        assert_agree("door_status", door.state, door.online)


def _actions(key_type: str) -> st.SearchStrategy[tuple[Any, ...]]:
    door = st.integers(0, 7)
    common = [
        st.tuples(st.just("confirm"), door),
        st.tuples(st.just("confirm"), door),  # twice: confirmations are the commonest event
        st.tuples(st.just("connectivity"), door),
        st.tuples(st.just("clock"), st.integers(-20 * DAY, 20 * DAY)),
        st.tuples(st.just("revoke")),
        st.tuples(st.just("probe"), door, st.sampled_from(oracle.DOOR_EVENTS)),
    ]
    if key_type == "digital_key":
        common += [
            st.tuples(st.sampled_from(("deliver", "block", "unblock", "reload"))),
            # Delivered first and modified after: the re-delivery states need both.
            st.tuples(st.just("deliver")),
        ]
    common += [_modifications(), _modifications()]
    return st.one_of(common)


DOOR_POOL = tuple(f"door-{i}" for i in range(6))


def _modifications() -> st.SearchStrategy[tuple[Any, ...]]:
    """A modification: a new door set (some kept, some added, some removed), whether the entry
    (validity, schedule) changed, and the connectivity of the doors it adds."""
    new_doors = st.lists(st.sampled_from(DOOR_POOL), min_size=1, max_size=5, unique=True)
    online = st.lists(st.booleans(), min_size=1, max_size=3)
    return st.tuples(st.just("modify"), new_doors, st.booleans(), online)


@given(key_type=st.sampled_from(KEY_TYPES), data=st.data())
def test_random_event_histories_agree(key_type: str, data: st.DataObject) -> None:
    now = BASE + data.draw(st.integers(-30 * DAY, 30 * DAY), label="now")
    valid_from, valid_until = data.draw(validity(now), label="validity")
    schedule = data.draw(st.one_of(st.none(), schedules()), label="schedule")
    key = SimulatedKey(key_type, valid_from, valid_until, schedule, now)
    for i in range(data.draw(st.integers(1, 4), label="doors")):
        key.door_ids.append(DOOR_POOL[i])
        key.doors.append(
            DoorFacts(
                state="none",
                online=data.draw(st.booleans()),
                kind=data.draw(st.sampled_from(("common", "unit"))),
            )
        )
    key.wanted = list(key.door_ids)
    if key_type == "access_medium":
        key.apply_everywhere("create")  # an access medium's rows start pending at every door
    later = st.lists(instants(), max_size=2)
    assert_key_agrees(key, data.draw(later))
    for action in data.draw(st.lists(_actions(key_type), min_size=1, max_size=30), label="steps"):
        key.step(action)
        assert_key_agrees(key, data.draw(later))


@given(data=st.data(), reachable=st.booleans())
def test_random_keys_agree(data: st.DataObject, reachable: bool) -> None:
    now = data.draw(instants(), label="now")
    key = reachable_key_facts(now) if reachable else any_key_facts(now)
    facts = data.draw(key, label="facts")
    assert_agree("evaluate", facts, now)
    assert_agree("is_usable_at", facts, now)
    assert_agree("is_usable_at", facts, data.draw(instants(), label="instant"))


# --- invalid facts ---

FACT_DEFECTS = (
    "key_type",
    "door",
    "foreign_door",
    "door_online",
    "validity",
    "flag_not_bool",
    "beyond_64_bits",
    "schedule",
)


def foreign_states(key_type: str) -> set[str]:
    """Door states the key type never has (docs/status-engine.md: invalid data)."""
    return set(oracle.DOOR_STATES) - STATES_OF_KEY_TYPE[key_type]


# Factories, so that a facade whose dataclasses validate on construction still imports.
BROKEN_SCHEDULES: list[Callable[[], Schedule]] = [
    lambda: Schedule("Mars/Olympus_Mons", (Window(frozenset({"mon"}), 0, 60),)),
    lambda: Schedule("", (Window(frozenset({"mon"}), 0, 60),)),
    lambda: Schedule("Europe/Zurich", ()),
    lambda: Schedule("UTC", (Window(frozenset(), 0, 60),)),
    lambda: Schedule("UTC", (Window(frozenset({"mon", "funday"}), 0, 60),)),
    lambda: Schedule("UTC", (Window(frozenset({"mon"}), 60, 60),)),
    lambda: Schedule("UTC", (Window(frozenset({"mon"}), 120, 60),)),
    lambda: Schedule("UTC", (Window(frozenset({"mon"}), -1, 60),)),
    lambda: Schedule("UTC", (Window(frozenset({"mon"}), 0, 1441),)),
    lambda: Schedule(
        "UTC", (Window(frozenset({"sun"}), 0, 60), Window(frozenset({"mon"}), 61, 60))
    ),
]


@given(data=st.data())
def test_invalid_facts_are_rejected_alike(data: st.DataObject) -> None:
    now = data.draw(instants(), label="now")
    facts = data.draw(reachable_key_facts(now), label="facts")
    defect = data.draw(st.sampled_from(FACT_DEFECTS))
    if defect == "key_type":
        broken = replace(facts, key_type=data.draw(st.sampled_from(("smart_card", "", "DIGITAL"))))
    elif defect in ("door", "foreign_door", "door_online"):
        if defect == "door":
            state = data.draw(st.sampled_from(("lost", "", "Deployed")))
        else:
            state = data.draw(st.sampled_from(sorted(foreign_states(facts.key_type))))
        online: Any = 1 if defect == "door_online" else True
        if defect == "door_online":
            state = data.draw(st.sampled_from(sorted(STATES_OF_KEY_TYPE[facts.key_type])))
        doors = list(facts.doors)
        doors.insert(data.draw(st.integers(0, len(doors))), DoorFacts(state, online))
        broken = replace(facts, doors=tuple(doors))
    elif defect == "validity":
        broken = replace(facts, valid_until=facts.valid_from - data.draw(st.integers(0, DAY)))
    elif defect == "flag_not_bool":
        flag = data.draw(st.sampled_from(("revoked", "phone_blocked", "delivered", "app_reloaded")))
        broken = replace(facts, **{flag: data.draw(st.sampled_from((0, 1, None, "yes")))})
    elif defect == "beyond_64_bits":
        name = data.draw(st.sampled_from(("valid_from", "valid_until")))
        broken = replace(facts, **{name: data.draw(st.sampled_from((2**63, -(2**63) - 1)))})
    else:
        broken = replace(facts, schedule=data.draw(st.sampled_from(BROKEN_SCHEDULES))())
    for name, args in (("evaluate", (broken, now)), ("is_usable_at", (broken, now))):
        kind, value = assert_agree(name, *args)
        assert kind == "error", f"{name} accepted {defect} defect: {broken!r}"
        assert issubclass(value, oracle.InvalidKeyData)


# --- schedules and time zones ---


@given(schedule=schedules())
def test_schedule_labels_and_json_agree(schedule: Schedule) -> None:
    assert schedule.label() == oracle.schedule_label(schedule)
    as_json = schedule.to_json()
    assert as_json == oracle.schedule_to_json(schedule)
    assert Schedule.from_json(as_json) == schedule
    assert oracle.schedule_from_json(as_json) == schedule


BROKEN_SCHEDULE_JSON: list[Any] = [
    {
        "time_zone": "Mars/Olympus_Mons",
        "windows": [{"days": ["mon"], "start": "07:00", "end": "19:00"}],
    },
    {"time_zone": "UTC", "windows": []},
    {"time_zone": "UTC", "windows": [{"days": [], "start": "07:00", "end": "19:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["someday"], "start": "07:00", "end": "19:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "19:00", "end": "07:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "07:00", "end": "07:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "07:00", "end": "24:30"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "07:00", "end": "25:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "07:60", "end": "08:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "seven", "end": "08:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": 420, "end": "08:00"}]},
    {"time_zone": "UTC", "windows": [{"days": "mon", "start": "07:00", "end": "08:00"}]},
    {"time_zone": "UTC", "windows": [{"days": ["mon"], "end": "08:00"}]},
    {"time_zone": "UTC"},
    {"windows": [{"days": ["mon"], "start": "07:00", "end": "08:00"}]},
    {"time_zone": 1, "windows": [{"days": ["mon"], "start": "07:00", "end": "08:00"}]},
]


@pytest.mark.parametrize("obj", BROKEN_SCHEDULE_JSON)
def test_broken_schedule_json_is_rejected_alike(obj: Any) -> None:
    from_engine = outcome(Schedule.from_json, obj)
    from_oracle = outcome(oracle.schedule_from_json, obj)
    assert from_engine == from_oracle == ("error", oracle.InvalidSchedule)


def _always_deployed(schedule: Schedule | None) -> KeyFacts:
    """A delivered digital key valid 1970-2100: usability then depends on the schedule only."""
    return KeyFacts(
        key_type="digital_key",
        revoked=False,
        valid_from=0,
        valid_until=4_200_000_000,
        doors=(DoorFacts("deployed", online=True),),
        schedule=schedule,
        delivered=True,
    )


@given(schedule=schedules(), instant=instants())
def test_schedule_usability_agrees(schedule: Schedule, instant: int) -> None:
    kind, usable = assert_agree("is_usable_at", _always_deployed(schedule), instant)
    assert kind == "value"
    assert isinstance(usable, bool)


@given(data=st.data())
def test_schedule_usability_agrees_around_daylight_saving_changes(data: st.DataObject) -> None:
    zone, instant = data.draw(dst_instants(), label="zone and instant")
    schedule = data.draw(schedules(time_zones=(zone,)), label="schedule")
    assert_agree("is_usable_at", _always_deployed(schedule), instant)
    facts = replace(_always_deployed(schedule), delivered=False)
    assert_agree("evaluate", facts, instant)


def _usable_at_any_time(schedule: Schedule) -> KeyFacts:
    """A delivered digital key without end, valid since the earliest 64-bit instant."""
    return replace(_always_deployed(schedule), valid_from=-(2**63), valid_until=None)


# Every instant with a local time (docs/status-engine.md), ends included.
CALENDAR = st.one_of(
    st.integers(oracle.FIRST_LOCAL_INSTANT, oracle.LAST_LOCAL_INSTANT),
    st.sampled_from((oracle.FIRST_LOCAL_INSTANT, oracle.LAST_LOCAL_INSTANT)),
)


@given(schedule=schedules(), instant=CALENDAR)
def test_schedule_usability_agrees_over_the_whole_calendar(
    schedule: Schedule, instant: int
) -> None:
    # Before 1900 zones keep local mean time, far ahead their last rule: both must know that.
    kind, _ = assert_agree("is_usable_at", _usable_at_any_time(schedule), instant)
    assert kind == "value"


@given(
    schedule=schedules(),
    instant=st.one_of(
        st.integers(-(2**63), oracle.FIRST_LOCAL_INSTANT - 1),
        st.integers(oracle.LAST_LOCAL_INSTANT + 1, 2**63 - 1),
        st.sampled_from((oracle.FIRST_LOCAL_INSTANT - 1, oracle.LAST_LOCAL_INSTANT + 1)),
    ),
)
def test_instants_without_local_time_are_rejected_alike(schedule: Schedule, instant: int) -> None:
    kind, error = assert_agree("is_usable_at", _usable_at_any_time(schedule), instant)
    assert (kind, error) == ("error", oracle.InvalidKeyData)


@pytest.mark.parametrize("time_zone", TIME_ZONES)
@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (oracle.FIRST_LOCAL_INSTANT, ("value", True)),
        (oracle.LAST_LOCAL_INSTANT, ("value", True)),
        (oracle.FIRST_LOCAL_INSTANT - 1, ("error", oracle.InvalidKeyData)),
        (oracle.LAST_LOCAL_INSTANT + 1, ("error", oracle.InvalidKeyData)),
    ],
)
def test_local_time_exists_exactly_in_the_documented_range(
    time_zone: str, instant: int, expected: tuple[str, Any]
) -> None:
    # docs/status-engine.md: -377705023201 to 253402207200 inclusive, in every zone.
    schedule = Schedule(time_zone, (Window(frozenset(oracle.WEEKDAYS), 0, 1440),))
    assert assert_agree("is_usable_at", _usable_at_any_time(schedule), instant) == expected


# --- bulk ---


def _per_key_codes(facts: list[KeyFacts], now: int) -> tuple[bytes, bytes]:
    status, home = bytearray(), bytearray()
    for key in facts:
        result = engine.evaluate(key, now)
        status.append(engine.GENERAL_STATUSES.index(result.status.code))
        home.append(
            255
            if result.home_status is None
            else engine.HOME_STATUSES.index(result.home_status.code)
        )
    return bytes(status), bytes(home)


@given(
    batch=st.one_of(bulk_batches(), bulk_batches(reachable=False)),
    kind=st.sampled_from(BUFFER_KINDS),
)
def test_bulk_agrees_with_oracle_and_with_per_key_evaluation(
    batch: tuple[int, list[KeyFacts]], kind: str
) -> None:
    now, facts = batch
    buffers = Columns.from_facts(facts).as_buffers(kind)
    expected = oracle.evaluate_bulk(*buffers, now)
    for threads in (1, 2):
        assert engine.evaluate_bulk(*buffers, now, threads=threads) == expected
    assert engine.evaluate_bulk(*buffers, now) == expected
    assert (expected.status, expected.home_status) == _per_key_codes(facts, now)


def _random_columns(rng: random.Random, n: int) -> Columns:
    """A big batch of reachable keys without hypothesis (too many keys for a strategy)."""
    cols = Columns([], [], [], [], [0], [])
    for _ in range(n):
        key_type = rng.randrange(2)
        revoked = rng.random() < 0.3
        if key_type == 0:
            flags = int(revoked)
            states = (
                ("revocation_pending", "removed") if revoked else ("deployment_pending", "deployed")
            )
        else:
            delivered, blocked = rng.random() < 0.8, rng.random() < 0.2
            reloaded = revoked and rng.random() < 0.5
            flags = revoked | blocked << 1 | delivered << 2 | reloaded << 3
            if not delivered:
                states = ("none",)
            elif reloaded:
                states = ("removed",)
            else:
                states = (
                    ("blocking_pending", "blocked")
                    if blocked
                    else ("deployed", "unblocking_pending")
                )
        flags |= (rng.random() < 0.3) << 4
        start = BASE + rng.randint(-60, 60) * DAY
        cols.key_types.append(key_type)
        cols.flags.append(flags)
        cols.valid_from.append(start)
        cols.valid_until.append(NO_END if rng.random() < 0.5 else start + rng.randint(1, 90 * DAY))
        for _ in range(rng.randint(0, 5)):
            cols.door_states.append(DOOR_CODES[rng.choice(states)] | rng.choice((0, 0x80)))
        cols.door_offsets.append(len(cols.door_states))
    return cols


@pytest.mark.parametrize("kind", BUFFER_KINDS)
def test_bulk_large_batch_split_across_threads_agrees(kind: str) -> None:
    # Big enough that a two-thread run really splits the batch.
    buffers = _random_columns(random.Random(2), 40_000).as_buffers(kind)
    expected = oracle.evaluate_bulk(*buffers, BASE)
    assert engine.evaluate_bulk(*buffers, BASE, threads=1) == expected
    assert engine.evaluate_bulk(*buffers, BASE, threads=2) == expected


def _break(cols: Columns, defect: str, data: st.DataObject) -> bool:
    """Damage the batch in one way; False when this batch is too small for that defect."""
    n, m = len(cols.key_types), len(cols.door_states)
    match defect:
        case "offsets_too_short":
            cols.door_offsets.pop()
        case "offsets_too_long":
            cols.door_offsets.append(m)
        case "offsets_past_the_end":
            cols.door_offsets[-1] = m + data.draw(st.integers(1, 10))
        case "offsets_decrease" if n >= 2:
            cols.door_offsets[1] = cols.door_offsets[2] + 1
        case "column_too_short" if n >= 1:
            getattr(
                cols,
                data.draw(st.sampled_from(("key_types", "flags", "valid_from", "valid_until"))),
            ).pop()
        case "column_too_long":
            getattr(
                cols,
                data.draw(st.sampled_from(("key_types", "flags", "valid_from", "valid_until"))),
            ).append(0)
        case "unknown_key_type" if n >= 1:
            cols.key_types[data.draw(st.integers(0, n - 1))] = data.draw(st.integers(2, 255))
        case "unknown_door_state" if m >= 1:
            code = data.draw(st.integers(8, 127)) | data.draw(st.sampled_from((0, 0x80)))
            cols.door_states[data.draw(st.integers(0, m - 1))] = code
        case "validity_reversed" if n >= 1:
            i = data.draw(st.integers(0, n - 1))
            cols.valid_until[i] = cols.valid_from[i] - data.draw(st.integers(0, DAY))
        case "unknown_flag_bits" if n >= 1:
            i = data.draw(st.integers(0, n - 1))
            cols.flags[i] |= data.draw(st.sampled_from((0x20, 0x40, 0x80, 0xE0)))
        case "foreign_door_state" if m >= 1:
            j = data.draw(st.integers(0, m - 1))
            key = max(i for i in range(n) if cols.door_offsets[i] <= j)
            foreign = sorted(foreign_states(KEY_TYPES[cols.key_types[key]]))
            cols.door_states[j] = DOOR_CODES[data.draw(st.sampled_from(foreign))] | (
                cols.door_states[j] & 0x80
            )
        case _:
            return False
    return True


BULK_DEFECTS = (
    "offsets_too_short",
    "offsets_too_long",
    "offsets_past_the_end",
    "offsets_decrease",
    "column_too_short",
    "column_too_long",
    "unknown_key_type",
    "unknown_door_state",
    "validity_reversed",
    "unknown_flag_bits",
    "foreign_door_state",
)


@given(batch=bulk_batches(), defect=st.sampled_from(BULK_DEFECTS), data=st.data())
def test_invalid_bulk_batches_are_rejected_alike(
    batch: tuple[int, list[KeyFacts]], defect: str, data: st.DataObject
) -> None:
    now, facts = batch
    cols = Columns.from_facts(facts)
    assume(_break(cols, defect, data))
    buffers = cols.as_buffers(data.draw(st.sampled_from(BUFFER_KINDS)))
    assert outcome(oracle.evaluate_bulk, *buffers, now) == ("error", InvalidBulkInput)
    for threads in (1, 2):
        assert outcome(engine.evaluate_bulk, *buffers, now, threads=threads) == (
            "error",
            InvalidBulkInput,
        ), f"engine accepted a batch with {defect}"


@pytest.mark.parametrize(("threads", "now"), [(0, BASE), (-1, BASE), (257, BASE), (None, 2**63)])
def test_bad_threads_and_clock_are_rejected_alike(threads: int | None, now: int) -> None:
    buffers = Columns.from_facts([_always_deployed(None)]).as_buffers("array")
    for implementation in (engine, oracle):
        assert outcome(implementation.evaluate_bulk, *buffers, now, threads=threads) == (
            "error",
            InvalidBulkInput,
        )


def _one_key_batch() -> list[Any]:
    return list(Columns.from_facts([_always_deployed(None)]).as_buffers("array"))


# Column index, and a buffer standing in for that column of a one-key, one-door batch.
BUFFER_VARIANTS: list[tuple[str, int, Callable[[], Any]]] = [
    ("bytearray key_types", 0, lambda: bytearray([1])),
    ("memoryview flags", 1, lambda: memoryview(bytes([4]))),
    ("int8 flags", 1, lambda: np.array([4], dtype=np.int8)),
    ("bool flags", 1, lambda: np.array([True], dtype=bool)),
    ("raw bytes valid_from", 2, lambda: array.array("q", [0]).tobytes()),
    ("int8 raw valid_from", 2, lambda: np.zeros(8, dtype=np.int8)),
    ("int32 valid_from", 2, lambda: np.zeros(2, dtype=np.int32)),
    ("uint64 valid_until", 3, lambda: np.array([NO_END], dtype=np.uint64)),
    ("big-endian valid_until", 3, lambda: np.array([NO_END], dtype=">i8")),
    ("little-endian valid_until", 3, lambda: np.array([NO_END], dtype="<i8")),
    ("strided valid_from", 2, lambda: np.zeros(3, dtype=np.int64)[::3]),
    ("unaligned valid_from", 2, lambda: memoryview(bytes(9))[1:]),
    ("int64 door_offsets", 4, lambda: np.array([0, 1], dtype=np.int64)),
    ("two-dimensional door_offsets", 4, lambda: np.array([[0, 1]], dtype=np.uint32)),
    ("seven raw bytes for valid_from", 2, lambda: bytes(7)),
    ("list key_types", 0, lambda: [1]),
    ("None door_states", 5, lambda: None),
]


@pytest.mark.parametrize(
    ("column", "make"), [v[1:] for v in BUFFER_VARIANTS], ids=[v[0] for v in BUFFER_VARIANTS]
)
def test_buffer_kinds_are_accepted_or_rejected_alike(column: int, make: Callable[[], Any]) -> None:
    buffers = _one_key_batch()
    buffers[column] = make()
    assert_agree("evaluate_bulk", *buffers, BASE)


# --- modifying a key ---


def _rows(key_type: str, any_state: bool) -> st.SearchStrategy[list[tuple[str, str]]]:
    states = oracle.DOOR_STATES if any_state else sorted(STATES_OF_KEY_TYPE[key_type])
    row = st.tuples(st.sampled_from(DOOR_POOL), st.sampled_from(states))
    return st.lists(row, max_size=5)


@given(key_type=st.sampled_from(KEY_TYPES), data=st.data())
def test_modification_plans_agree(key_type: str, data: st.DataObject) -> None:
    # Any rows (doors twice, removed rows, states foreign to the key type) and any door lists
    # (empty, doors twice): the same plan or the same error class.
    rows = data.draw(_rows(key_type, any_state=data.draw(st.booleans())), label="rows")
    new_door_ids = data.draw(st.lists(st.sampled_from(DOOR_POOL), max_size=6), label="new")
    entry_changed = data.draw(st.booleans(), label="entry_changed")
    assert_agree("plan_modification", key_type, rows, new_door_ids, entry_changed)
    assert_agree("plan_modification", key_type, tuple(rows), tuple(new_door_ids), entry_changed)


@pytest.mark.parametrize(
    ("key_type", "rows", "new_door_ids", "entry_changed"),
    [
        ("smart_card", [("a", "deployed")], ["a"], False),
        ("access_medium", [("a", "installed")], ["a"], False),
        ("access_medium", [["a", "deployed"]], ["a"], False),
        ("access_medium", [("a", "deployed", "x")], ["a"], False),
        ("access_medium", [(1, "deployed")], ["a"], False),
        ("access_medium", [("a", 2)], ["a"], False),
        ("access_medium", [("a", "deployed")], "a", False),
        ("access_medium", [("a", "deployed")], [1], False),
        ("access_medium", [("a", "deployed")], None, False),
        ("access_medium", [("a", "deployed")], ["a"], 1),
        ("access_medium", [("a", "deployed")], ["a"], None),
        ("digital_key", [("a", "deployed")], [], True),
    ],
)
def test_malformed_modifications_are_rejected_alike(
    key_type: Any, rows: Any, new_door_ids: Any, entry_changed: Any
) -> None:
    kind, error = assert_agree("plan_modification", key_type, rows, new_door_ids, entry_changed)
    assert kind == "error"
    assert issubclass(error, oracle.InvalidKeyData | oracle.InvalidModification)
