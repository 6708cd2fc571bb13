"""Door health (issue 14): a door's last_seen rises with each confirmation and heartbeat; an
online door that stops confirming is unreachable after its site's threshold, its work reads
(manual) and waits for a technician, and it is on the worklist until it is heard from."""

from __future__ import annotations

from service_world import SITE, T0, World, build_world

from keyworker.domain.models import iso
from keyworker.feedback import apply_event
from keyworker.field_events import DoorHeartbeat
from keyworker.site_settings import SiteSettings, SiteThresholds

MINUTE = 60


def _entrance_row(world: World, key_id: str) -> tuple[str, str | None]:
    [row] = [d for d in world.key(key_id)["doors"] if d["door_id"] == "entrance"]
    return row["status"]["label"], row["waiting_for"]


def test_an_online_door_that_stops_confirming_becomes_unreachable_and_a_technicians_work(
    world: World,
) -> None:
    world.door("entrance", kind="common", connectivity="online")
    first = world.access_medium(["entrance"])
    world.clock.advance(MINUTE)
    world.sync("entrance")
    assert world.services.doors.get_door(SITE, "entrance").last_seen == T0 + MINUTE

    # New work at T0 + 10 min; the door stays silent.
    world.clock.set(T0 + 10 * MINUTE)
    world.services.keys.revoke(SITE, first, actor="admin")
    world.clock.set(T0 + 39 * MINUTE)
    assert _entrance_row(world, first) == ("(automated) Revocation pending", "door")
    assert world.services.doors.worklist(SITE) == []

    # Thirty minutes after its work began: unreachable.
    world.clock.set(T0 + 40 * MINUTE)
    assert _entrance_row(world, first) == ("(manual) Revocation pending", "technician")
    [visit] = world.services.doors.worklist(SITE)
    assert (visit.door.door_id, visit.unreachable_since) == ("entrance", T0 + 40 * MINUTE)
    work = world.services.doors.pending_work(SITE, "entrance")
    assert work.unreachable_since == T0 + 40 * MINUTE
    # The site summary says so too.
    [door] = world.services.sites.summary(SITE).doors
    assert door.unreachable_since == T0 + 40 * MINUTE

    # A heartbeat: reachable again for another threshold (its work is the door's again).
    world.clock.set(T0 + 45 * MINUTE)
    applied = apply_event(world.services, DoorHeartbeat("hb-1", SITE, "entrance", T0 + 45 * MINUTE))
    assert applied == {"door_id": "entrance", "last_seen": T0 + 45 * MINUTE}
    world.clock.set(T0 + 50 * MINUTE)
    assert _entrance_row(world, first) == ("(automated) Revocation pending", "door")
    assert world.services.doors.worklist(SITE) == []
    # An older heartbeat never moves last_seen back; one from the future counts as now.
    apply_event(world.services, DoorHeartbeat("hb-0", SITE, "entrance", T0))
    assert world.services.doors.get_door(SITE, "entrance").last_seen == T0 + 45 * MINUTE
    apply_event(world.services, DoorHeartbeat("hb-2", SITE, "entrance", T0 + 10**6))
    assert world.services.doors.get_door(SITE, "entrance").last_seen == T0 + 50 * MINUTE

    # Silent again past the threshold: unreachable again; confirming ends it.
    world.clock.set(T0 + 81 * MINUTE)
    assert _entrance_row(world, first)[1] == "technician"
    world.sync("entrance")
    assert world.services.doors.worklist(SITE) == []
    assert world.services.doors.get_door(SITE, "entrance").last_seen == T0 + 81 * MINUTE


def test_the_threshold_is_per_site(dynamodb: object) -> None:
    settings = SiteSettings(sites={SITE: SiteThresholds(unreachable_after=5 * MINUTE)})
    world = build_world(dynamodb, ports={"site_settings": settings})
    world.door("entrance", kind="common", connectivity="online")
    key_id = world.access_medium(["entrance"])
    world.clock.set(T0 + 5 * MINUTE)
    assert _entrance_row(world, key_id)[1] == "technician"
    assert iso(world.services.doors.worklist(SITE)[0].unreachable_since) == iso(T0 + 5 * MINUTE)


def test_a_door_switched_online_owes_an_answer_from_then_on(world: World) -> None:
    world.door("flat", connectivity="offline")
    key_id = world.access_medium(["flat"])
    world.clock.set(T0 + 2 * 86_400)
    world.services.doors.put_door(
        SITE, "flat", name="Flat", kind="unit", connectivity="online", actor="admin"
    )
    assert world.key(key_id)["doors"][0]["waiting_for"] == "door"
    world.clock.advance(30 * MINUTE)
    assert world.key(key_id)["doors"][0]["waiting_for"] == "technician"
