"""Stuck work is reported once (issue 13 item 5, contract C): the time service writes one
audit event ``pending_too_long`` per pending row (or a digital key's own delivery state) once
it is older than its site's threshold, not again on the next sweep, and again after the row
moves and gets stuck anew."""

from __future__ import annotations

from service_world import SITE, T0, World

from keyworker.domain.engine import Overdue
from keyworker.domain.models import iso

MINUTE = 60
DAY = 86_400


def _reports(world: World, key_id: str) -> list[dict[str, object]]:
    return [
        dict(e.details)
        for e in world.store.list_events(SITE, key_id)
        if e.action == "pending_too_long"
    ]


def test_each_stuck_row_is_reported_once_and_again_when_stuck_anew(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat", kind="unit", connectivity="offline")
    key_id = world.access_medium(["entrance", "flat"])

    # Not yet: the online door's threshold is 15 minutes.
    world.clock.set(T0 + 14 * MINUTE)
    world.services.time.process_due()
    assert _reports(world, key_id) == []

    world.clock.set(T0 + 15 * MINUTE)
    found: list[Overdue] = []
    world.services.time.process_due(overdue=found)
    assert [(o.door_id, o.pending.waiting_for, o.threshold) for o in found] == [
        ("entrance", "door", 15 * MINUTE)
    ]
    assert _reports(world, key_id) == [
        {
            "door_id": "entrance",
            "state": "deployment_pending",
            "pending_since": iso(T0),
            "waiting_for": "door",
            "threshold_seconds": 15 * MINUTE,
        }
    ]
    [event] = [e for e in world.store.list_events(SITE, key_id) if e.action == "pending_too_long"]
    assert (event.actor, event.after.status) == ("clock", "door_update_pending")

    # The next sweeps report nothing new.
    world.clock.set(T0 + 20 * MINUTE)
    again: list[Overdue] = []
    world.services.time.process_due(overdue=again)
    world.services.time.process_due(overdue=again)
    assert again == []
    assert len(_reports(world, key_id)) == 1

    # The offline door's row after 7 days (its threshold); the entrance's is not repeated.
    world.clock.set(T0 + 7 * DAY)
    world.services.time.process_due()
    assert [r["door_id"] for r in _reports(world, key_id)] == ["entrance", "flat"]
    assert _reports(world, key_id)[1]["waiting_for"] == "technician"

    # Both rows move on (confirmed, then revoked): stuck anew, reported anew.
    world.sync("entrance")
    world.sync("flat")
    world.services.keys.revoke(SITE, key_id, actor="admin")
    revoked_at = world.clock.now()
    world.clock.set(revoked_at + 15 * MINUTE)
    world.services.time.process_due()
    reports = _reports(world, key_id)
    assert [(r["door_id"], r["state"]) for r in reports] == [
        ("entrance", "deployment_pending"),
        ("flat", "deployment_pending"),
        ("entrance", "revocation_pending"),
    ]
    assert reports[2]["pending_since"] == iso(revoked_at)


def test_an_undelivered_digital_key_is_reported_after_an_hour(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    key_id = world.digital_key(["entrance"])
    world.clock.set(T0 + 59 * MINUTE)
    world.services.time.process_due()
    assert _reports(world, key_id) == []
    world.clock.set(T0 + 60 * MINUTE)
    world.services.time.process_due()
    assert _reports(world, key_id) == [
        {
            "door_id": None,
            "state": "deployment_pending",
            "pending_since": iso(T0),
            "waiting_for": "mobile_cloud",
            "threshold_seconds": 3600,
        }
    ]
    world.clock.set(T0 + 3 * 3600)
    world.services.time.process_due()
    assert len(_reports(world, key_id)) == 1
    # Delivered: nothing pending any more, nothing more due.
    world.services.keys.key_delivered(SITE, key_id, actor="cloud")
    record = world.store.get_key(SITE, key_id)
    assert record is not None
    assert record.overdue_at is None
