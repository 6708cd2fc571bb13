"""Modifying a key in place, walked through the seed's tables with the services only
(``docs/status-rules.md``, "Modifying a key"): add an offline door, remove an online door,
change the schedule of a card and of a digital key; and the refusals, which change nothing."""

from __future__ import annotations

import json

import pytest
from moto_state import scan_all
from service_world import PHONE, SITE, T0, World

from keyworker.errors import (
    DoorNotFound,
    IdempotencyConflict,
    InvalidInput,
    InvalidSchedule,
    KeyRevoked,
)

SATURDAY = {
    "time_zone": "Europe/Zurich",
    "windows": [{"days": ["sat"], "start": "09:00", "end": "10:00"}],
}
WORKDAYS = {
    "time_zone": "Europe/Zurich",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}],
}


@pytest.fixture
def site(world: World) -> World:
    world.door("entrance", kind="common", connectivity="online")
    world.door("garage", kind="common", connectivity="online")
    world.door("flat-1", kind="unit", connectivity="offline")
    world.door("cellar", kind="unit", connectivity="offline")
    return world


def _statuses(world: World, key_id: str) -> tuple[str, str | None]:
    key = world.key(key_id)
    home = key["home_status"]
    return key["status"]["label"], None if home is None else home["label"]


def _active_card(site: World, doors: list[str]) -> str:
    key_id = site.access_medium(doors)
    for door_id in doors:
        site.sync(door_id)
    assert _statuses(site, key_id) == ("Active", "Always")
    return key_id


def test_adding_an_offline_door_to_a_card(site: World) -> None:
    key_id = _active_card(site, ["entrance"])
    view = site.services.keys.modify(SITE, key_id, actor="pm", door_ids=["entrance", "flat-1"])
    assert view.record.door_ids == ("entrance", "flat-1")
    # The added door must be updated by hand: the seed's "Door must be updated" and the
    # app's "Please update the door"; the untouched door stays Deployed.
    assert site.door_labels(key_id) == {
        "entrance": "Deployed",
        "flat-1": "(manual) Deployment pending",
    }
    assert _statuses(site, key_id) == ("Door update pending", "Please update the door")
    [visit] = site.services.doors.worklist(SITE)
    assert visit.door.door_id == "flat-1"
    # The technician applies the update: the card is at the flat's door now.
    update = site.services.doors.door_update(SITE, "flat-1")
    assert [e["op"] for e in json.loads(update.payload)["entries"]] == ["add_credential"]
    site.sync("flat-1")
    assert _statuses(site, key_id) == ("Active", "Always")
    actions = [e.action for e in site.services.queries.history(SITE, key_id)]
    assert actions == ["created", "door_confirmed", "modified", "door_confirmed"]


def test_removing_an_online_door_from_a_card(site: World) -> None:
    key_id = _active_card(site, ["entrance", "garage"])
    before_requests = len(site.door_gateway.requests)
    site.services.keys.modify(SITE, key_id, actor="pm", door_ids=["entrance"])
    # Removed, not revoked: the garage must drop the card (automated), the key is not being
    # revoked as a whole.
    assert site.door_labels(key_id) == {
        "entrance": "Deployed",
        "garage": "(automated) Revocation pending",
    }
    assert _statuses(site, key_id) == ("Door update pending", "Updating common doors")
    assert site.door_gateway.requests[before_requests:] == [(SITE, "garage", 2)]
    update = site.services.doors.door_update(SITE, "garage")
    assert [e["op"] for e in json.loads(update.payload)["entries"]] == ["remove_credential"]
    site.sync("garage")
    # Once the garage confirmed, the door leaves the key.
    key = site.key(key_id)
    assert key["door_ids"] == ["entrance"]
    assert _statuses(site, key_id) == ("Active", "Always")


def test_changing_a_cards_schedule_redeploys_it_at_every_door(site: World) -> None:
    key_id = _active_card(site, ["entrance", "flat-1"])
    site.services.keys.modify(SITE, key_id, actor="pm", schedule=SATURDAY)
    assert site.door_labels(key_id) == {
        "entrance": "(automated) Deployment pending",
        "flat-1": "(manual) Deployment pending",
    }
    assert _statuses(site, key_id) == ("Door update pending", "Please update the door")
    site.sync("entrance")
    site.sync("flat-1")
    assert _statuses(site, key_id) == ("Active", "Sat 09:00–10:00")


