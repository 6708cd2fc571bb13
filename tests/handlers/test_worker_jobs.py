"""The worker Lambda on SQS batches: every job kind, partial batch failures for poisoned
messages (the neighbours succeed), retries of the mobile-access cloud, dedupe of commands."""

from __future__ import annotations

import json
from typing import Any

import pytest
from handler_harness import PHONE, SITE, Stack, sqs_event

from keyworker.handlers import worker
from keyworker.local.apigw import LambdaContext


def job(kind: str, params: dict[str, Any], job_id: str | None = None) -> str:
    return json.dumps({"job_id": job_id or f"{kind}-1", "kind": kind, "params": params})


def run_batch(stack: Stack, bodies: list[str], receive_count: int = 1) -> tuple[dict, dict]:
    event = sqs_event(bodies, arn=stack.jobs.arn, receive_count=receive_count)
    result = worker.handler(event, LambdaContext("keyworker-worker"))
    ids = {r["messageId"]: r["body"] for r in event["Records"]}
    return result, ids


@pytest.fixture
def world(stack: Stack) -> Stack:
    stack.door("front", connectivity="online", kind="common")
    stack.door("flat-1", connectivity="offline")
    stack.queued(stack.jobs)
    return stack


def deploy_medium(card: str = "card-1", door_ids: tuple[str, ...] = ("front",)) -> dict[str, Any]:
    return {
        "site_id": SITE,
        "holder_id": "holder-1",
        "card_uid": card,
        "door_ids": list(door_ids),
        "valid_from": "2026-01-05T00:00:00Z",
        "actor": "run:r1",
    }


def test_poisoned_messages_fail_alone(world: Stack) -> None:
    good = [
        job("deploy_access_medium", deploy_medium("card-1"), "job-a"),
        job("deploy_access_medium", deploy_medium("card-2"), "job-b"),
    ]
    poisoned = [
        "{not json",
        json.dumps({"job_id": "x", "kind": "launch_rocket", "params": {}}),
        job("deploy_access_medium", {**deploy_medium(), "door_ids": "front"}, "job-c"),
        job("revoke_key", {"site_id": SITE, "key_id": "nope", "actor": "a"}, "job-d"),
    ]
    result, ids = run_batch(world, [good[0], *poisoned, good[1]])
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert {ids[i] for i in failed} == set(poisoned)
    keys = world.api("GET", "/keys").body["items"]
    assert len(keys) == 2
    # The created keys' online door got its update from the worker directly.
    commands = world.queued(world.door_commands)
    assert {c["door_id"] for c in commands} == {"front"}
    assert max(c["version"] for c in commands) == 2


def test_a_batch_of_only_poison_reports_every_item(world: Stack) -> None:
    result, ids = run_batch(world, ["{", "[]"])
    assert {ids[f["itemIdentifier"]] for f in result["batchItemFailures"]} == {"{", "[]"}


def test_deploy_job_is_idempotent_per_job_id(world: Stack) -> None:
    body = job("deploy_access_medium", deploy_medium(), "job-same")
    run_batch(world, [body])
    run_batch(world, [body])
    assert len(world.api("GET", "/keys").body["items"]) == 1


def test_sync_door_job_sends_the_update_once_per_pending_version(world: Stack) -> None:
    key = world.api(
        "POST",
        "/access-media",
        {
            "holder_id": "h",
            "card_uid": "c",
            "door_ids": ["front", "flat-1"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    ).body
    [sync] = world.queued(world.jobs)
    assert sync["kind"] == "sync_door"
    run_batch(world, [json.dumps(sync)])
    [command] = world.queued(world.door_commands)
    assert command["door_id"] == "front"
    assert (command["from_version"], command["version"]) == (0, 1)
    assert command["payload"]
    # Once the door confirmed, a repeated sync job sends nothing; offline doors never get one.
    world.api("POST", "/doors/front/sync", {"version": 1})
    offline = {"site_id": SITE, "door_id": "flat-1", "version": 1}
    result, _ = run_batch(world, [json.dumps(sync), job("sync_door", offline)])
    assert result["batchItemFailures"] == []
    assert world.queued(world.door_commands) == []
    assert key["key_id"]


def test_mobile_access_retries_transient_failures(world: Stack) -> None:
    world.mobile.script = [503, 502]
    key_id = world.api(
        "POST",
        "/digital-keys",
        {
            "holder_id": "h",
            "phone": PHONE,
            "door_ids": ["front"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    ).body["key_id"]
    [deliver] = world.queued(world.jobs)
    result, _ = run_batch(world, [json.dumps(deliver)])
    assert result["batchItemFailures"] == []
    assert [m for m, *_ in world.mobile.requests] == ["PUT", "PUT", "PUT"]
    assert {h["idempotency-key"] for *_, h in world.mobile.requests} == {f"deliver:{key_id}"}


def test_mobile_access_failures_fail_the_message(world: Stack) -> None:
    world.api(
        "POST",
        "/digital-keys",
        {
            "holder_id": "h",
            "phone": PHONE,
            "door_ids": ["front"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    )
    [deliver] = world.queued(world.jobs)
    world.mobile.script = [400]
    result, _ = run_batch(world, [json.dumps(deliver)])
    assert len(result["batchItemFailures"]) == 1
    world.mobile.script = [503] * 10
    result, _ = run_batch(world, [json.dumps(deliver)])
    assert len(result["batchItemFailures"]) == 1
    world.mobile.script = []
    result, _ = run_batch(world, [json.dumps(deliver)])
    assert result["batchItemFailures"] == []


def test_delivery_job_skips_a_key_revoked_meanwhile(world: Stack) -> None:
    key_id = world.api(
        "POST",
        "/digital-keys",
        {
            "holder_id": "h",
            "phone": PHONE,
            "door_ids": ["front"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    ).body["key_id"]
    [deliver] = world.queued(world.jobs)
    world.api("POST", f"/keys/{key_id}/revoke")
    world.queued(world.jobs)
    run_batch(world, [json.dumps(deliver)])
    assert world.mobile.delivered() == []


def test_a_late_duplicate_block_job_does_not_undo_the_unblock(world: Stack) -> None:
    key_id = world.api(
        "POST",
        "/digital-keys",
        {
            "holder_id": "h",
            "phone": PHONE,
            "door_ids": ["front"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    ).body["key_id"]
    world.run_jobs()
    world.api(
        "POST",
        "/events",
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "mobile",
            "type": "key.delivered",
            "data": {"site_id": SITE, "key_id": key_id},
        },
    )
    phone = {"site_id": SITE, "phone": PHONE, "actor": "ops"}
    block = job("block_phone", phone, "block-1")
    run_batch(world, [block])
    run_batch(world, [job("unblock_phone", phone, "unblock-1")])
    run_batch(world, [block])  # redelivered late
    key = world.api("GET", f"/keys/{key_id}").body
    assert key["home_status"]["code"] == "always"
    assert key["doors"][0]["status"]["code"] == "unblocking_pending"
