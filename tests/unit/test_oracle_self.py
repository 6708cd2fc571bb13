"""The oracle against cases worked out by hand from docs/status-rules.md.

The agreement tests are only as good as the oracle, so the oracle's trickier corners (the
precedence of the home-app statuses, the label format, local time across daylight-saving
changes, the bulk layout) are pinned here to answers computed by hand, not by code.
"""

from __future__ import annotations

import array
from dataclasses import replace
from datetime import UTC, datetime

import oracle
import pytest

from keyworker.errors import (
    IllegalTransition,
    InvalidBulkInput,
    InvalidKeyData,
    InvalidModification,
    InvalidSchedule,
)
from keyworker.status import DoorFacts, KeyFacts, Schedule, Window

DAY = 86_400
NOW = 1_700_000_000
WEEKDAYS_MON_FRI = frozenset({"mon", "tue", "wed", "thu", "fri"})


def utc(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=UTC).timestamp())


def key(key_type: str, *states: str, online: bool = False, **changes: object) -> KeyFacts:
    facts: dict[str, object] = {
        "key_type": key_type,
        "revoked": False,
        "valid_from": NOW - DAY,
        "valid_until": None,
        "doors": tuple(DoorFacts(s, online) for s in states),
    }
    facts.update(changes)
    return KeyFacts(**facts)


def codes(facts: KeyFacts, now: int = NOW) -> tuple[str, str | None]:
    result = oracle.evaluate(facts, now)
    return result.status.code, None if result.home_status is None else result.home_status.code


# --- transitions ---


def test_block_and_unblock_while_the_opposite_is_pending_follow_the_latest_intent() -> None:
    assert oracle.next_door_state("digital_key", "blocking_pending", "unblock") == (
        "unblocking_pending"
    )
    assert oracle.next_door_state("digital_key", "unblocking_pending", "block") == (
        "blocking_pending"
    )


@pytest.mark.parametrize(
    ("key_type", "state", "event"),
    [
        ("access_medium", "removed", "confirm"),  # a stale confirmation
        ("access_medium", "revocation_pending", "revoke"),
        ("digital_key", "none", "block"),  # blocking applies to delivered keys only
        ("digital_key", "deployed", "revoke"),  # revoking a digital key writes no door
        ("digital_key", "none", "complete_revocation"),
        ("access_medium", "none", "deliver"),
    ],
)
def test_unlisted_pairs_are_illegal(key_type: str, state: str, event: str) -> None:
    with pytest.raises(IllegalTransition):
        oracle.next_door_state(key_type, state, event)


def test_unknown_codes_are_invalid_key_data() -> None:
    with pytest.raises(InvalidKeyData):
        oracle.next_door_state("access_medium", "lost", "confirm")
    with pytest.raises(InvalidKeyData):
        oracle.door_status("lost", True)


# --- general and home-app status ---


@pytest.mark.parametrize(
    ("facts", "now", "expected"),
    [
        # Access medium.
        (key("access_medium", "deployed", valid_from=NOW + 1), NOW, ("planned", None)),
        (
            key("access_medium", "deployment_pending", online=True),
            NOW,
            ("door_update_pending", "updating_common_doors"),
        ),
        (key("access_medium", "deployed"), NOW, ("active", "always")),
        (
            key("access_medium", "revocation_pending", "removed", revoked=True),
            NOW,
            ("revocation_pending", "please_update_door"),
        ),
        (key("access_medium", "removed", revoked=True), NOW, ("revoked", None)),
        (key("access_medium", revoked=True), NOW, ("revoked", None)),
        (key("access_medium", "deployed", valid_until=NOW), NOW, ("active", None)),
        (key("access_medium", "deployed", valid_until=NOW + 1), NOW, ("active", "always")),
        # Digital key.
        (key("digital_key", "none"), NOW, ("deployment_pending", None)),
        (key("digital_key", "deployed", delivered=True), NOW, ("deployed", "always")),
        (
            key("digital_key", "deployed", delivered=True, revoked=True),
            NOW,
            ("revocation_pending", "deactivation_in_progress"),
        ),
        (
            key("digital_key", "removed", delivered=True, revoked=True, app_reloaded=True),
            NOW,
            ("revoked", None),
        ),
        (
            key("digital_key", "deployed", delivered=True, valid_until=NOW),
            NOW,
            ("deployed", "expired"),
        ),
        (
            key("digital_key", "deployed", delivered=True, valid_from=NOW + 1),
            NOW,
            ("deployed", None),
        ),
    ],
)
def test_statuses_worked_out_by_hand(
    facts: KeyFacts, now: int, expected: tuple[str, str | None]
) -> None:
    assert codes(facts, now) == expected


