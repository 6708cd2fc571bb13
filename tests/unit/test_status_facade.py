"""The status engine through its Python facade: codes, labels, errors, schedules and bulk.

These go through ``keyworker.status`` only (the Rust core is tested with ``cargo test``); the
agreement with the independent oracle is in ``test_status_oracle_agreement.py``.
"""

from __future__ import annotations

import array
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keyworker import status as st
from keyworker.errors import (
    IllegalTransition,
    InvalidBulkInput,
    InvalidInput,
    InvalidKeyData,
    InvalidSchedule,
    KeyworkerError,
)
from keyworker.status import (
    DoorFacts,
    DoorStatus,
    HomeStatus,
    KeyFacts,
    Schedule,
    Status,
    Window,
    door_status,
    evaluate,
    evaluate_bulk,
    is_usable_at,
    next_door_state,
)

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400
WORKDAYS = frozenset({"mon", "tue", "wed", "thu", "fri"})
OFFICE_HOURS = Schedule("Europe/Zurich", (Window(WORKDAYS, 7 * 60, 19 * 60),))


def access_medium(*doors: tuple[str, bool], **changes: Any) -> KeyFacts:
    facts = KeyFacts(
        key_type="access_medium",
        revoked=False,
        valid_from=NOW - DAY,
        valid_until=None,
        doors=tuple(DoorFacts(state, online) for state, online in doors),
    )
    return dataclasses.replace(facts, **changes)


def digital_key(state: str = "deployed", **changes: Any) -> KeyFacts:
    facts = KeyFacts(
        key_type="digital_key",
        revoked=False,
        valid_from=NOW - DAY,
        valid_until=None,
        doors=(DoorFacts(state, True, "common"), DoorFacts(state, False, "unit")),
        delivered=state != "none",
    )
    return dataclasses.replace(facts, **changes)


# --- the contract's code tables ---


def test_code_tables_are_the_contracts() -> None:
    assert st.KEY_TYPES == ("access_medium", "digital_key")
    assert st.DOOR_STATES == (
        "none",
        "deployment_pending",
        "deployed",
        "revocation_pending",
        "removed",
        "blocking_pending",
        "blocked",
        "unblocking_pending",
    )
    assert st.GENERAL_STATUSES == (
        "planned",
        "active",
        "door_update_pending",
        "revocation_pending",
        "revoked",
        "deployment_pending",
        "deployed",
    )
    assert st.HOME_STATUSES == (
        "always",
        "time_day",
        "updating_common_doors",
        "please_update_door",
        "deactivation_in_progress",
        "expired",
        "blocked",
    )
    assert st.DOOR_EVENTS == (
        "create",
        "deliver",
        "revoke",
        "block",
        "unblock",
        "confirm",
        "complete_revocation",
        "update",
    )
    assert st.NO_HOME_STATUS == 255
    assert st.NO_END == 2**63 - 1
    assert (st.FLAG_REVOKED, st.FLAG_PHONE_BLOCKED, st.FLAG_DELIVERED) == (1, 2, 4)
    assert (st.FLAG_APP_RELOADED, st.FLAG_HAS_SCHEDULE, st.DOOR_ONLINE) == (8, 16, 0x80)


