"""The site at a glance (issue 14, contract D): counts per status as the core's bulk
evaluation gives them (the same as evaluating each key), per door, and the oldest pending
items with who must act."""

from __future__ import annotations

from collections import Counter

from service_world import SITE, T0, World

from keyworker.api.wire import summary_out

MINUTE = 60


def test_the_summary_counts_the_sites_keys_doors_and_oldest_pending_work(world: World) -> None:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat", kind="unit", connectivity="offline")
    active = world.access_medium(["entrance", "flat"])
    world.clock.set(T0 + MINUTE)
    world.sync("entrance")
    world.sync("flat")
    world.clock.set(T0 + 2 * MINUTE)
    pending = world.access_medium(["entrance", "flat"], card_uid="c2")
    world.clock.set(T0 + 3 * MINUTE)
    digital = world.digital_key(["entrance"])
    world.clock.set(T0 + 4 * MINUTE)

    out = summary_out(world.services.sites.summary(SITE)).model_dump()
    assert out["site_id"] == SITE
    assert out["keys"]["total"] == 3
    by_status = {c["code"]: c["count"] for c in out["keys"]["by_status"]}
    # The bulk evaluation agrees with evaluating each key.
    each = Counter(view.status.status.code for view in world.services.queries.list_keys(SITE).items)
    assert {k: v for k, v in by_status.items() if v} == dict(each)
    assert by_status["active"] == 1
    assert by_status["door_update_pending"] == 1
    assert by_status["deployment_pending"] == 1
    labels = {c["code"]: c["label"] for c in out["keys"]["by_status"]}
    assert labels["door_update_pending"] == "Door update pending"
    by_door = {
        (c["code"], c["mode"]): (c["label"], c["count"]) for c in out["keys"]["by_door_status"]
    }
    assert by_door == {
        ("deployed", None): ("Deployed", 2),
        ("deployment_pending", "automated"): ("(automated) Deployment pending", 1),
        ("deployment_pending", "manual"): ("(manual) Deployment pending", 1),
    }
    doors = {d["door_id"]: d for d in out["doors"]}
    assert doors["entrance"]["pending_count"] == 1
    assert doors["entrance"]["oldest_pending_age_seconds"] == 2 * MINUTE
    assert doors["entrance"]["last_seen"] == "2026-01-05T00:01:00Z"
    assert doors["flat"]["oldest_pending_since"] == "2026-01-05T00:02:00Z"
    assert doors["flat"]["unreachable_since"] is None
    assert [
        (p["key_id"], p["door_id"], p["waiting_for"], p["state"]["label"])
        for p in out["oldest_pending"]
    ] == [
        (pending, "entrance", "door", "(automated) Deployment pending"),
        (pending, "flat", "technician", "(manual) Deployment pending"),
        (digital, None, "mobile_cloud", "Deployment pending"),
    ]
    assert active not in {p["key_id"] for p in out["oldest_pending"]}
    assert out["revocation_runs"] == []


def test_an_empty_site_has_an_empty_summary(world: World) -> None:
    out = summary_out(world.services.sites.summary("empty-site"))
    assert out.keys.total == 0
    assert out.doors == []
    assert out.oldest_pending == []
    assert {c.count for c in out.keys.by_status} == {0}
