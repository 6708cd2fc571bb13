"""Outbound events from real pipeline runs: the API and worker change the table, the table's
stream (moto) feeds the stream function, and the events reach the feed, the EventBridge bus
and the webhook port — each once, in order per subject, with no phone number in them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from handlers.handler_harness import PHONE_FORMS, SITE, cloud_event

from keyworker.clock import SystemClock
from keyworker.handlers import expiry
from keyworker.local.apigw import LambdaContext
from outbound.conftest import Outbox

FROM = "2026-01-05T00:00:00Z"
#: What EventBridge Scheduler hands the expiry function (the fields it reads).
SCHEDULE_EVENT = {"id": "stuck-work-sweep", "source": "aws.scheduler", "detail": "{}"}


def medium(card: str = "card-0001", doors: list[str] | None = None) -> dict[str, Any]:
    return {
        "holder_id": "holder-1",
        "card_uid": card,
        "door_ids": doors or ["front", "flat-1"],
        "valid_from": FROM,
    }


def site_doors(outbox: Outbox) -> None:
    outbox.stack.door("front", connectivity="online", kind="common")
    outbox.stack.door("flat-1", connectivity="offline", kind="unit")


def of_subject(events: list[dict[str, Any]], subject: str) -> list[dict[str, Any]]:
    return [e for e in events if e["subject"] == subject]


def test_a_key_walk_gives_each_event_once_in_order_everywhere(outbox: Outbox) -> None:
    site_doors(outbox)
    key_id = outbox.stack.api("POST", "/access-media", medium()).body["key_id"]
    assert outbox.stack.api("POST", "/doors/flat-1/sync", {"version": 1}).status == 200
    assert outbox.stack.api("POST", f"/keys/{key_id}/revoke", {"reason": "moved out"}).status == 202
    outbox.process()

    bus = outbox.bus_events()
    fanned = outbox.webhooks.events()
    feed = outbox.feed("?limit=100").body["events"]
    key_events = of_subject(feed, f"keys/{key_id}")
    assert [e["type"] for e in key_events] == [
        "key.created",
        "key.status_changed",  # flat-1 confirmed its version
        "key.revoked",
    ]
    assert [int(e["sequence"]) for e in key_events] == [1, 2, 3]
    created = key_events[0]
    assert created["id"] == f"keys/{key_id}/{'0' * 19}1"
    assert created["source"] == f"keyworker/sites/{SITE}"
    assert created["specversion"] == "1.0"
    assert created["siteid"] == SITE
    after = created["data"]["after"]
    assert after["status"]["code"] == "door_update_pending"
    assert after["status"]["label"]
    assert after["doors"]["front"]["mode"] == "automated"
    assert after["doors"]["flat-1"] == {
        "code": "deployment_pending",
        "mode": "manual",
        "label": "(manual) Deployment pending",
    }
    revoked = key_events[2]["data"]
    assert revoked["reason"] == "moved out"
    assert revoked["before"]["doors"]["flat-1"]["code"] == "deployed"

    door = of_subject(feed, "doors/flat-1")
    assert [(e["type"], int(e["sequence"])) for e in door] == [
        ("door.update_requested", 2),
        ("door.confirmed", 3),
        ("door.update_requested", 4),
    ]
    assert door[0]["data"] == {
        "door_id": "flat-1",
        "version": 1,
        "action": "deploy",
        "key_ids": [key_id],
    }
    assert door[1]["data"]["key_ids"] == [key_id]
    assert door[1]["data"]["version"] == 1

    # The same events on the bus and to the webhook port: once each, same envelopes.
    by_id = {e["id"]: e for e in feed}
    assert len(by_id) == len(feed)
    assert sorted(e["id"] for e in bus) == sorted(by_id)
    assert [e["id"] for e in fanned] == [e["id"] for e in feed]
    assert all(site == SITE for site, _ in outbox.webhooks.calls)
    for event in bus:
        assert event == by_id[event["id"]]


def test_per_subject_sequences_rise_in_feed_and_fan_out_order(outbox: Outbox) -> None:
    site_doors(outbox)
    keys = [
        outbox.stack.api("POST", "/access-media", medium(card=f"card-{i:04d}")).body["key_id"]
        for i in range(3)
    ]
    outbox.stack.api("POST", "/doors/flat-1/sync", {"version": 3})
    for key_id in keys[:2]:
        outbox.stack.api("POST", f"/keys/{key_id}/revoke")
    outbox.process()
    for events in (outbox.feed("?limit=100").body["events"], outbox.webhooks.events()):
        last: dict[str, str] = {}
        for event in events:
            assert event["sequence"] > last.get(event["subject"], ""), event["id"]
            last[event["subject"]] = event["sequence"]
        assert len(last) == 3 + 2  # three keys, two doors


def test_phone_block_and_unblock_name_the_phone_by_reference_only(outbox: Outbox) -> None:
    site_doors(outbox)
    body = {"holder_id": "h", "phone": "+41 79 123 45 67", "door_ids": ["front"]}
    body["valid_from"] = FROM
    key_id = outbox.stack.api("POST", "/digital-keys", body).body["key_id"]
    outbox.stack.run_jobs()
    delivered = cloud_event("key.delivered", {"site_id": SITE, "key_id": key_id})
    assert outbox.stack.api("POST", "/events", delivered).status == 200
    assert outbox.stack.api("POST", "/phones/+41791234567/block").status == 202
    assert outbox.stack.api("POST", "/phones/+41791234567/unblock").status == 202
    outbox.process()
    feed = outbox.feed("?limit=100").body["events"]
    phone = [e for e in feed if e["subject"].startswith("phones/")]
    assert [e["type"] for e in phone] == ["phone.blocked", "phone.unblocked"]
    assert phone[0]["sequence"] < phone[1]["sequence"]
    ref = phone[0]["subject"].removeprefix("phones/")
    assert len(ref) == 16
    assert phone[0]["data"] == {"phone_ref": ref, "blocked": True, "key_ids": [key_id]}
    key_types = [e["type"] for e in of_subject(feed, f"keys/{key_id}")]
    assert key_types[0] == "key.created"
    assert len(key_types) >= 4  # created, delivered, blocked, unblocked (status changes)
    # No form of the number, nor a credential, anywhere in what left keyworker.
    everything = json.dumps([feed, outbox.bus_events(), outbox.webhooks.calls])
    for form in PHONE_FORMS:
        assert form not in everything
    assert "credential" not in everything
    assert "card_uid" not in everything


def test_a_revocation_run_reports_progress_then_completion(outbox: Outbox) -> None:
    site_doors(outbox)
    for i in range(3):
        outbox.stack.api("POST", "/access-media", medium(card=f"card-{i:04d}"))
    run = outbox.stack.api("POST", "/revocations", {"selector": {"all": True}, "reason": "r"})
    run_id = run.body["run_id"]
    outbox.stack.run_jobs()
    assert outbox.stack.api("GET", f"/revocations/{run_id}").body["state"] == "done"
    outbox.process()
    feed = outbox.feed("?types=revocation_run.progress,revocation_run.completed").body["events"]
    assert {e["subject"] for e in feed} == {f"revocation_runs/{run_id}"}
    types = [e["type"] for e in feed]
    assert types[-1] == "revocation_run.completed"
    assert set(types[:-1]) == {"revocation_run.progress"}
    assert len(types) >= 2
    sequences = [e["sequence"] for e in feed]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)
    done = feed[-1]["data"]
    assert done["state"] == "done"
    assert done["revoked"] == 3
    assert done["keys_done"] == done["keys_total"] == 3
    revoked = outbox.feed("?types=key.revoked").body["events"]
    assert len(revoked) == 3
    assert {e["data"]["actor"] for e in revoked} == {f"run:{run_id}"}


def test_a_dry_run_completes_when_planned(outbox: Outbox) -> None:
    site_doors(outbox)
    outbox.stack.api("POST", "/access-media", medium())
    run = outbox.stack.api("POST", "/revocations", {"selector": {"all": True}, "dry_run": True})
    outbox.stack.run_jobs()
    outbox.process()
    [completed] = outbox.feed("?types=revocation_run.completed").body["events"]
    assert completed["subject"] == f"revocation_runs/{run.body['run_id']}"
    assert completed["data"]["state"] == "planned"
    assert completed["data"]["dry_run"] is True
    assert outbox.feed("?types=key.revoked").body["events"] == []


def test_stuck_work_reaches_the_outside_world_as_key_pending_too_long(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled function's report of stuck work (an audit event ``pending_too_long``)
    leaves through the stream like every other change: once, as ``key.pending_too_long``,
    naming the door, who must act and since when."""
    site_doors(outbox)
    key_id = outbox.stack.api("POST", "/access-media", medium()).body["key_id"]
    outbox.process()
    # 16 minutes later: the online door's 15-minute threshold has passed, the offline door's
    # 7 days have not.
    later = int(time.time()) + 16 * 60
    monkeypatch.setattr(SystemClock, "now", lambda self: later)
    for _ in range(2):  # a second sweep reports nothing new
        expiry.handler(SCHEDULE_EVENT, LambdaContext("keyworker-expiry"))
    outbox.process()

    feed = of_subject(outbox.feed("?limit=100").body["events"], f"keys/{key_id}")
    stuck = [e for e in feed if e["type"] == "key.pending_too_long"]
    assert len(stuck) == 1
    details = stuck[0]["data"]["details"]
    assert (details["door_id"], details["waiting_for"]) == ("front", "door")
    assert details["threshold_seconds"] == 15 * 60
    assert [int(e["sequence"]) for e in feed] == list(range(1, len(feed) + 1))
    assert stuck[0] in outbox.webhooks.events()
    assert stuck[0] in outbox.bus_events()
