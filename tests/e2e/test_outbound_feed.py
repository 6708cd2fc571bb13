"""The site's event feed against a running ``keyworker local``: the stack's stream poller runs
the stream function on the emulator's DynamoDB stream, so a key walked through create → door
confirmations → revoke → confirmations shows up in ``GET /events``, in order, once each."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from local_stack_harness import RunningStack
from test_local_stack import Site, iso

pytestmark = pytest.mark.e2e


def _read_all(site: Site, want: int, timeout: float = 90.0) -> list[dict[str, Any]]:
    """Follow the feed from its start with small pages until ``want`` events arrived (they
    appear once older than the feed's settle window)."""
    events: list[dict[str, Any]] = []
    cursor = ""
    deadline = time.monotonic() + timeout
    while len(events) < want and time.monotonic() < deadline:
        page = site.api.ok("GET", f"/events?limit=3{'&after=' + cursor if cursor else ''}")
        events.extend(page["events"])
        cursor = page["next_cursor"]
        if not page["events"]:
            time.sleep(1.0)
    return events


def test_a_key_walk_reads_back_from_the_feed(quiet_stack: RunningStack) -> None:
    site = Site(quiet_stack, f"feed-{uuid.uuid4().hex[:8]}")
    site.doors()
    key_id = site.api.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "t-1",
            "card_uid": "04CC0001",
            "door_ids": ["entrance", "apt-1"],
            "valid_from": iso(time.time() - 60),
        },
    )["key_id"]
    site.sync("entrance")
    site.sync("apt-1")
    site.api.ok("POST", f"/keys/{key_id}/revoke", {"reason": "moved out"})
    site.sync("entrance")
    site.sync("apt-1")

    # The key: created, two confirmations, revoked, two confirmations. Each door: requested
    # and confirmed, twice.
    events = _read_all(site, want=6 + 2 * 4)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    key_events = [e for e in events if e["subject"] == f"keys/{key_id}"]
    assert [e["type"] for e in key_events] == [
        "key.created",
        "key.status_changed",
        "key.status_changed",
        "key.revoked",
        "key.status_changed",
        "key.status_changed",
    ]
    assert key_events[-1]["data"]["after"]["status"]["code"] == "revoked"
    for door in ("entrance", "apt-1"):
        door_events = [e for e in events if e["subject"] == f"doors/{door}"]
        assert [e["type"] for e in door_events] == [
            "door.update_requested",
            "door.confirmed",
            "door.update_requested",
            "door.confirmed",
        ]
        assert [int(e["sequence"]) for e in door_events] == [2, 3, 4, 5]
    assert {e["siteid"] for e in events} == {site.name}
    assert {e["source"] for e in events} == {f"keyworker/sites/{site.name}"}