def test_manual_door_wins_over_automated_ones() -> None:
    facts = KeyFacts(
        "access_medium",
        False,
        NOW - DAY,
        None,
        (DoorFacts("deployment_pending", True, "common"), DoorFacts("deployment_pending", False)),
    )
    assert codes(facts) == ("door_update_pending", "please_update_door")
    # The mode follows the door's connectivity at evaluation time.
    online = KeyFacts("access_medium", False, NOW - DAY, None, (DoorFacts("deployed", False),))
    assert codes(online) == ("active", "always")


def test_home_precedence_blocked_then_expired_then_deactivation() -> None:
    everything = key(
        "digital_key",
        "blocking_pending",
        delivered=True,
        revoked=True,
        phone_blocked=True,
        valid_until=NOW,
    )
    assert codes(everything) == ("revocation_pending", "blocked")
    assert codes(key("digital_key", "deployed", delivered=True, revoked=True, valid_until=NOW)) == (
        "revocation_pending",
        "expired",
    )


def test_before_move_in_a_pending_door_is_shown() -> None:
    facts = key("access_medium", "deployment_pending", valid_from=NOW + DAY)
    assert codes(facts) == ("planned", "please_update_door")


def test_labels_and_categories() -> None:
    result = oracle.evaluate(key("digital_key", "blocked", delivered=True, phone_blocked=True), NOW)
    assert result.home_status is not None
    assert (result.home_status.label, result.home_status.category) == ("Blocked", "inactive")
    assert result.doors[0] is not None
    assert (result.doors[0].code, result.doors[0].mode, result.doors[0].label) == (
        "blocked",
        None,
        "Blocked",
    )
    pending = oracle.door_status("unblocking_pending", True)
    assert pending is not None
    assert pending.label == "(automated) Unblocking pending"
    assert oracle.door_status("removed", True) is None
    assert oracle.door_status("none", False) is None


def test_bad_facts_are_rejected() -> None:
    with pytest.raises(InvalidKeyData):
        oracle.evaluate(key("access_medium", valid_until=NOW - DAY), NOW)
    with pytest.raises(InvalidKeyData):
        oracle.evaluate(key("smart_card"), NOW)
    with pytest.raises(InvalidSchedule):
        oracle.evaluate(key("access_medium", schedule=Schedule("Nowhere/Atlantis", ())), NOW)


# --- schedules ---


@pytest.mark.parametrize(
    ("windows", "label"),
    [
        (
            [(WEEKDAYS_MON_FRI, 420, 1140), ({"sat"}, 540, 720)],
            "Mon–Fri 07:00–19:00, Sat 09:00–12:00",
        ),
        ([({"sat", "sun"}, 0, 1440)], "Sat, Sun 00:00–24:00"),
        ([(set(oracle.WEEKDAYS), 0, 1440)], "Daily 00:00–24:00"),
        ([({"mon", "tue", "wed", "fri"}, 5, 1439)], "Mon–Wed, Fri 00:05–23:59"),
        ([({"sun", "mon", "sat"}, 60, 120)], "Mon, Sat, Sun 01:00–02:00"),
        ([({"tue", "thu", "fri", "sat", "sun"}, 600, 601)], "Tue, Thu–Sun 10:00–10:01"),
    ],
)
def test_schedule_labels(windows: list[tuple[set[str], int, int]], label: str) -> None:
    schedule = Schedule("UTC", tuple(Window(frozenset(d), s, e) for d, s, e in windows))
    assert oracle.schedule_label(schedule) == label


def test_schedule_json_round_trip() -> None:
    obj = {
        "time_zone": "Europe/Zurich",
        "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "24:00"}
        ],
    }
    schedule = oracle.schedule_from_json(obj)
    assert schedule == Schedule("Europe/Zurich", (Window(WEEKDAYS_MON_FRI, 420, 1440),))
    assert oracle.schedule_to_json(schedule) == obj
    with pytest.raises(InvalidSchedule):
        oracle.schedule_from_json({**obj, "time_zone": "Europe/Atlantis"})


MONDAY_MORNING = Schedule("Europe/Zurich", (Window(frozenset({"mon"}), 7 * 60, 8 * 60),))


