"""Who can still get in after a bulk revocation (issue 14, exposure): exactly the revoked keys
at the doors that have not confirmed their removal, and the list empties as the technician
(and the online door) confirm."""

from __future__ import annotations

from collections import Counter

from service_world import PHONE, SITE

from keyworker.api.wire import exposure_out
from revocation.run_world import RunWorld


def _exposed(runs: RunWorld) -> set[tuple[str, str, str, bool]]:
    out = exposure_out(runs.world.services.sites.exposure(SITE))
    assert out.count == len(out.items)
    return {(i.key_id, i.door_id, i.waiting_for, i.technician_required) for i in out.items}


def test_exposure_lists_the_open_doors_of_revoked_keys_and_empties_as_doors_confirm(
    runs: RunWorld,
) -> None:
    keys = runs.building(2, digital_per_flat=0)
    w = runs.world
    for door_id in ("entrance", "garage", "flat-0", "flat-1"):
        w.sync(door_id)
    assert _exposed(runs) == set()

    run = runs.run({"door_ids": ["flat-0"]}, reason="flat 0 moved out")
    assert run.state == "done"
    revoked = keys["flat-0"]
    # Every revoked card is still accepted at each of its three doors.
    assert _exposed(runs) == {
        (key_id, door_id, waiting, waiting == "technician")
        for key_id in revoked
        for door_id, waiting in (
            ("entrance", "door"),
            ("garage", "technician"),
            ("flat-0", "technician"),
        )
    }
    items = exposure_out(w.services.sites.exposure(SITE)).items
    assert {i.reason for i in items} == {"revoked"}
    assert {i.since for i in items} == {items[0].since}

    # The technician confirms the garage: its rows leave; the others stay.
    w.sync("garage")
    assert Counter(door for _, door, _, _ in _exposed(runs)) == {"entrance": 2, "flat-0": 2}
    w.sync("entrance")
    w.sync("flat-0")
    assert _exposed(runs) == set()
    # Flat 1's cards were never revoked: never exposed.
    assert not {k for k, _, _, _ in _exposed(runs)} & set(keys["flat-1"])


def test_a_blocked_phone_is_exposed_until_its_doors_block_it(runs: RunWorld) -> None:
    w = runs.world
    w.door("entrance", kind="common", connectivity="online")
    w.door("flat-9", connectivity="offline")
    key_id = w.digital_key(["entrance", "flat-9"], phone=PHONE)
    w.services.keys.key_delivered(SITE, key_id, actor="cloud")
    w.services.phones.block(SITE, PHONE, actor="admin")
    assert _exposed(runs) == {
        (key_id, "entrance", "door", False),
        (key_id, "flat-9", "technician", True),
    }
    assert {i.reason for i in exposure_out(w.services.sites.exposure(SITE)).items} == {"blocked"}
    w.sync("entrance")
    w.sync("flat-9")
    assert _exposed(runs) == set()
