"""The expiry Lambda on its schedule: move-ins and expiries refresh the stored status used by
the list index, and online doors whose work is older than STALE_SYNC_SECONDS are asked again."""

from __future__ import annotations

from typing import Any

import pytest
from handler_harness import Stack

from keyworker.clock import SystemClock
from keyworker.handlers import expiry
from keyworker.local.apigw import LambdaContext

T0 = 1_767_571_200  # 2026-01-05T00:00:00Z
SCHEDULE_EVENT = {
    "version": "0",
    "id": "d77bcbc4-0b2b-4d45-9694-b1df99175cfb",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "account": "000000000000",
    "time": "2026-01-05T00:10:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:scheduler:us-east-1:000000000000:schedule/default/expiry"],
    "detail": "{}",
}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    now = {"t": T0}
    monkeypatch.setattr(SystemClock, "now", lambda self: now["t"])
    return now


def run(stack: Stack) -> dict[str, Any]:
    return expiry.handler(SCHEDULE_EVENT, LambdaContext("keyworker-expiry"))


def test_move_in_and_expiry_refresh_the_index(stack: Stack, clock: dict[str, int]) -> None:
    stack.door("flat-1")
    key_id = stack.api(
        "POST",
        "/access-media",
        {
            "holder_id": "h",
            "card_uid": "c",
            "door_ids": ["flat-1"],
            "valid_from": "2026-01-06T00:00:00Z",
            "valid_until": "2026-01-07T00:00:00Z",
        },
    ).body["key_id"]
    stack.api("POST", "/doors/flat-1/sync", {"version": 1})
    planned = stack.api("GET", "/keys?status=planned").body["items"]
    assert [k["key_id"] for k in planned] == [key_id]
    assert run(stack)["keys_refreshed"] == []

    clock["t"] = T0 + 86_400 + 60  # after move-in
    assert run(stack)["keys_refreshed"] == [key_id]
    active = stack.api("GET", "/keys?status=active").body["items"]
    assert [k["key_id"] for k in active] == [key_id]
    assert stack.api("GET", "/keys?status=planned").body["items"] == []

    clock["t"] = T0 + 2 * 86_400 + 60  # after valid_until: home status gone
    assert run(stack)["keys_refreshed"] == [key_id]
    history = stack.api("GET", f"/keys/{key_id}/history").body["events"]
    assert [e["action"] for e in history][-2:] == ["time_passed", "time_passed"]


def test_stale_online_door_work_is_requested_again(stack: Stack, clock: dict[str, int]) -> None:
    stack.door("front", connectivity="online", kind="common")
    stack.door("flat-1")
    stack.api(
        "POST",
        "/access-media",
        {
            "holder_id": "h",
            "card_uid": "c",
            "door_ids": ["front", "flat-1"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    )
    stack.queued(stack.jobs)  # the first sync request is lost
    clock["t"] = T0 + 100
    assert run(stack)["doors_resynced"] == []
    clock["t"] = T0 + 301
    assert run(stack)["doors_resynced"] == ["front"]
    [job] = stack.queued(stack.jobs)
    assert job["kind"] == "sync_door"
    assert job["params"] == {"site_id": "site-1", "door_id": "front", "version": 1}
    # Once the door confirmed, nothing is asked again; the offline door is for the technician.
    stack.api("POST", "/doors/front/sync", {"version": 1})
    assert run(stack)["doors_resynced"] == []
    worklist = stack.api("GET", "/doors?visit=needed").body["doors"]
    assert [d["door_id"] for d in worklist] == ["flat-1"]