@pytest.mark.parametrize(
    ("schedule", "instant", "usable"),
    [
        # Zurich on Monday 07:00-08:00 local: CET (+1) before 31 March 2024, CEST (+2) after.
        (MONDAY_MORNING, utc(2024, 3, 25, 6, 30), True),
        (MONDAY_MORNING, utc(2024, 3, 25, 5, 30), False),
        (MONDAY_MORNING, utc(2024, 4, 1, 5, 30), True),
        (MONDAY_MORNING, utc(2024, 4, 1, 6, 30), False),
        (MONDAY_MORNING, utc(2024, 4, 1, 5, 0), True),  # 07:00 local: start is inclusive
        (MONDAY_MORNING, utc(2024, 4, 1, 6, 0), False),  # 08:00 local: end is exclusive
        # New York after the change back to EST (-5) on 3 November 2024.
        (
            Schedule("America/New_York", (Window(frozenset({"mon"}), 450, 480),)),
            utc(2024, 11, 4, 12, 30),
            True,
        ),
        # Kolkata (+05:30): Monday 00:00 local is Sunday 18:30 UTC.
        (
            Schedule("Asia/Kolkata", (Window(frozenset({"mon"}), 0, 60),)),
            utc(2023, 12, 31, 18, 30),
            True,
        ),
        (
            Schedule("Asia/Kolkata", (Window(frozenset({"mon"}), 0, 60),)),
            utc(2023, 12, 31, 18, 29, 59),
            False,
        ),
    ],
)
def test_usability_in_local_time(schedule: Schedule, instant: int, usable: bool) -> None:
    facts = key("digital_key", "deployed", delivered=True, valid_from=0, schedule=schedule)
    assert oracle.is_usable_at(facts, instant) is usable


def test_usability_needs_status_validity_and_no_block() -> None:
    ready = key("access_medium", "deployed", valid_until=NOW + DAY)
    assert oracle.is_usable_at(ready, NOW)
    assert oracle.is_usable_at(ready, NOW - DAY)  # valid_from is inclusive
    assert not oracle.is_usable_at(ready, NOW - DAY - 1)
    assert not oracle.is_usable_at(ready, NOW + DAY)  # valid_until is exclusive
    assert not oracle.is_usable_at(key("access_medium", "deployment_pending"), NOW)
    blocked = key("digital_key", "deployed", delivered=True, phone_blocked=True)
    assert not oracle.is_usable_at(blocked, NOW)


# --- bulk ---


def test_bulk_by_hand() -> None:
    online = 0x80
    result = oracle.evaluate_bulk(
        bytes([0, 0, 1, 1]),
        bytes([0, 0b10000, 0b0100, 0b0011]),
        array.array("q", [NOW - DAY, NOW - DAY, NOW - DAY, NOW - DAY]),
        array.array("q", [2**63 - 1, 2**63 - 1, NOW, 2**63 - 1]),
        array.array("I", [0, 2, 3, 4, 4]),
        bytes([1 | online, 1, 2, 2]),
        NOW,
    )
    assert list(result.status) == [2, 1, 6, 3]
    assert list(result.home_status) == [3, 1, 5, 255]
    assert result.status_counts == {
        "planned": 0,
        "active": 1,
        "door_update_pending": 1,
        "revocation_pending": 1,
        "revoked": 0,
        "deployment_pending": 0,
        "deployed": 1,
    }
    assert result.home_status_counts["none"] == 1
    assert sum(result.home_status_counts.values()) == 4


@pytest.mark.parametrize("offsets", [[0, 1], [0, 2, 1, 2], [1, 1, 1, 2], [0, 1, 1, 3], [0, 1, 1]])
def test_bulk_rejects_bad_offsets(offsets: list[int]) -> None:
    with pytest.raises(InvalidBulkInput):
        oracle.evaluate_bulk(
            bytes(3),
            bytes(3),
            array.array("q", [0] * 3),
            array.array("q", [2**63 - 1] * 3),
            array.array("I", offsets),
            bytes([2, 2]),
            NOW,
        )


# --- decisions of docs/status-engine.md ---


def test_door_states_of_each_key_type() -> None:
    expected = {
        "access_medium": {
            "none",
            "deployment_pending",
            "deployed",
            "revocation_pending",
            "removed",
        },
        "digital_key": {
            "none",
            "deployed",
            "blocking_pending",
            "blocked",
            "unblocking_pending",
            "removed",
        },
    }
    states = oracle.STATES_OF_KEY_TYPE
    assert states == expected
    with pytest.raises(InvalidKeyData):
        oracle.evaluate(key("access_medium", "blocked"), NOW)
    with pytest.raises(InvalidKeyData):
        oracle.evaluate(key("digital_key", "revocation_pending", delivered=True), NOW)


