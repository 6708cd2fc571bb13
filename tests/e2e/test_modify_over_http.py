"""Modifying keys over HTTP against a running ``keyworker local`` (simulators off): add an
offline door, remove an online door, change a card's and a digital key's schedule, a dry run,
and the refusals (problem+json, nothing written)."""

from __future__ import annotations

import time
import uuid

import pytest
from local_stack_harness import RunningStack
from test_local_stack import Site, iso, labels

pytestmark = pytest.mark.e2e

SATURDAY = {
    "time_zone": "Europe/Zurich",
    "windows": [{"days": ["sat"], "start": "09:00", "end": "10:00"}],
}


def test_modify_walks_through_the_seed_tables(quiet_stack: RunningStack) -> None:
    site = Site(quiet_stack, f"mod-{uuid.uuid4().hex[:8]}")
    site.doors()
    now = time.time()
    card = site.api.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "t-1",
            "card_uid": "04BB0001",
            "door_ids": ["entrance", "laundry"],
            "valid_from": iso(now - 60),
        },
    )
    key_id = card["key_id"]
    site.sync("entrance")
    site.sync("laundry")
    assert labels(site.key(key_id)) == ("Active", "Always", ["Deployed", "Deployed"])

    # Dry run: the plan, nothing written.
    plan = site.api.ok("PATCH", f"/keys/{key_id}?dry_run=true", {"door_ids": ["entrance", "apt-1"]})
    by_door = {d["door_id"]: d for d in plan["doors"]}
    assert by_door["apt-1"]["action"] == "deploy"
    assert by_door["apt-1"]["needs_technician"] is True
    assert by_door["apt-1"]["status_after"]["label"] == "(manual) Deployment pending"
    assert by_door["laundry"]["action"] == "revoke"
    assert site.key(key_id)["version"] == card["version"] + 2  # two confirmations, no change

    # The tenant moves: the laundry goes, the flat's offline door comes.
    changed = site.api.ok(
        "PATCH",
        f"/keys/{key_id}",
        {"door_ids": ["entrance", "apt-1"]},
        **{"idempotency-key": "move-t-1"},
    )
    assert changed["door_ids"] == ["entrance", "laundry", "apt-1"]
    assert labels(site.key(key_id)) == (
        "Door update pending",
        "Please update the door",
        ["Deployed", "(automated) Revocation pending", "(manual) Deployment pending"],
    )
    site.sync("laundry")
    site.sync("apt-1")
    key = site.key(key_id)
    assert key["door_ids"] == ["entrance", "apt-1"]
    assert labels(key) == ("Active", "Always", ["Deployed", "Deployed"])

    # A new schedule reaches every door that holds the card.
    site.api.ok("PATCH", f"/keys/{key_id}", {"schedule": SATURDAY})
    assert labels(site.key(key_id))[2] == [
        "(automated) Deployment pending",
        "(manual) Deployment pending",
    ]
    site.sync("entrance")
    site.sync("apt-1")
    assert labels(site.key(key_id))[:2] == ("Active", "Sat 09:00–10:00")

    # A digital key's schedule: re-signed, on its way again.
    digital = site.api.ok(
        "POST",
        "/digital-keys",
        {
            "holder_id": "t-2",
            "phone": "+41795550101",
            "door_ids": ["entrance"],
            "valid_from": iso(now - 60),
        },
    )
    site.send_event("key.delivered", {"site_id": site.name, "key_id": digital["key_id"]})
    deadline = time.monotonic() + 30
    while site.key(digital["key_id"])["status"]["code"] != "deployed":
        assert time.monotonic() < deadline, "delivery"
        time.sleep(0.3)
    site.api.ok("PATCH", f"/keys/{digital['key_id']}", {"schedule": SATURDAY})
    assert site.key(digital["key_id"])["status"]["label"] == "Deployment pending"


def test_bad_modifications_are_problems_and_write_nothing(quiet_stack: RunningStack) -> None:
    site = Site(quiet_stack, f"modbad-{uuid.uuid4().hex[:8]}")
    site.doors()
    card = site.api.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "t-1",
            "card_uid": "04BB0002",
            "door_ids": ["entrance"],
            "valid_from": iso(time.time() - 60),
        },
    )
    key_id = card["key_id"]
    before = site.key(key_id)
    for body, status, field in (
        ({"door_ids": []}, 400, "door_ids"),
        ({"door_ids": ["nowhere"]}, 404, "door_ids"),
        ({"valid_until": iso(time.time() - 3600)}, 400, "valid_until"),
    ):
        code, problem = site.api.call("PATCH", f"/keys/{key_id}", body)
        assert code == status, (body, problem)
        assert problem["field"] == field
    assert site.key(key_id) == before
    site.api.ok("POST", f"/keys/{key_id}/revoke")
    code, problem = site.api.call("PATCH", f"/keys/{key_id}", {"door_ids": ["laundry"]})
    assert code == 409, problem