def test_results_are_frozen() -> None:
    result = evaluate(access_medium(("deployed", True)), NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status.code = "revoked"  # type: ignore[misc]


# --- transitions ---


def test_access_medium_lifecycle_at_one_door() -> None:
    state = "none"
    for event, expected in [
        ("create", "deployment_pending"),
        ("confirm", "deployed"),
        ("revoke", "revocation_pending"),
        ("confirm", "removed"),
    ]:
        state = next_door_state("access_medium", state, event)
        assert state == expected


def test_digital_key_follows_the_latest_block_intent() -> None:
    state = next_door_state("digital_key", "none", "deliver")
    assert state == "deployed"
    for event, expected in [
        ("block", "blocking_pending"),
        ("unblock", "unblocking_pending"),
        ("block", "blocking_pending"),
        ("confirm", "blocked"),
        ("unblock", "unblocking_pending"),
        ("confirm", "deployed"),
        ("complete_revocation", "removed"),
    ]:
        state = next_door_state("digital_key", state, event)
        assert state == expected


@pytest.mark.parametrize(
    ("key_type", "state", "event"),
    [
        ("access_medium", "deployed", "confirm"),
        ("access_medium", "removed", "revoke"),
        ("access_medium", "deployed", "block"),
        ("digital_key", "deployed", "revoke"),
        ("digital_key", "none", "block"),
        ("digital_key", "removed", "deliver"),
    ],
)
def test_illegal_transitions_raise(key_type: str, state: str, event: str) -> None:
    with pytest.raises(IllegalTransition, match=event) as caught:
        next_door_state(key_type, state, event)
    assert isinstance(caught.value, KeyworkerError)
    assert not isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("card", "none", "create"), "key_type"),
        (("access_medium", "installed", "create"), "state"),
        (("access_medium", "none", "explode"), "event"),
        (("access_medium", None, "create"), "state"),
    ],
)
def test_unknown_codes_in_transitions_are_key_data_errors(
    args: tuple[Any, str, str], field: str
) -> None:
    with pytest.raises(InvalidKeyData) as caught:
        next_door_state(*args)
    assert caught.value.field == field


# --- door rows ---


def test_door_labels_are_the_seeds() -> None:
    expected = {
        ("deployment_pending", False): ("manual", "(manual) Deployment pending"),
        ("deployment_pending", True): ("automated", "(automated) Deployment pending"),
        ("revocation_pending", False): ("manual", "(manual) Revocation pending"),
        ("revocation_pending", True): ("automated", "(automated) Revocation pending"),
        ("blocking_pending", False): ("manual", "(manual) Blocking pending"),
        ("blocking_pending", True): ("automated", "(automated) Blocking pending"),
        ("unblocking_pending", False): ("manual", "(manual) Unblocking pending"),
        ("unblocking_pending", True): ("automated", "(automated) Unblocking pending"),
        ("deployed", False): (None, "Deployed"),
        ("deployed", True): (None, "Deployed"),
        ("blocked", True): (None, "Blocked"),
    }
    for (state, online), (mode, label) in expected.items():
        assert door_status(state, online) == DoorStatus(state, mode, label)
    assert door_status("none", True) is None
    assert door_status("removed", False) is None


def test_door_status_rejects_bad_input() -> None:
    with pytest.raises(InvalidKeyData) as caught:
        door_status("gone", True)
    assert caught.value.field == "state"
    with pytest.raises(InvalidKeyData) as caught:
        door_status("deployed", "yes")  # type: ignore[arg-type]
    assert caught.value.field == "online"


# --- every status of the seed, through evaluate ---

GENERAL_CASES = [
    (access_medium(("deployed", True), valid_from=NOW + DAY), "planned", "Planned"),
    (access_medium(("deployed", True), ("deployed", False)), "active", "Active"),
    (
        access_medium(("deployment_pending", True), ("deployed", False)),
        "door_update_pending",
        "Door update pending",
    ),
    (
        access_medium(("revocation_pending", False), revoked=True),
        "revocation_pending",
        "Revocation pending",
    ),
    (access_medium(("removed", False), revoked=True), "revoked", "Revoked"),
    (digital_key("none"), "deployment_pending", "Deployment pending"),
    (digital_key(), "deployed", "Deployed"),
    (digital_key(revoked=True), "revocation_pending", "Revocation pending"),
    (digital_key("removed", revoked=True, app_reloaded=True), "revoked", "Revoked"),
]


@pytest.mark.parametrize(("facts", "code", "label"), GENERAL_CASES)
def test_every_general_status_is_reachable(facts: KeyFacts, code: str, label: str) -> None:
    assert evaluate(facts, NOW).status == Status(code, label)