def test_changing_a_digital_keys_schedule_resigns_and_redelivers_it(site: World) -> None:
    key_id = site.digital_key(["entrance"])
    site.services.keys.key_delivered(SITE, key_id, actor="cloud")
    assert _statuses(site, key_id) == ("Deployed", "Always")
    delivered = len(site.mobile.delivered)
    site.services.keys.modify(SITE, key_id, actor="pm", schedule=WORKDAYS, door_ids=["garage"])
    # The new credential is on its way: the seed's "Deployment pending"; no door work (doors
    # verify the signed credential); handed to the mobile-access cloud again.
    key = site.key(key_id)
    assert key["status"]["label"] == "Deployment pending"
    assert key["door_ids"] == ["garage"]
    assert len(site.mobile.delivered) == delivered + 1
    assert site.signer.signed[-1] == key_id
    assert site.services.doors.worklist(SITE) == []
    site.services.keys.key_delivered(SITE, key_id, actor="cloud")
    assert _statuses(site, key_id) == ("Deployed", "Mon–Fri 07:00–19:00")
    assert site.door_labels(key_id) == {"garage": "Deployed"}


def test_a_dry_run_plans_without_writing(site: World) -> None:
    key_id = _active_card(site, ["entrance", "garage"])
    before = scan_all(site.client)
    plan = site.services.keys.plan_modification(
        SITE, key_id, door_ids=["entrance", "flat-1"], schedule=SATURDAY
    )
    assert scan_all(site.client) == before
    by_door = {d.door_id: d for d in plan.doors}
    assert (by_door["entrance"].action, by_door["entrance"].needs_technician) == ("update", False)
    assert by_door["garage"].action == "revoke"
    assert (by_door["flat-1"].action, by_door["flat-1"].needs_technician) == ("deploy", True)
    assert not plan.redelivery


def test_the_same_modification_twice_changes_nothing_the_second_time(site: World) -> None:
    key_id = _active_card(site, ["entrance"])
    site.services.keys.modify(SITE, key_id, actor="pm", door_ids=["entrance", "flat-1"])
    before = scan_all(site.client)
    site.services.keys.modify(SITE, key_id, actor="pm", door_ids=["entrance", "flat-1"])
    assert scan_all(site.client) == before


def test_an_idempotency_key_replays_the_modification_it_named(site: World) -> None:
    key_id = _active_card(site, ["entrance"])
    site.services.keys.modify(
        SITE, key_id, actor="pm", door_ids=["entrance", "flat-1"], request_id="move-1"
    )
    # A later change, then the first request retried: it is not applied again.
    site.services.keys.modify(SITE, key_id, actor="pm", door_ids=["entrance"])
    before = scan_all(site.client)
    site.services.keys.modify(
        SITE, key_id, actor="pm", door_ids=["entrance", "flat-1"], request_id="move-1"
    )
    assert scan_all(site.client) == before
    with pytest.raises(IdempotencyConflict):
        site.services.keys.modify(
            SITE, key_id, actor="pm", door_ids=["garage"], request_id="move-1"
        )


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"door_ids": []}, InvalidInput, "door_ids"),
        ({"door_ids": ["nowhere"]}, DoorNotFound, "door_ids"),
        ({"door_ids": ["entrance", "entrance"]}, InvalidInput, "door_ids"),
        ({"valid_until": T0 - 10}, InvalidInput, "valid_until"),
        ({"schedule": {"time_zone": "Mars/Olympus", "windows": []}}, InvalidSchedule, None),
    ],
)
def test_bad_modifications_change_nothing(
    site: World, change: dict[str, object], error: type[Exception], field: str | None
) -> None:
    key_id = _active_card(site, ["entrance"])
    before = scan_all(site.client)
    with pytest.raises(error) as raised:
        site.services.keys.modify(SITE, key_id, actor="pm", **change)  # type: ignore[arg-type]
    if field is not None:
        assert getattr(raised.value, "field", None) == field
    assert scan_all(site.client) == before


def test_an_empty_door_set_is_refused_as_a_revocation(site: World) -> None:
    key_id = _active_card(site, ["entrance"])
    with pytest.raises(InvalidInput, match="revocation"):
        site.services.keys.modify(SITE, key_id, actor="pm", door_ids=[])


def test_a_revoked_key_cannot_be_modified(site: World) -> None:
    key_id = site.digital_key(["entrance"], phone=PHONE)
    site.services.keys.revoke(SITE, key_id, actor="pm")
    before = scan_all(site.client)
    with pytest.raises(KeyRevoked):
        site.services.keys.modify(SITE, key_id, actor="pm", door_ids=["garage"])
    assert scan_all(site.client) == before
