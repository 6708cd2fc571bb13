"""Against moto in server mode (real SQS redrive): a poisoned job is retried, then SQS moves it
to the jobs DLQ after maxReceiveCount receives, while its neighbours in the same batches are
processed once. The worker runs as Lambda's event source mapping would run it (QueuePoller)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from handler_harness import MAX_RECEIVE_COUNT, SITE, MobileAccessCloud, Stack, build_stack

from keyworker.handlers import wiring
from keyworker.local.emulator import Emulator, client_for, environment_for


@pytest.fixture
def server_stack(
    monkeypatch: pytest.MonkeyPatch, mobile_cloud: MobileAccessCloud
) -> Iterator[Stack]:
    emulator = Emulator()
    endpoint = emulator.start()
    try:
        for name, value in environment_for(endpoint).items():
            monkeypatch.setenv(name, value)
        stack = build_stack(
            client_for(endpoint, "dynamodb"),
            client_for(endpoint, "sqs"),
            client_for(endpoint, "secretsmanager"),
            mobile_cloud.url,  # type: ignore[attr-defined]
            mobile_cloud,
        )
        for name, value in stack.env.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        yield stack
    finally:
        wiring.reset()
        emulator.stop()


def deploy(card: str) -> dict[str, Any]:
    return {
        "job_id": f"job-{card}",
        "kind": "deploy_access_medium",
        "params": {
            "site_id": SITE,
            "holder_id": "h",
            "card_uid": card,
            "door_ids": ["flat-1"],
            "valid_from": "2026-01-05T00:00:00Z",
            "actor": "run:1",
        },
    }


@pytest.mark.slow
def test_poisoned_job_lands_in_the_dlq_and_neighbours_succeed(server_stack: Stack) -> None:
    stack = server_stack
    stack.door("flat-1")
    stack.queued(stack.jobs)
    poison = '{"job_id": "p", "kind": "deploy_access_medium", "params": {"site_id": 7}}'
    for body in (json.dumps(deploy("card-1")), poison, json.dumps(deploy("card-2"))):
        stack.sqs.send_message(QueueUrl=stack.jobs.url, MessageBody=body)

    poller = stack.poller(stack.jobs, "worker")
    for _ in range(5 * MAX_RECEIVE_COUNT):
        poller.poll_once()
        if stack.sqs.receive_message(QueueUrl=stack.jobs.dlq_url, VisibilityTimeout=0).get(
            "Messages"
        ):
            break

    dead = stack.sqs.receive_message(
        QueueUrl=stack.jobs.dlq_url, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in dead] == [poison]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= MAX_RECEIVE_COUNT
    assert poller.stats.succeeded == 2
    assert poller.stats.failed == MAX_RECEIVE_COUNT
    assert poller.stats.handler_errors == 0
    keys = stack.api("GET", "/keys").body["items"]
    assert sorted(k["status"]["code"] for k in keys) == ["door_update_pending"] * 2
    assert stack.sqs.receive_message(QueueUrl=stack.jobs.url).get("Messages") is None