HOME_CASES = [
    (access_medium(("deployed", False)), "always", "Always", "active"),
    (digital_key(schedule=OFFICE_HOURS), "time_day", "Mon–Fri 07:00–19:00", "active"),
    (
        access_medium(("deployment_pending", True), ("deployed", False)),
        "updating_common_doors",
        "Updating common doors",
        "active",
    ),
    (
        access_medium(("revocation_pending", True), ("revocation_pending", False), revoked=True),
        "please_update_door",
        "Please update the door",
        "active",
    ),
    (
        digital_key(revoked=True),
        "deactivation_in_progress",
        "Deactivation in progress",
        "active",
    ),
    (digital_key(valid_until=NOW), "expired", "Expired", "inactive"),
    (digital_key("blocked", phone_blocked=True), "blocked", "Blocked", "inactive"),
]


@pytest.mark.parametrize(("facts", "code", "label", "category"), HOME_CASES)
def test_every_home_status_is_reachable(
    facts: KeyFacts, code: str, label: str, category: str
) -> None:
    assert evaluate(facts, NOW).home_status == HomeStatus(code, label, category)


@pytest.mark.parametrize(
    "facts",
    [
        digital_key("none"),  # not delivered
        digital_key("removed", revoked=True, app_reloaded=True),  # revocation complete
        access_medium(("removed", True), revoked=True),
        access_medium(("deployed", True), valid_from=NOW + 1),  # not moved in, nothing pending
        access_medium(("deployment_pending", False), valid_until=NOW),  # past its end
    ],
)
def test_keys_the_app_does_not_show_have_no_home_status(facts: KeyFacts) -> None:
    assert evaluate(facts, NOW).home_status is None


def test_home_precedence_blocked_then_expired_then_deactivation() -> None:
    key = digital_key("blocking_pending", phone_blocked=True, revoked=True, valid_until=NOW)
    assert evaluate(key, NOW).home_status == HomeStatus("blocked", "Blocked", "inactive")
    key = dataclasses.replace(key, phone_blocked=False)
    assert evaluate(key, NOW).home_status == HomeStatus("expired", "Expired", "inactive")
    key = dataclasses.replace(key, valid_until=NOW + 1)
    assert evaluate(key, NOW).home_status.code == "deactivation_in_progress"  # type: ignore[union-attr]


def test_manual_door_wins_over_automated_ones() -> None:
    key = access_medium(("deployment_pending", True), ("deployment_pending", False))
    assert evaluate(key, NOW).home_status.code == "please_update_door"  # type: ignore[union-attr]
    # Changing the door's connectivity changes the mode of its pending work.
    key = access_medium(("deployment_pending", True), ("deployment_pending", True))
    assert evaluate(key, NOW).home_status.code == "updating_common_doors"  # type: ignore[union-attr]


def test_door_rows_follow_the_facts_order() -> None:
    key = access_medium(("deployment_pending", False), ("deployed", True), ("none", True))
    assert evaluate(key, NOW).doors == (
        DoorStatus("deployment_pending", "manual", "(manual) Deployment pending"),
        DoorStatus("deployed", None, "Deployed"),
        None,
    )


def test_clock_is_injected_move_in_and_expiry() -> None:
    key = access_medium(("deployed", True), valid_from=NOW, valid_until=NOW + DAY)
    assert evaluate(key, NOW - 1).status.code == "planned"
    assert evaluate(key, NOW).status.code == "active"
    assert evaluate(key, NOW + DAY - 1).home_status is not None
    assert evaluate(key, NOW + DAY).home_status is None
    dk = digital_key(valid_until=NOW + DAY)
    assert evaluate(dk, NOW + DAY).home_status.code == "expired"  # type: ignore[union-attr]


# --- bad facts ---


