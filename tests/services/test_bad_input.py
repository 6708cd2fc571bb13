"""Bad input: a clear typed error naming the field, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from moto_state import scan_all
from service_world import PHONE, SITE, T0, World

from keyworker.errors import (
    DoorNotFound,
    IdempotencyConflict,
    IllegalTransition,
    InvalidInput,
    InvalidPhoneNumber,
    InvalidSchedule,
    KeyNotFound,
)


@pytest.fixture
def site(world: World) -> World:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat-1")
    world.services.doors.put_door(
        "site-2", "garage", name="Garage", kind="common", connectivity="online", actor="admin"
    )
    return world


def _create_am(world: World, **overrides: Any) -> Callable[[], object]:
    arguments: dict[str, Any] = {
        "holder_id": "h",
        "card_uid": "card",
        "door_ids": ["entrance"],
        "valid_from": T0,
        "actor": "admin",
    }
    arguments.update(overrides)
    return lambda: world.services.keys.create_access_medium(SITE, **arguments)


def _create_dk(world: World, **overrides: Any) -> Callable[[], object]:
    arguments: dict[str, Any] = {
        "holder_id": "h",
        "phone": PHONE,
        "door_ids": ["entrance"],
        "valid_from": T0,
        "actor": "admin",
    }
    arguments.update(overrides)
    return lambda: world.services.keys.create_digital_key(SITE, **arguments)


CASES: list[tuple[str, Callable[[World], Callable[[], object]], type[Exception], str]] = [
    ("unknown door", lambda w: _create_am(w, door_ids=["nope"]), DoorNotFound, "door_ids"),
    (
        "door of another site",
        lambda w: _create_dk(w, door_ids=["entrance", "garage"]),
        DoorNotFound,
        "door_ids",
    ),
    ("empty door list", lambda w: _create_am(w, door_ids=[]), InvalidInput, "door_ids"),
    (
        "duplicate doors",
        lambda w: _create_am(w, door_ids=["entrance", "flat-1", "entrance"]),
        InvalidInput,
        "door_ids",
    ),
    ("door list as text", lambda w: _create_am(w, door_ids="entrance"), InvalidInput, "door_ids"),
    (
        "valid_until not after valid_from",
        lambda w: _create_am(w, valid_until=T0),
        InvalidInput,
        "valid_until",
    ),
    (
        "valid_until before valid_from",
        lambda w: _create_dk(w, valid_until=T0 - 1),
        InvalidInput,
        "valid_until",
    ),
    (
        "valid_from not an instant",
        lambda w: _create_am(w, valid_from="soon"),
        InvalidInput,
        "valid_from",
    ),
    ("unparseable phone", lambda w: _create_dk(w, phone="call me"), InvalidPhoneNumber, "phone"),
    ("invalid phone", lambda w: _create_dk(w, phone="+41 12"), InvalidPhoneNumber, "phone"),
    (
        "schedule out of range",
        lambda w: _create_am(
            w,
            schedule={
                "time_zone": "Europe/Zurich",
                "windows": [{"days": ["mon"], "start": "19:00", "end": "07:00"}],
            },
        ),
        InvalidSchedule,
        "schedule",
    ),
    (
        "schedule with an unknown weekday",
        lambda w: _create_dk(
            w,
            schedule={
                "time_zone": "Europe/Zurich",
                "windows": [{"days": ["someday"], "start": "07:00", "end": "09:00"}],
            },
        ),
        InvalidSchedule,
        "schedule",
    ),
    (
        "schedule in an unknown time zone",
        lambda w: _create_dk(
            w,
            schedule={
                "time_zone": "Mars/Olympus",
                "windows": [{"days": ["mon"], "start": "07:00", "end": "09:00"}],
            },
        ),
        InvalidSchedule,
        "schedule",
    ),
    ("id with a '#'", lambda w: _create_am(w, holder_id="a#b"), InvalidInput, "holder_id"),
    (
        "revoke a key that does not exist",
        lambda w: lambda: w.services.keys.revoke(SITE, "no-such-key", actor="admin"),
        KeyNotFound,
        "key_id",
    ),
    (
        "deliver a key that does not exist",
        lambda w: lambda: w.services.keys.key_delivered(SITE, "no-such-key", actor="cloud"),
        KeyNotFound,
        "key_id",
    ),
    (
        "read a key that does not exist",
        lambda w: lambda: w.services.queries.get_key(SITE, "no-such-key"),
        KeyNotFound,
        "key_id",
    ),
    (
        "history of a key that does not exist",
        lambda w: lambda: w.services.queries.history(SITE, "no-such-key"),
        KeyNotFound,
        "key_id",
    ),
    (
        "sync an unknown door",
        lambda w: lambda: w.services.doors.door_synced(SITE, "nope", 1, actor="door"),
        DoorNotFound,
        "door_id",
    ),
    (
        "sync a version the door never had",
        lambda w: lambda: w.services.doors.door_synced(SITE, "flat-1", 5, actor="door"),
        InvalidInput,
        "version",
    ),
    (
        "sync a negative version",
        lambda w: lambda: w.services.doors.door_synced(SITE, "flat-1", -1, actor="door"),
        InvalidInput,
        "version",
    ),
    (
        "door with an unknown kind",
        lambda w: (
            lambda: w.services.doors.put_door(
                SITE, "x", name="X", kind="shed", connectivity="online", actor="a"
            )
        ),
        InvalidInput,
        "kind",
    ),
    (
        "door with an unknown connectivity",
        lambda w: (
            lambda: w.services.doors.put_door(
                SITE, "x", name="X", kind="unit", connectivity="wifi", actor="a"
            )
        ),
        InvalidInput,
        "connectivity",
    ),
    (
        "block an unparseable phone",
        lambda w: lambda: w.services.phones.block(SITE, "nope", actor="admin"),
        InvalidPhoneNumber,
        "phone",
    ),
    (
        "list by an unknown status",
        lambda w: lambda: w.services.queries.list_keys(SITE, status="lost"),
        InvalidInput,
        "status",
    ),
    (
        "list with a forged cursor",
        lambda w: lambda: w.services.queries.list_keys(SITE, cursor="bm90LWEtY3Vyc29y"),
        InvalidInput,
        "cursor",
    ),
]


@pytest.mark.parametrize(
    ("make_call", "error", "field"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    site: World,
    make_call: Callable[[World], Callable[[], object]],
    error: type[Exception],
    field: str,
) -> None:
    before = scan_all(site.client)
    with pytest.raises(error) as caught:
        make_call(site)()
    named = getattr(caught.value, "field", None)
    # The core may name the part of a schedule precisely (e.g. "schedule.windows[0].end").
    assert (
        named == field or str(named).startswith(f"{field}.") or str(named).startswith(f"{field}[")
    )
    assert scan_all(site.client) == before
    assert site.mobile.delivered == []


def test_an_illegal_transition_is_refused_and_writes_nothing(site: World) -> None:
    key_id = site.access_medium(["entrance"])
    before = scan_all(site.client)
    with pytest.raises(IllegalTransition):
        site.services.keys.key_delivered(SITE, key_id, actor="mobile-access")
    assert scan_all(site.client) == before


def test_a_reused_request_id_for_another_request_is_a_conflict(site: World) -> None:
    site.access_medium(["entrance"], request_id="req-1")
    before = scan_all(site.client)
    with pytest.raises(IdempotencyConflict):
        site.access_medium(["entrance", "flat-1"], request_id="req-1")
    assert scan_all(site.client) == before
