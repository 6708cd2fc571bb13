"""The events Lambda on SQS batches of CloudEvents: applied once per id (even when a
duplicate arrives after newer events changed the key), unknown and malformed events fail
alone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from handler_harness import PHONE, SITE, TABLE, Stack, cloud_event, sqs_event

from keyworker.handlers import events
from keyworker.local.apigw import LambdaContext


def run_batch(stack: Stack, bodies: list[str]) -> tuple[dict, dict]:
    event = sqs_event(bodies, arn=stack.events.arn)
    result = events.handler(event, LambdaContext("keyworker-events"))
    return result, {r["messageId"]: r["body"] for r in event["Records"]}


@pytest.fixture
def world(stack: Stack) -> Stack:
    stack.door("front", connectivity="online", kind="common")
    stack.door("flat-1", connectivity="offline")
    return stack


def new_digital_key(stack: Stack) -> str:
    key_id: str = stack.api(
        "POST",
        "/digital-keys",
        {
            "holder_id": "h",
            "phone": PHONE,
            "door_ids": ["front"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    ).body["key_id"]
    stack.run_jobs()
    return key_id


def test_door_synced_and_key_delivered_from_the_queue(world: Stack) -> None:
    medium = world.api(
        "POST",
        "/access-media",
        {
            "holder_id": "h",
            "card_uid": "c",
            "door_ids": ["flat-1"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    ).body["key_id"]
    digital = new_digital_key(world)
    bodies = [
        json.dumps(
            cloud_event("door.synced", {"site_id": SITE, "door_id": "flat-1", "version": 1})
        ),
        json.dumps(cloud_event("key.delivered", {"site_id": SITE, "key_id": digital})),
    ]
    result, _ = run_batch(world, bodies)
    assert result["batchItemFailures"] == []
    assert world.api("GET", f"/keys/{medium}").body["status"]["code"] == "active"
    assert world.api("GET", f"/keys/{digital}").body["status"]["code"] == "deployed"


def test_poisoned_events_fail_alone(world: Stack) -> None:
    digital = new_digital_key(world)
    good = json.dumps(cloud_event("key.delivered", {"site_id": SITE, "key_id": digital}))
    poisoned = [
        "not json",
        json.dumps(cloud_event("door.painted", {"site_id": SITE})),
        json.dumps(cloud_event("door.synced", {"site_id": SITE, "door_id": "flat-1"})),
        json.dumps(cloud_event("key.delivered", {"site_id": SITE, "key_id": "no-such-key"})),
    ]
    result, ids = run_batch(world, [poisoned[0], good, *poisoned[1:]])
    assert {ids[f["itemIdentifier"]] for f in result["batchItemFailures"]} == set(poisoned)
    assert world.api("GET", f"/keys/{digital}").body["status"]["code"] == "deployed"


def test_a_late_duplicate_reload_does_not_complete_a_later_revocation(world: Stack) -> None:
    first = new_digital_key(world)
    run_batch(world, [json.dumps(cloud_event("key.delivered", {"site_id": SITE, "key_id": first}))])
    world.api("POST", f"/keys/{first}/revoke")
    reload = json.dumps(
        cloud_event("app.key_list_reloaded", {"site_id": SITE, "phone": PHONE}, event_id="r-1")
    )
    run_batch(world, [reload])
    assert world.api("GET", f"/keys/{first}").body["status"]["code"] == "revoked"

    second = new_digital_key(world)
    run_batch(
        world, [json.dumps(cloud_event("key.delivered", {"site_id": SITE, "key_id": second}))]
    )
    world.api("POST", f"/keys/{second}/revoke")
    # The same reload event again (a redelivery, or a replay from the DLQ): no effect.
    result, _ = run_batch(world, [reload])
    assert result["batchItemFailures"] == []
    assert world.api("GET", f"/keys/{second}").body["status"]["code"] == "revocation_pending"
    # The same event through POST /events is the same event: a duplicate there too.
    again = world.api("POST", "/events", json.loads(reload))
    assert again.body["duplicate"] is True
    assert world.api("GET", f"/keys/{second}").body["status"]["code"] == "revocation_pending"
    # A new reload completes it.
    fresh = cloud_event("app.key_list_reloaded", {"site_id": SITE, "phone": PHONE}, event_id="r-2")
    run_batch(world, [json.dumps(fresh)])
    assert world.api("GET", f"/keys/{second}").body["status"]["code"] == "revoked"


def test_a_failed_event_is_not_remembered(world: Stack) -> None:
    """An event that failed (unknown key) is applied when it is retried and can succeed."""
    event = cloud_event("door.synced", {"site_id": SITE, "door_id": "flat-1", "version": 1})
    result, _ = run_batch(world, [json.dumps(event)])
    assert len(result["batchItemFailures"]) == 1  # no version 1 yet
    world.api(
        "POST",
        "/access-media",
        {
            "holder_id": "h",
            "card_uid": "c",
            "door_ids": ["flat-1"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    )
    result, _ = run_batch(world, [json.dumps(event)])
    assert result["batchItemFailures"] == []
    assert world.api("GET", "/doors/flat-1").body["confirmed_version"] == 1


def _stored_version(stack: Stack, key_id: str) -> int:
    item = stack.dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"SITE#{SITE}"}, "sk": {"S": f"KEY#{key_id}"}}
    )["Item"]
    return int(item["version"]["N"])


def test_a_batchs_deliveries_go_through_the_pipeline_together(
    world: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key deliveries of one batch are one pipeline run; each event is remembered by its
    key (the same id twice in a batch is applied once, the whole batch again writes nothing)
    and fails alone (an unknown key)."""
    from keyworker.domain.key_service import KeyService

    runs: list[list[str]] = []
    original = KeyService.keys_delivered

    def spy(self: KeyService, deliveries: Any, *, actor: str) -> Any:
        runs.append([d.key_id for d in deliveries])
        return original(self, deliveries, actor=actor)

    monkeypatch.setattr(KeyService, "keys_delivered", spy)
    keys = [new_digital_key(world) for _ in range(7)]
    delivered = [
        json.dumps(cloud_event("key.delivered", {"site_id": SITE, "key_id": k}, event_id=f"d-{k}"))
        for k in keys
    ]
    unknown = json.dumps(cloud_event("key.delivered", {"site_id": SITE, "key_id": "no-such-key"}))
    reloaded = json.dumps(cloud_event("app.key_list_reloaded", {"site_id": SITE, "phone": PHONE}))
    bodies = [delivered[0], reloaded, *delivered[1:], unknown, delivered[3]]
    result, ids = run_batch(world, bodies)
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    # The unknown key fails alone; the second copy of an event is a duplicate of the first.
    assert [ids[f] for f in failed] == [unknown]
    assert len(runs) == 1
    assert sorted(runs[0]) == sorted([*keys, "no-such-key", keys[3]])
    for key_id in keys:
        assert world.api("GET", f"/keys/{key_id}").body["status"]["code"] == "deployed"
    trail = world.api("GET", f"/keys/{keys[3]}/history").body["events"]
    assert [e["action"] for e in trail].count("delivered") == 1

    versions = [_stored_version(world, k) for k in keys]
    result, ids = run_batch(world, delivered)
    assert result["batchItemFailures"] == []
    # Every event was a duplicate: no key was written again.
    assert [_stored_version(world, k) for k in keys] == versions


