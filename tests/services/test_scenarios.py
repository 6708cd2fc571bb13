"""Scenario tests: an access medium and a digital key walked through every status of the
seed's three tables, using only the services (moto, the table from the template)."""

from __future__ import annotations

import json

from service_world import DAY, HOUR, PHONE, SITE, T0, World

WEEKDAYS = {
    "time_zone": "Europe/Zurich",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}],
}


def _status(world: World, key_id: str) -> tuple[str, str | None]:
    key = world.key(key_id)
    home = key["home_status"]
    return key["status"]["label"], None if home is None else home["label"]


def _listed(world: World, status: str, key_type: str) -> set[str]:
    page = world.services.queries.list_keys(SITE, status=status, key_type=key_type)
    return {view.record.key_id for view in page.items}


def test_access_medium_walks_through_every_status(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat-12", kind="unit", connectivity="offline")
    move_in = T0 + 2 * DAY
    key_id = world.access_medium(["entrance", "flat-12"], valid_from=move_in)

    # Created before move-in: Planned; each door must be updated, by mode of its connectivity.
    assert _status(world, key_id) == ("Planned", "Please update the door")
    assert world.door_labels(key_id) == {
        "entrance": "(automated) Deployment pending",
        "flat-12": "(manual) Deployment pending",
    }
    assert key_id in _listed(world, "planned", "access_medium")
    # The online door was asked to sync; the offline one is on the technician's worklist.
    assert ("site-1", "entrance", 1) in world.door_gateway.requests
    [visit] = world.services.doors.worklist(SITE)
    assert (visit.door.door_id, visit.pending_changes) == ("flat-12", 1)

    # The online door applies its update.
    update = world.services.doors.door_update(SITE, "entrance")
    assert json.loads(update.payload)["entries"][0]["op"] == "add_credential"
    world.sync("entrance", update.version)
    assert world.door_labels(key_id)["entrance"] == "Deployed"

    # Move-in passes: the time service refreshes the index copy.
    world.clock.set(move_in + HOUR)
    assert world.services.time.process_due() == [key_id]
    assert _status(world, key_id) == ("Door update pending", "Please update the door")
    assert key_id in _listed(world, "door_update_pending", "access_medium")
    assert key_id not in _listed(world, "planned", "access_medium")

    # The flat's door gets an Internet connection: its pending work becomes automated.
    world.services.doors.put_door(
        SITE, "flat-12", name="Flat 12", kind="unit", connectivity="online", actor="admin"
    )
    assert world.door_labels(key_id)["flat-12"] == "(automated) Deployment pending"
    assert _status(world, key_id) == ("Door update pending", "Updating common doors")
    world.sync("flat-12")
    assert _status(world, key_id) == ("Active", "Always")
    assert world.door_labels(key_id) == {"entrance": "Deployed", "flat-12": "Deployed"}
    assert key_id in _listed(world, "active", "access_medium")

    # The flat goes offline again, then the medium is revoked.
    world.services.doors.put_door(
        SITE, "flat-12", name="Flat 12", kind="unit", connectivity="offline", actor="admin"
    )
    world.services.keys.revoke(SITE, key_id, actor="admin", reason="tenant moved out")
    assert _status(world, key_id) == ("Revocation pending", "Please update the door")
    assert world.door_labels(key_id) == {
        "entrance": "(automated) Revocation pending",
        "flat-12": "(manual) Revocation pending",
    }
    world.sync("entrance")
    assert world.door_labels(key_id)["entrance"] is None  # removed: history only
    assert _status(world, key_id) == ("Revocation pending", "Please update the door")

    # The technician fetches the flat's update, applies it and reports the version.
    update = world.services.doors.door_update(SITE, "flat-12")
    entries = json.loads(update.payload)["entries"]
    assert [e["op"] for e in entries] == ["remove_credential"]
    world.sync("flat-12", update.version)
    assert _status(world, key_id) == ("Revoked", None)
    assert world.services.doors.worklist(SITE) == []
    assert key_id in _listed(world, "revoked", "access_medium")

    history = world.services.queries.history(SITE, key_id)
    assert [e.action for e in history] == [
        "created",
        "door_confirmed",
        "time_passed",
        "door_mode_changed",
        "door_confirmed",
        # (going offline again changed nothing visible: nothing was pending there)
        "revoked",
        "door_confirmed",
        "door_confirmed",
    ]
    assert [e.seq for e in history] == list(range(1, 9))
    assert history[-1].after.status == "revoked"
    assert history[-1].before is not None
    assert history[-1].before.status == "revocation_pending"
    assert history[-1].actor == "door:flat-12"
    assert history[5].reason == "tenant moved out"


def test_access_medium_with_a_schedule_shows_its_time_day_label(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    key_id = world.access_medium(["entrance"], schedule=WEEKDAYS)
    assert _status(world, key_id) == ("Door update pending", "Updating common doors")
    world.sync("entrance")
    assert _status(world, key_id) == ("Active", "Mon–Fri 07:00–19:00")


def test_digital_key_walks_through_every_status(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat-12", kind="unit", connectivity="offline")
    key_id = world.digital_key(["entrance", "flat-12"], valid_until=T0 + 30 * DAY)

    # Created: handed to the mobile-access cloud; not at any door yet, the app shows nothing.
    assert _status(world, key_id) == ("Deployment pending", None)
    assert world.door_labels(key_id) == {"entrance": None, "flat-12": None}
    assert [d[1] for d in world.mobile.delivered] == [key_id]
    assert key_id in _listed(world, "deployment_pending", "digital_key")

    world.services.keys.key_delivered(SITE, key_id, actor="mobile-access")
    assert _status(world, key_id) == ("Deployed", "Always")
    assert world.door_labels(key_id) == {"entrance": "Deployed", "flat-12": "Deployed"}

    # Block the phone: blocklist work at every door of the key.
    world.services.phones.block(SITE, PHONE, actor="admin")
    assert _status(world, key_id) == ("Deployed", "Blocked")
    assert world.door_labels(key_id) == {
        "entrance": "(automated) Blocking pending",
        "flat-12": "(manual) Blocking pending",
    }
    world.sync("entrance")
    assert world.door_labels(key_id)["entrance"] == "Blocked"
    entries = json.loads(world.services.doors.door_update(SITE, "flat-12").payload)["entries"]
    assert [e["op"] for e in entries] == ["block_phone"]

    # Unblock while the flat's blocking is still pending: the latest intent wins.
    world.services.phones.unblock(SITE, PHONE, actor="admin")
    assert world.door_labels(key_id) == {
        "entrance": "(automated) Unblocking pending",
        "flat-12": "(manual) Unblocking pending",
    }
    entries = json.loads(world.services.doors.door_update(SITE, "flat-12").payload)["entries"]
    assert [e["op"] for e in entries] == ["unblock_phone"]
    world.sync("entrance")
    world.sync("flat-12")
    assert world.door_labels(key_id) == {"entrance": "Deployed", "flat-12": "Deployed"}
    assert _status(world, key_id) == ("Deployed", "Always")

    # Revoked: the app must reload its key list to complete the deactivation.
    world.services.keys.revoke(SITE, key_id, actor="admin")
    assert _status(world, key_id) == ("Revocation pending", "Deactivation in progress")
    assert [r[1] for r in world.mobile.revoked] == [key_id]
    assert world.services.phones.app_reloaded(SITE, PHONE, actor="app") == (key_id,)
    assert _status(world, key_id) == ("Revoked", None)
    assert world.door_labels(key_id) == {"entrance": None, "flat-12": None}
    assert key_id in _listed(world, "revoked", "digital_key")


def test_digital_key_expires_and_has_a_time_day_label(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    key_id = world.digital_key(["entrance"], schedule=WEEKDAYS, valid_until=T0 + 7 * DAY)
    world.services.keys.key_delivered(SITE, key_id, actor="mobile-access")
    assert _status(world, key_id) == ("Deployed", "Mon–Fri 07:00–19:00")

    world.clock.set(T0 + 7 * DAY)
    assert _status(world, key_id) == ("Deployed", "Expired")
    assert world.services.time.process_due() == [key_id]
    stored = world.store.get_key(SITE, key_id)
    assert stored is not None
    assert stored.indexed is not None
    assert stored.indexed.home_status == "expired"
    assert stored.indexed.next_boundary_at is None
    assert world.services.time.process_due() == []
