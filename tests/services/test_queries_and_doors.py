"""Queries (keys by status and type, paginated), a door's pending work and its update, the
technician's worklist, and logs that never show a phone number."""

from __future__ import annotations

import json
import logging

import pytest
from service_world import HOUR, PHONE, PHONE_E164, SITE, T0, World

from keyworker.errors import InvalidInput
from keyworker.phones import mask


def test_keys_are_listed_by_status_and_type_page_by_page(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    media = {world.access_medium(["entrance"], card_uid=f"c{n}") for n in range(5)}
    digital = {world.digital_key(["entrance"]) for _ in range(2)}
    seen: list[str] = []
    cursor = None
    while True:
        page = world.services.queries.list_keys(
            SITE, status="door_update_pending", key_type="access_medium", cursor=cursor, limit=2
        )
        assert len(page.items) <= 2
        seen.extend(view.record.key_id for view in page.items)
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(media)
    every = world.services.queries.list_keys(SITE, limit=100)
    assert {view.record.key_id for view in every.items} == media | digital
    digital_only = world.services.queries.list_keys(SITE, key_type="digital_key")
    assert {view.record.key_id for view in digital_only.items} == digital
    assert world.services.queries.list_keys("site-2").items == ()


def test_a_cursor_of_another_site_is_refused(world: World) -> None:
    world.door("entrance")
    world.services.doors.put_door(
        "site-2", "entrance", name="E", kind="unit", connectivity="online", actor="a"
    )
    for _ in range(3):
        world.services.keys.create_access_medium(
            "site-2", holder_id="h", card_uid="c", door_ids=["entrance"], valid_from=0, actor="a"
        )
    page = world.services.queries.list_keys("site-2", limit=1)
    assert page.cursor is not None
    with pytest.raises(InvalidInput) as caught:
        world.services.queries.list_keys(SITE, cursor=page.cursor)
    assert caught.value.field == "cursor"


def test_pending_work_update_and_worklist_of_offline_doors(world: World) -> None:
    world.door("flat-1")
    world.door("flat-2")
    world.door("garage", kind="common", connectivity="online")
    first = world.access_medium(["flat-1", "garage"])
    world.clock.advance(2 * HOUR)
    second = world.access_medium(["flat-1", "flat-2"], card_uid="c2")
    world.clock.advance(HOUR)
    dk_one = world.digital_key(["flat-1"])
    dk_two = world.digital_key(["flat-1", "flat-2"])
    for key_id in (dk_one, dk_two):
        world.services.keys.key_delivered(SITE, key_id, actor="cloud")
    world.services.phones.block(SITE, PHONE, actor="admin")

    work = world.services.doors.pending_work(SITE, "flat-1")
    assert [change.version for change in work.changes] == [1, 2, 3]
    assert [change.action for change in work.changes] == ["deploy", "deploy", "block"]
    # One blocklist change per door carries every key of the phone at it.
    assert {ref.key_id for ref in work.changes[2].refs} == {dk_one, dk_two}

    update = world.services.doors.door_update(SITE, "flat-1")
    assert (update.confirmed_version, update.version) == (0, 3)
    decoded = json.loads(update.payload)
    assert [e["op"] for e in decoded["entries"]] == [
        "add_credential",
        "add_credential",
        "block_phone",
    ]
    assert {e["key_id"] for e in decoded["entries"][:2]} == {first, second}

    worklist = world.services.doors.worklist(SITE)
    # The online garage has not confirmed its change for three hours: unreachable (30 min
    # after its work began), so it is a technician's work too.
    assert [(e.door.door_id, e.pending_changes, e.oldest_pending_age) for e in worklist] == [
        ("flat-1", 3, 3 * HOUR),
        ("garage", 1, 3 * HOUR),
        ("flat-2", 2, HOUR),
    ]
    assert {e.door.door_id: e.unreachable_since for e in worklist} == {
        "flat-1": None,
        "garage": T0 + 30 * 60,
        "flat-2": None,
    }
    world.sync("flat-1", 1)
    worklist = world.services.doors.worklist(SITE)
    # The oldest unconfirmed change of flat-1 is now the second medium's, an hour old.
    assert [(e.door.door_id, e.pending_changes, e.oldest_pending_age) for e in worklist] == [
        ("garage", 1, 3 * HOUR),
        ("flat-1", 2, HOUR),
        ("flat-2", 2, HOUR),
    ]
    world.sync("flat-1")
    world.sync("garage")
    assert [e.door.door_id for e in world.services.doors.worklist(SITE)] == ["flat-2"]
    assert world.services.doors.pending_work(SITE, "flat-1").changes == ()


def test_logs_mask_phone_numbers(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.door("entrance")
    with caplog.at_level(logging.DEBUG, logger="keyworker"):
        key_id = world.digital_key(["entrance"])
        world.services.keys.key_delivered(SITE, key_id, actor="cloud")
        world.services.phones.block(SITE, PHONE, actor="admin")
    text = caplog.text
    assert mask(PHONE_E164) in text
    assert PHONE_E164 not in text
    assert "791234567" not in text
    # Items of the table are keyed by the keyed hash, never by the number.
    phone_items = [
        item
        for item in world.client.scan(TableName="keyworker-test-state")["Items"]
        if item["sk"]["S"].startswith("PHONE#")
    ]
    assert phone_items
    assert all(PHONE_E164 not in json.dumps(item) for item in phone_items)