def test_a_late_duplicate_delivery_does_not_deliver_a_modified_key(world: Stack) -> None:
    """The key remembers the delivery events it took: a redelivered (or DLQ-replayed) copy
    of the first delivery's event, after a modification made the key wait for a new
    delivery, changes nothing; the new delivery's own event delivers it."""
    key_id = new_digital_key(world)
    first = json.dumps(
        cloud_event("key.delivered", {"site_id": SITE, "key_id": key_id}, event_id="d-1")
    )
    run_batch(world, [first])
    assert world.api("GET", f"/keys/{key_id}").body["status"]["code"] == "deployed"

    world.api("PATCH", f"/keys/{key_id}", {"door_ids": ["front", "flat-1"]})
    waiting = world.api("GET", f"/keys/{key_id}").body["status"]["code"]
    assert waiting == "deployment_pending"
    result, _ = run_batch(world, [first])
    assert result["batchItemFailures"] == []
    assert world.api("GET", f"/keys/{key_id}").body["status"]["code"] == waiting
    again = world.api("POST", "/events", json.loads(first))
    assert again.status == 200
    assert again.body["duplicate"] is True
    assert world.api("GET", f"/keys/{key_id}").body["status"]["code"] == waiting

    fresh = cloud_event("key.delivered", {"site_id": SITE, "key_id": key_id}, event_id="d-2")
    answer = world.api("POST", "/events", fresh)
    assert answer.body["duplicate"] is False
    assert answer.body["outcome"]["status"] == "deployed"


def test_a_delivered_key_remembers_a_second_event_and_only_the_latest_few(world: Stack) -> None:
    """An event for a key already delivered changes nothing visible but is remembered (its
    own late copy must change nothing after a modification either); a key keeps the
    latest ``DELIVERY_EVENTS_KEPT`` events."""
    from keyworker.domain.models import DELIVERY_EVENTS_KEPT

    key_id = new_digital_key(world)
    sent = [
        cloud_event("key.delivered", {"site_id": SITE, "key_id": key_id}, event_id=f"d-{n}")
        for n in range(DELIVERY_EVENTS_KEPT + 1)
    ]
    answers = [world.api("POST", "/events", event).body for event in sent]
    assert [a["duplicate"] for a in answers] == [False] * len(sent)
    trail = world.api("GET", f"/keys/{key_id}/history").body["events"]
    assert [e["action"] for e in trail].count("delivered") == 1
    item = world.dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"SITE#{SITE}"}, "sk": {"S": f"KEY#{key_id}"}}
    )["Item"]
    assert len(item["delivery_events"]["L"]) == DELIVERY_EVENTS_KEPT
    # The newest are kept: the second event's copy is a duplicate, the first's is not.
    assert world.api("POST", "/events", sent[-1]).body["duplicate"] is True
    assert world.api("POST", "/events", sent[1]).body["duplicate"] is True
    assert world.api("POST", "/events", sent[0]).body["duplicate"] is False