def test_local_time_before_year_one() -> None:
    # 1 January of year 1 and of year -9999 were Mondays (the proleptic Gregorian calendar
    # repeats every 400 years, and 146,097 days are whole weeks).
    assert oracle.local_seconds("UTC", utc(1, 1, 1)) == -719_162 * DAY
    monday = Schedule("UTC", (Window(frozenset({"mon"}), 0, 1),))
    sunday = Schedule("UTC", (Window(frozenset({"sun"}), 0, 1440),))
    always = key("digital_key", "deployed", delivered=True, valid_from=-(2**63))
    # The first instant with a local time, -9999-01-02T01:59:59Z, is a Tuesday in UTC and
    # still Monday 22:00 in New York (UTC-04:56:02 local mean time).
    first = oracle.FIRST_LOCAL_INSTANT
    assert first == -377_705_023_201
    tuesday = Schedule("UTC", (Window(frozenset({"tue"}), 119, 120),))
    assert oracle.is_usable_at(replace(always, schedule=tuesday), first)
    assert not oracle.is_usable_at(replace(always, schedule=monday), first)
    new_york = Schedule("America/New_York", (Window(frozenset({"mon"}), 21 * 60, 22 * 60 + 4),))
    assert oracle.is_usable_at(replace(always, schedule=new_york), first)
    assert oracle.LAST_LOCAL_INSTANT == 253_402_207_200
    for outside in (first - 1, oracle.LAST_LOCAL_INSTANT + 1):
        with pytest.raises(InvalidKeyData):
            oracle.is_usable_at(replace(always, schedule=sunday), outside)


def _one_key(**columns: object) -> list[object]:
    batch: dict[str, object] = {
        "key_types": bytes([0]),
        "flags": bytes([0]),
        "valid_from": array.array("q", [0]),
        "valid_until": array.array("q", [2**63 - 1]),
        "door_offsets": array.array("I", [0, 1]),
        "door_states": bytes([2]),
    }
    batch.update(columns)
    return list(batch.values())


@pytest.mark.parametrize(
    "columns",
    [
        {"flags": bytes([0x20])},
        {"door_states": bytes([6])},  # `blocked` at an access medium
        {"valid_from": array.array("i", [0, 0])},  # int32 for an i64 column
        {"door_offsets": array.array("q", [0, 1])},  # int64 for a u32 column
        {"key_types": [0]},
    ],
)
def test_bulk_rejects_what_the_decisions_reject(columns: dict[str, object]) -> None:
    with pytest.raises(InvalidBulkInput):
        oracle.evaluate_bulk(*_one_key(**columns), NOW)


def test_bulk_reads_raw_bytes_and_checks_threads() -> None:
    raw = _one_key(
        valid_from=array.array("q", [0]).tobytes(), door_offsets=bytes([0] * 4 + [1, 0, 0, 0])
    )
    assert oracle.evaluate_bulk(*raw, NOW).status == bytes([1])
    with pytest.raises(InvalidBulkInput):
        oracle.evaluate_bulk(*raw, NOW, threads=0)


# --- modifying a key ---


def test_modification_transitions_by_hand() -> None:
    assert oracle.next_door_state("access_medium", "deployed", "update") == "deployment_pending"
    assert oracle.next_door_state("access_medium", "deployment_pending", "update") == (
        "deployment_pending"
    )
    assert oracle.next_door_state("access_medium", "revocation_pending", "create") == (
        "deployment_pending"
    )
    for key_type, state in (("access_medium", "revocation_pending"), ("digital_key", "deployed")):
        with pytest.raises(IllegalTransition):
            oracle.next_door_state(key_type, state, "update")


def test_modification_statuses_by_hand() -> None:
    # A door removed from a key that stays in use: the door must be updated, the key is not
    # being revoked.
    removed_one = key("access_medium", "deployed", "revocation_pending", online=True)
    assert codes(removed_one) == ("door_update_pending", "updating_common_doors")
    # A digital key re-delivered after a modification keeps its home status; one never
    # delivered is not shown.
    redelivering = key("digital_key", "deployed", "none", delivered=False)
    assert codes(redelivering) == ("deployment_pending", "always")
    assert codes(key("digital_key", "none", "none")) == ("deployment_pending", None)
    assert codes(replace(redelivering, phone_blocked=True)) == ("deployment_pending", "blocked")


def test_modification_plans_by_hand() -> None:
    rows = [("a", "deployed"), ("b", "revocation_pending"), ("c", "deployment_pending")]
    plan = oracle.plan_modification("access_medium", rows, ["d", "b", "a"], True)
    assert [(p.door_id, p.action, p.state_after) for p in plan] == [
        ("a", "update", "deployment_pending"),
        ("b", "deploy", "deployment_pending"),
        ("c", "revoke", "revocation_pending"),
        ("d", "deploy", "deployment_pending"),
    ]
    plan = oracle.plan_modification("digital_key", [("a", "blocked")], ["b"], False)
    assert [(p.door_id, p.action, p.state_after) for p in plan] == [
        ("a", "revoke", "blocked"),
        ("b", "deploy", "none"),
    ]
    with pytest.raises(InvalidModification) as raised:
        oracle.plan_modification("access_medium", rows, [], False)
    assert raised.value.field == "door_ids"
