"""Who must act and since when (issue 14, contract C): a key walked through the seed's tables
shows the right ``waiting_for`` and ``pending_since`` on every row and on the key at each
step; a failed job's reason shows as ``last_error`` until the row moves on."""

from __future__ import annotations

from typing import Any

import pytest
from service_world import PHONE, SITE, T0, World

from keyworker.adapters.door_commands import sync_door
from keyworker.domain.models import DoorUpdate, iso
from keyworker.errors import DoorCommandsUnavailable, MobileAccessUnavailable

MINUTE = 60


def _rows(world: World, key_id: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    """door -> (label, waiting_for, pending_since) as the API shows them."""
    return {
        d["door_id"]: (
            None if d["status"] is None else d["status"]["label"],
            d["waiting_for"],
            d["pending_since"],
        )
        for d in world.key(key_id)["doors"]
    }


def _own(world: World, key_id: str) -> tuple[str, str | None, str | None]:
    key = world.key(key_id)
    return key["status"]["label"], key["waiting_for"], key["pending_since"]


def _doors(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat-12", kind="unit", connectivity="offline")


def test_an_access_medium_waits_for_the_door_then_a_technician(world: World) -> None:
    _doors(world)
    key_id = world.access_medium(["entrance", "flat-12"])
    t0 = iso(T0)
    assert _rows(world, key_id) == {
        "entrance": ("(automated) Deployment pending", "door", t0),
        "flat-12": ("(manual) Deployment pending", "technician", t0),
    }
    assert _own(world, key_id)[2] == t0

    # The online door confirms ten minutes later: only the technician is left.
    world.clock.advance(10 * MINUTE)
    world.sync("entrance")
    assert _rows(world, key_id) == {
        "entrance": ("Deployed", None, None),
        "flat-12": ("(manual) Deployment pending", "technician", t0),
    }
    assert _own(world, key_id) == ("Door update pending", "technician", t0)

    world.clock.advance(2 * 3600)
    world.sync("flat-12")
    assert _own(world, key_id) == ("Active", None, None)
    assert {w for _, w, _ in _rows(world, key_id).values()} == {None}

    # Revoked: both rows pending again, since the revocation.
    world.clock.advance(3600)
    revoked_at = iso(world.clock.now())
    world.services.keys.revoke(SITE, key_id, actor="admin")
    assert _rows(world, key_id) == {
        "entrance": ("(automated) Revocation pending", "door", revoked_at),
        "flat-12": ("(manual) Revocation pending", "technician", revoked_at),
    }
    assert _own(world, key_id)[0] == "Revocation pending"
    assert _own(world, key_id)[2] == revoked_at
    world.sync("entrance")
    assert _own(world, key_id) == ("Revocation pending", "technician", revoked_at)
    world.sync("flat-12")
    assert _own(world, key_id) == ("Revoked", None, None)


def test_a_digital_key_waits_for_the_cloud_the_doors_and_the_keyholders_app(
    world: World,
) -> None:
    _doors(world)
    key_id = world.digital_key(["entrance", "flat-12"])
    # Not delivered yet: the mobile-access cloud must act; the rows are not at any door.
    assert _own(world, key_id) == ("Deployment pending", "mobile_cloud", iso(T0))
    assert _rows(world, key_id) == {"entrance": (None, None, None), "flat-12": (None, None, None)}

    world.clock.advance(5 * MINUTE)
    world.services.keys.key_delivered(SITE, key_id, actor="cloud")
    assert _own(world, key_id) == ("Deployed", None, None)

    # The phone is blocked: each door must put it on its blocklist.
    world.clock.advance(MINUTE)
    blocked_at = iso(world.clock.now())
    world.services.phones.block(SITE, PHONE, actor="admin")
    assert _rows(world, key_id) == {
        "entrance": ("(automated) Blocking pending", "door", blocked_at),
        "flat-12": ("(manual) Blocking pending", "technician", blocked_at),
    }
    world.sync("entrance")
    world.sync("flat-12")
    assert _rows(world, key_id) == {
        "entrance": ("Blocked", None, None),
        "flat-12": ("Blocked", None, None),
    }

    world.clock.advance(MINUTE)
    unblocked_at = iso(world.clock.now())
    world.services.phones.unblock(SITE, PHONE, actor="admin")
    assert _rows(world, key_id)["flat-12"] == (
        "(manual) Unblocking pending",
        "technician",
        unblocked_at,
    )
    world.sync("entrance")
    world.sync("flat-12")
    assert _own(world, key_id) == ("Deployed", None, None)

    # Revoked: "until the keyholder opens the app".
    world.clock.advance(MINUTE)
    revoked_at = iso(world.clock.now())
    world.services.keys.revoke(SITE, key_id, actor="admin")
    assert _own(world, key_id) == ("Revocation pending", "keyholder_app", revoked_at)
    world.services.phones.app_reloaded(SITE, PHONE, actor="app")
    assert _own(world, key_id) == ("Revoked", None, None)


def test_a_failed_delivery_shows_its_reason_until_the_key_is_delivered(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _doors(world)
    key_id = world.digital_key(["entrance"])

    def unavailable(*_: Any) -> None:
        raise MobileAccessUnavailable("mobile-access cloud answered 503 after retries")

    monkeypatch.setattr(world.mobile, "deliver", unavailable)
    with pytest.raises(MobileAccessUnavailable):
        world.services.keys.deliver_now(SITE, key_id)
    key = world.key(key_id)
    assert (key["waiting_for"], key["last_error"]) == (
        "mobile_cloud",
        "mobile-access cloud answered 503 after retries",
    )
    # Another failure with the same reason writes nothing new.
    version = key["version"]
    with pytest.raises(MobileAccessUnavailable):
        world.services.keys.deliver_now(SITE, key_id)
    assert world.key(key_id)["version"] == version

    world.services.keys.key_delivered(SITE, key_id, actor="cloud")
    key = world.key(key_id)
    assert (key["waiting_for"], key["last_error"]) == (None, None)


def test_an_unexpected_error_is_named_by_its_class_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _doors(world)
    key_id = world.digital_key(["entrance"])

    def broken(*_: Any) -> None:
        raise RuntimeError("secret=hunter2 at /var/task/x.py line 3")

    monkeypatch.setattr(world.mobile, "deliver", broken)
    with pytest.raises(RuntimeError):
        world.services.keys.deliver_now(SITE, key_id)
    assert world.key(key_id)["last_error"] == "internal error (RuntimeError)"


class _FailingCommands:
    def send(self, update: DoorUpdate) -> None:
        raise DoorCommandsUnavailable(f"could not send door {update.door_id} its update")


def test_a_failed_door_send_shows_on_the_rows_waiting_there_until_the_door_confirms(
    world: World,
) -> None:
    _doors(world)
    key_id = world.access_medium(["entrance", "flat-12"])
    with pytest.raises(DoorCommandsUnavailable):
        sync_door(world.services.doors, _FailingCommands(), SITE, "entrance", 1)
    doors = {d["door_id"]: d for d in world.key(key_id)["doors"]}
    assert doors["entrance"]["last_error"] == "could not send door entrance its update"
    assert doors["flat-12"]["last_error"] is None
    world.sync("entrance")
    doors = {d["door_id"]: d for d in world.key(key_id)["doors"]}
    assert doors["entrance"]["last_error"] is None
    assert world.services.doors.get_door(SITE, "entrance").last_error is None


def test_rows_written_before_since_was_recorded_count_from_the_keys_last_change(
    world: World,
) -> None:
    from dataclasses import replace

    _doors(world)
    key_id = world.access_medium(["entrance", "flat-12"])
    record = world.store.get_key(SITE, key_id)
    assert record is not None
    # An item as an earlier version wrote it: no since on its rows, no status_since.
    old = replace(
        record,
        rows=tuple(replace(r, since=None) for r in record.rows),
        status_since=None,
        updated_at=T0 - 100,
        version=record.version + 1,
    )
    world.store.save_key(old)
    assert _rows(world, key_id)["flat-12"] == (
        "(manual) Deployment pending",
        "technician",
        iso(T0 - 100),
    )
