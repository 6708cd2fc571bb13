"""The composition root's configuration errors and the adapters' failure paths: the jobs
queue, the mobile-access client, the dedupe of a message still in progress."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from handler_harness import PHONE, SITE, Stack, sqs_event
from urllib3.util.retry import Retry

from keyworker.adapters.mobile_access import HttpsMobileAccess
from keyworker.errors import (
    ConfigurationError,
    DuplicateInProgress,
    JobQueueUnavailable,
    MobileAccessRejected,
    MobileAccessUnavailable,
    StoreUnavailable,
)
from keyworker.handlers import wiring, worker
from keyworker.handlers.wiring import Settings
from keyworker.jobs import Job, SqsJobQueue
from keyworker.local.apigw import LambdaContext


def test_settings_name_the_missing_or_bad_variable() -> None:
    with pytest.raises(ConfigurationError, match="TABLE_NAME"):
        Settings.from_env({"PHONE_HASH_SECRET_ID": "x"})
    with pytest.raises(ConfigurationError, match="MAX_RECEIVE_COUNT"):
        Settings.from_env(
            {"TABLE_NAME": "t", "PHONE_HASH_SECRET_ID": "x", "MAX_RECEIVE_COUNT": "0"}
        )
    settings = Settings.from_env({"TABLE_NAME": "t", "PHONE_HASH_SECRET_ID": "x"})
    assert settings.max_receive_count == 5
    assert settings.keys_secret_prefix == "keyworker"
    with pytest.raises(ConfigurationError, match="JOBS_QUEUE_URL"):
        settings.need(settings.jobs_queue_url, "JOBS_QUEUE_URL")


def test_a_root_without_its_queue_fails_clearly(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOOR_COMMANDS_QUEUE_URL")
    wiring.reset()
    with pytest.raises(ConfigurationError, match="DOOR_COMMANDS_QUEUE_URL"):
        wiring.worker()


def test_roots_are_built_once_per_container(stack: Stack) -> None:
    assert wiring.api() is wiring.api()
    assert wiring.worker() is wiring.worker()


def test_jobs_queue_failure_is_typed(stack: Stack) -> None:
    queue = SqsJobQueue(stack.sqs, stack.jobs.url + "-missing")
    with pytest.raises(JobQueueUnavailable):
        queue.put(Job(job_id="j", kind="sync_door", params={}))


def test_many_jobs_go_in_batches_of_ten_and_all_arrive(stack: Stack) -> None:
    queue = SqsJobQueue(stack.sqs, stack.jobs.url)
    jobs = [Job(job_id=f"j{n}", kind="sync_door", params={"n": n}) for n in range(25)]
    queue.put_many(jobs)
    assert sorted(j["job_id"] for j in stack.queued(stack.jobs)) == sorted(j.job_id for j in jobs)
    with pytest.raises(JobQueueUnavailable):
        SqsJobQueue(stack.sqs, stack.jobs.url + "-missing").put_many(jobs)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mobile_access_unreachable_and_rejecting() -> None:
    quick = Retry(total=1, backoff_factor=0, raise_on_status=False)
    client = HttpsMobileAccess(f"http://127.0.0.1:{_closed_port()}", retry=quick)
    with pytest.raises(MobileAccessUnavailable):
        client.deliver(SITE, "k1", "+41791234567", b"credential")


def test_mobile_access_paths_are_quoted_and_4xx_rejected(stack: Stack) -> None:
    client = HttpsMobileAccess(stack.mobile.url, token=lambda: "tok")  # type: ignore[attr-defined]
    stack.mobile.script = [404]
    client.revoke(SITE, "k/1", "+41791234567")  # already gone: fine
    stack.mobile.script = [409]
    with pytest.raises(MobileAccessRejected):
        client.deliver(SITE, "k/1", "+41791234567", b"\x00\x01")
    method, path, body, headers = stack.mobile.requests[-1]
    assert (method, path) == ("PUT", f"/v1/sites/{SITE}/keys/k%2F1")
    assert headers["authorization"] == "Bearer tok"
    assert body == {"phone": "+41791234567", "credential": "AAE"}


def test_store_unavailable_is_503(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyworker.adapters.dynamodb import DynamoStore

    def throttled(*_: Any, **__: Any) -> Any:
        raise StoreUnavailable("throttled")

    monkeypatch.setattr(DynamoStore, "get_door", throttled)
    response = stack.api("GET", "/doors/front")
    assert response.status == 503
    assert response.headers["Retry-After"]


def test_a_message_still_in_progress_is_retried_later(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyworker.adapters.dedupe import DynamoDeduplicator

    def busy(self: Any, message_id: str, action: Any) -> Any:
        raise DuplicateInProgress(f"{message_id} is being processed")

    monkeypatch.setattr(DynamoDeduplicator, "run", busy)
    body = json.dumps(
        {
            "job_id": "block-1",
            "kind": "block_phone",
            "params": {"site_id": SITE, "phone": PHONE, "actor": "ops"},
        }
    )
    result = worker.handler(sqs_event([body], arn=stack.jobs.arn), LambdaContext("w"))
    assert len(result["batchItemFailures"]) == 1
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "s",
        "type": "door.synced",
        "data": {"site_id": SITE, "door_id": "d", "version": 1},
    }
    response = stack.api("POST", "/events", event)
    assert response.status == 409
    assert response.body["type"] == "/problems/duplicate-in-progress"


def test_a_door_that_comes_online_is_asked_to_sync(stack: Stack) -> None:
    stack.door("flat-1", connectivity="offline")
    stack.api(
        "POST",
        "/access-media",
        {
            "holder_id": "h",
            "card_uid": "c",
            "door_ids": ["flat-1"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    )
    assert stack.queued(stack.jobs) == []
    stack.door("flat-1", connectivity="online")
    [job] = stack.queued(stack.jobs)
    assert (job["kind"], job["params"]["version"]) == ("sync_door", 1)
    stack.drain(stack.jobs, "worker")
    stack.sqs.send_message(QueueUrl=stack.jobs.url, MessageBody=json.dumps(job))
    stack.run_jobs()
    [command] = stack.queued(stack.door_commands)
    assert command["door_id"] == "flat-1"