@pytest.mark.parametrize(
    ("facts", "now", "field"),
    [
        (dataclasses.replace(digital_key(), key_type="card"), NOW, "key_type"),
        (access_medium(("deployed", True), ("installed", True)), NOW, "doors[1].state"),
        (access_medium(("deployed", True), ("blocked", True)), NOW, "doors[1].state"),
        (digital_key("deployment_pending"), NOW, "doors[0].state"),
        (access_medium(valid_until=NOW - DAY), NOW, "valid_until"),
        (access_medium(valid_until=NOW - DAY - 1), NOW, "valid_until"),
        (access_medium(revoked="yes"), NOW, "revoked"),
        (access_medium(valid_from="2024-01-01"), NOW, "valid_from"),
        (access_medium(valid_from=2**70), NOW, "valid_from"),
        (access_medium(doors=5), NOW, "doors"),
        (access_medium(doors=(DoorFacts("deployed", 1),)), NOW, "doors[0].online"),  # type: ignore[arg-type]
        (access_medium(("deployed", True)), "now", "now"),
    ],
)
def test_bad_facts_raise_key_data_errors_naming_the_field(
    facts: KeyFacts, now: Any, field: str
) -> None:
    with pytest.raises(InvalidKeyData) as caught:
        evaluate(facts, now)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert type(caught.value) is InvalidKeyData


def test_facts_of_the_wrong_shape_are_key_data_errors() -> None:
    with pytest.raises(InvalidKeyData) as caught:
        evaluate({"key_type": "digital_key"}, NOW)  # type: ignore[arg-type]
    assert caught.value.field == "key_type"


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (Schedule("Mars/Olympus_Mons", OFFICE_HOURS.windows), "schedule.time_zone"),
        (Schedule("europe/zurich", OFFICE_HOURS.windows), "schedule.time_zone"),
        (Schedule("Europe/Zurich", ()), "schedule.windows"),
        (Schedule("UTC", (Window(frozenset(), 0, 60),)), "schedule.windows[0].days"),
        (Schedule("UTC", (Window(frozenset({"monday"}), 0, 60),)), "schedule.windows[0].days"),
        (
            Schedule("UTC", (Window(WORKDAYS, 0, 60), Window(WORKDAYS, 600, 600))),
            "schedule.windows[1].end",
        ),
        (Schedule("UTC", (Window(WORKDAYS, -1, 60),)), "schedule.windows[0].start"),
        (Schedule("UTC", (Window(WORKDAYS, 0, 1441),)), "schedule.windows[0].end"),
    ],
)
def test_bad_schedules_raise_invalid_schedule(schedule: Schedule, field: str) -> None:
    for call in (
        lambda: evaluate(digital_key(schedule=schedule), NOW),
        lambda: is_usable_at(digital_key(schedule=schedule), NOW),
        schedule.label,
        schedule.to_json,
    ):
        with pytest.raises(InvalidSchedule) as caught:
            call()
        assert caught.value.field == field
        # A bad schedule is bad key data too.
        assert isinstance(caught.value, InvalidKeyData)


# --- schedules ---


def test_schedule_json_round_trip_and_label() -> None:
    obj = {
        "time_zone": "Europe/Zurich",
        "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"},
            {"days": ["sat"], "start": "09:00", "end": "12:00"},
            {"days": ["sun", "sat"], "start": "22:00", "end": "24:00"},
        ],
    }
    schedule = Schedule.from_json(obj)
    assert schedule.windows[0] == Window(WORKDAYS, 420, 1140)
    assert schedule.windows[2] == Window(frozenset({"sat", "sun"}), 1320, 1440)
    assert schedule.label() == "Mon–Fri 07:00–19:00, Sat 09:00–12:00, Sat, Sun 22:00–24:00"
    back = schedule.to_json()
    assert back["windows"][2]["days"] == ["sat", "sun"]  # Monday-first
    assert Schedule.from_json(json.loads(json.dumps(back))) == schedule
    obj["windows"][2]["days"] = ["sat", "sun"]
    assert back == obj


def test_daily_label() -> None:
    every_day = frozenset(st.WEEKDAYS)
    assert Schedule("UTC", (Window(every_day, 0, 1440),)).label() == "Daily 00:00–24:00"
    odd = frozenset({"mon", "wed", "fri", "sat", "sun"})
    assert Schedule("UTC", (Window(odd, 5, 65),)).label() == "Mon, Wed, Fri–Sun 00:05–01:05"


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ("Mon–Fri", "schedule"),
        ({"windows": []}, "schedule.time_zone"),
        ({"time_zone": 1, "windows": []}, "schedule.time_zone"),
        ({"time_zone": "UTC"}, "schedule.windows"),
        ({"time_zone": "UTC", "windows": "all"}, "schedule.windows"),
        ({"time_zone": "UTC", "windows": []}, "schedule.windows"),
        ({"time_zone": "UTC", "windows": [7]}, "schedule.windows[0]"),
        (
            {"time_zone": "UTC", "windows": [{"days": "mon", "start": "07:00", "end": "08:00"}]},
            "schedule.windows[0].days",
        ),
        (
            {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "7:00", "end": "08:00"}]},
            "schedule.windows[0].start",
        ),
        (
            {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "07:00", "end": "24:30"}]},
            "schedule.windows[0].end",
        ),
        (
            {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": "09:00", "end": "08:00"}]},
            "schedule.windows[0].end",
        ),
        (
            {"time_zone": "UTC", "windows": [{"days": ["mon"], "start": 420, "end": "08:00"}]},
            "schedule.windows[0].start",
        ),
        (
            {
                "time_zone": "Nowhere/Town",
                "windows": [{"days": ["mon"], "start": "07:00", "end": "08:00"}],
            },
            "schedule.time_zone",
        ),
    ],
)
def test_bad_schedule_json_raises_invalid_schedule(obj: Any, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        Schedule.from_json(obj)
    assert caught.value.field == field


# --- usability ---


def test_usable_follows_status_validity_block_and_schedule() -> None:
    wednesday_0630z = 1_704_868_200  # 2024-01-10 07:30 in Zurich (CET)
    key = digital_key(valid_from=wednesday_0630z - DAY, schedule=OFFICE_HOURS)
    assert is_usable_at(key, wednesday_0630z)
    assert not is_usable_at(key, wednesday_0630z - 3600)  # 06:30 local
    assert not is_usable_at(key, wednesday_0630z + 3 * DAY)  # Saturday
    assert not is_usable_at(dataclasses.replace(key, phone_blocked=True), wednesday_0630z)
    assert not is_usable_at(dataclasses.replace(key, revoked=True), wednesday_0630z)
    t = wednesday_0630z
    assert not is_usable_at(dataclasses.replace(key, valid_until=t), t)
    assert not is_usable_at(dataclasses.replace(key, valid_from=t + 1), t)
    card = access_medium(("deployed", True), ("deployment_pending", False))
    assert not is_usable_at(card, NOW)  # a door still waits for the card
    assert is_usable_at(access_medium(("deployed", True)), NOW)


def test_usable_honours_daylight_saving_in_zurich() -> None:
    # 2024-03-31: at 01:00Z Zurich jumps from 02:00 CET to 03:00 CEST.
    spring = 1_711_846_800
    early = frozenset({"sun"})
    key = digital_key(
        valid_from=spring - DAY,
        schedule=Schedule("Europe/Zurich", (Window(early, 60, 120), Window(early, 180, 240))),
    )
    assert is_usable_at(key, spring - 1)  # 01:59:59 CET
    assert is_usable_at(key, spring)  # 03:00:00 CEST
    never = digital_key(
        valid_from=spring - DAY,
        schedule=Schedule("Europe/Zurich", (Window(early, 120, 180),)),
    )
    assert not any(is_usable_at(never, t) for t in range(spring - 7200, spring + 7200, 300))


def test_usable_rejects_instants_without_a_local_time() -> None:
    key = digital_key(schedule=OFFICE_HOURS, valid_from=0)
    with pytest.raises(InvalidKeyData) as caught:
        is_usable_at(key, 2**62)
    assert caught.value.field == "instant"


# --- bulk ---


def bulk_batch() -> tuple[list[KeyFacts], dict[str, list[int]]]:
    """Facts of a small mixed batch and their columns."""
    keys = [fact for fact, _, _ in GENERAL_CASES] + [fact for fact, *_ in HOME_CASES]
    keys.append(access_medium())  # no doors
    cols: dict[str, list[int]] = {
        "key_types": [],
        "flags": [],
        "valid_from": [],
        "valid_until": [],
        "door_offsets": [0],
        "door_states": [],
    }
    for key in keys:
        cols["key_types"].append(st.KEY_TYPES.index(key.key_type))
        cols["flags"].append(
            (st.FLAG_REVOKED if key.revoked else 0)
            | (st.FLAG_PHONE_BLOCKED if key.phone_blocked else 0)
            | (st.FLAG_DELIVERED if key.delivered else 0)
            | (st.FLAG_APP_RELOADED if key.app_reloaded else 0)
            | (st.FLAG_HAS_SCHEDULE if key.schedule is not None else 0)
        )
        cols["valid_from"].append(key.valid_from)
        cols["valid_until"].append(st.NO_END if key.valid_until is None else key.valid_until)
        for door in key.doors:
            code = st.DOOR_STATES.index(door.state)
            cols["door_states"].append(code | (st.DOOR_ONLINE if door.online else 0))
        cols["door_offsets"].append(len(cols["door_states"]))
    return keys, cols


TYPECODES = {
    "key_types": "B",
    "flags": "B",
    "valid_from": "q",
    "valid_until": "q",
    "door_offsets": "I",
    "door_states": "B",
}
DTYPES = {"B": np.uint8, "q": np.int64, "I": np.uint32}


def as_arrays(cols: dict[str, list[int]]) -> dict[str, array.array[int]]:
    return {name: array.array(TYPECODES[name], values) for name, values in cols.items()}


@pytest.mark.parametrize("kind", ["array", "bytes", "numpy"])
@pytest.mark.parametrize("threads", [None, 1, 2])
def test_bulk_matches_per_key_evaluation(kind: str, threads: int | None) -> None:
    keys, cols = bulk_batch()
    arrays = as_arrays(cols)
    if kind == "bytes":
        columns: dict[str, Any] = {name: a.tobytes() for name, a in arrays.items()}
    elif kind == "numpy":
        columns = {n: np.array(v, dtype=DTYPES[TYPECODES[n]]) for n, v in cols.items()}
    else:
        columns = dict(arrays)
    result = evaluate_bulk(**columns, now=NOW, threads=threads)
    assert len(result.status) == len(keys)
    for i, key in enumerate(keys):
        single = evaluate(key, NOW)
        assert st.GENERAL_STATUSES[result.status[i]] == single.status.code
        home = result.home_status[i]
        expected = single.home_status.code if single.home_status else None
        assert (None if home == st.NO_HOME_STATUS else st.HOME_STATUSES[home]) == expected
    assert list(result.status_counts) == list(st.GENERAL_STATUSES)
    assert list(result.home_status_counts) == [*st.HOME_STATUSES, "none"]
    assert sum(result.status_counts.values()) == len(keys)
    assert sum(result.home_status_counts.values()) == len(keys)
    assert result.status_counts["active"] == sum(1 for code in result.status if code == 1)
    assert result.home_status_counts["none"] == result.home_status.count(255)


def test_bulk_reads_strided_and_unaligned_buffers() -> None:
    _, cols = bulk_batch()
    arrays = as_arrays(cols)
    expected = evaluate_bulk(**arrays, now=NOW)
    # Every other element of a twice-as-long array: not contiguous, copied.
    doubled = np.repeat(np.array(cols["valid_from"], dtype=np.int64), 2)[::2]
    assert not doubled.flags.c_contiguous
    # Raw bytes at an odd address: not aligned for i64, copied.
    raw = bytearray(b"\0" + arrays["valid_until"].tobytes())
    unaligned = memoryview(raw)[1:]
    result = evaluate_bulk(
        **{**arrays, "valid_from": doubled, "valid_until": unaligned}, now=NOW, threads=1
    )
    assert result == expected


def test_empty_batch() -> None:
    result = evaluate_bulk(b"", b"", b"", b"", array.array("I", [0]), b"", NOW)
    assert result.status == b""
    assert set(result.status_counts.values()) == {0}
    assert result.home_status_counts["none"] == 0


def broken(change: dict[str, Any]) -> dict[str, Any]:
    _, cols = bulk_batch()
    arrays: dict[str, Any] = as_arrays(cols)
    for name, value in change.items():
        if callable(value):
            value(arrays[name])
        else:
            arrays[name] = value
    return arrays


def _set(index: int, value: int) -> Any:
    def apply(a: array.array[int]) -> None:
        a[index] = value

    return apply


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"flags": b"\0"}, "flags", "entries"),
        ({"valid_from": array.array("q", [0])}, "valid_from", "entries"),
        ({"door_offsets": array.array("I", [0])}, "door_offsets", "expected"),
        ({"door_offsets": _set(0, 1)}, "door_offsets", "start at 0"),
        ({"door_offsets": _set(3, 0)}, "door_offsets", "key 2"),
        ({"key_types": _set(4, 2)}, "key_types", "key 4"),
        ({"flags": _set(1, 0x40)}, "flags", "key 1"),
        ({"valid_until": _set(5, NOW - 10 * DAY)}, "valid_until", "key 5"),
        ({"door_states": _set(0, 9)}, "door_states", "door 0"),
        ({"door_states": _set(0, 0x86)}, "door_states", "blocked"),
        ({"valid_from": array.array("i", range(17))}, "valid_from", "format"),
        ({"door_offsets": np.arange(18, dtype=np.int64)}, "door_offsets", "format"),
        ({"valid_until": b"\0" * 13}, "valid_until", "whole number"),
        ({"key_types": [0, 1]}, "key_types", "buffer"),
        ({"key_types": "abc"}, "key_types", "buffer"),
        ({"valid_from": np.zeros(17, dtype=">i8")}, "valid_from", "format"),
    ],
)
def test_bad_bulk_input_raises_naming_the_column(
    change: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(InvalidBulkInput) as caught:
        evaluate_bulk(**broken(change), now=NOW)
    assert caught.value.field == field
    assert text in str(caught.value)


@pytest.mark.parametrize(
    ("now", "threads", "field"),
    [(NOW, 0, "threads"), (NOW, -1, "threads"), (NOW, 10_000, "threads"), (2**64, None, "now")],
)
def test_bad_bulk_options(now: int, threads: int | None, field: str) -> None:
    _, cols = bulk_batch()
    with pytest.raises(InvalidBulkInput) as caught:
        evaluate_bulk(**as_arrays(cols), now=now, threads=threads)
    assert caught.value.field == field


# --- the benchmark still runs (timings are not checked here) ---


def test_bulk_benchmark_runs_on_a_tiny_batch(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "bulk_status.json"
    script = root / "bench" / "bulk_status.py"
    done = subprocess.run(
        [sys.executable, str(script), "--keys", "2000", "--runs", "1", "--output", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["keys"] == 2000
    assert result["pairs"] == 2000 * result["doors_per_key"]
    assert result["rust"]["threads_1"]["pairs_per_second"] > 0
    assert result["oracle"]["keys_timed"] == 2000
    assert result["agree_with_oracle"] is True
    # The numpy baseline is the bar; it must compute what the core computes.
    assert set(result["batches"]) == {"5_doors", "1_to_20_doors"}
    for batch in result["batches"].values():
        assert batch["numpy_equals_core"] is True
        assert batch["pairs_per_second"]["numpy"] > 0
        assert batch["ratios"]["rust_1_thread_vs_numpy"] > 0
    assert all(result["baseline_checks"].values()), result["baseline_checks"]
