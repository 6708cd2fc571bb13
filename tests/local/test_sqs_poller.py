"""The local event source mapping against the emulator's real SQS semantics."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from keyworker.local.emulator import Emulator
from keyworker.local.sqs_poller import QueuePoller


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    emulator = Emulator()
    emulator.start()
    yield emulator.client("sqs")
    emulator.stop()


def _queue_pair(sqs: Any, name: str, max_receive_count: int = 2) -> tuple[str, str, str]:
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn, dlq_url


def _drain(poller: QueuePoller, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        poller.poll_once()


def test_poisoned_message_reaches_the_dlq_while_its_neighbours_succeed(sqs: Any) -> None:
    url, arn, dlq_url = _queue_pair(sqs, "events-poison")
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            assert record["eventSource"] == "aws:sqs"
            body = json.loads(record["body"])
            if body.get("poison"):
                failures.append({"itemIdentifier": record["messageId"]})
            else:
                seen.append(body["n"])
        return {"batchItemFailures": failures}

    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"poison": True}))
    poller = QueuePoller(sqs, url, arn, handler, "events", batch_size=10, wait_seconds=1)
    _drain(poller, 4.5)

    assert sorted(seen) == [0, 1, 2, 3, 4]  # each good message processed exactly once
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)[
        "Messages"
    ]
    assert [json.loads(m["Body"]) for m in dead] == [{"poison": True}]
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    assert left["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_handler_exception_fails_the_whole_batch_and_it_is_retried(sqs: Any) -> None:
    url, arn, dlq_url = _queue_pair(sqs, "jobs-crash", max_receive_count=3)
    calls: list[int] = []

    def flaky(event: dict[str, Any], context: Any) -> None:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("worker died mid-batch")

    sqs.send_message(QueueUrl=url, MessageBody="{}")
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    poller = QueuePoller(sqs, url, arn, flaky, "worker", batch_size=10, wait_seconds=1)
    _drain(poller, 3.5)
    assert sum(calls) >= 4  # both messages seen again after the crash
    assert poller.stats.handler_errors == 1
    assert poller.stats.succeeded == 2
    dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", [])
    assert dead == []


def test_unknown_item_identifier_fails_the_batch(sqs: Any) -> None:
    url, arn, _ = _queue_pair(sqs, "jobs-bad-ids")
    sqs.send_message(QueueUrl=url, MessageBody="{}")

    def liar(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}

    poller = QueuePoller(sqs, url, arn, liar, "worker", batch_size=1, wait_seconds=0)
    assert poller.poll_once() == 1
    assert poller.stats.failed == 1
    assert poller.stats.succeeded == 0


def test_batch_size_is_limited_like_an_sqs_event_source(sqs: Any) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        QueuePoller(sqs, "u", "a", lambda e, c: None, "f", batch_size=11)


def test_an_idle_short_polling_poller_waits_between_empty_receives(sqs: Any) -> None:
    """With ``wait_seconds`` 0 an empty queue must not turn the poller into a busy loop that
    starves every other thread of the GIL (it once stalled a test for minutes)."""
    url, arn, _ = _queue_pair(sqs, "idle-short-poll")
    receives = 0
    real_receive = sqs.receive_message

    class CountingSqs:
        def receive_message(self, **kwargs: Any) -> Any:
            nonlocal receives
            receives += 1
            return real_receive(**kwargs)

    poller = QueuePoller(
        CountingSqs(), url, arn, lambda e, c: None, "idle", wait_seconds=0, idle_seconds=0.1
    )
    poller.start()
    time.sleep(1.0)
    poller.stop()
    assert 3 <= receives <= 15


def test_a_batch_is_not_redelivered_while_its_handler_runs(sqs: Any) -> None:
    # Visibility 1 s, a handler that takes 2.5 s: without the poller keeping the batch
    # invisible, a second poller would get the same message while the first still works on it.
    url, arn, dlq_url = _queue_pair(sqs, "events-slow")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
    seen_meanwhile: list[int] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
            seen_meanwhile.extend(json.loads(m["Body"])["n"] for m in got)
            time.sleep(0.2)
        return {"batchItemFailures": []}

    poller = QueuePoller(sqs, url, arn, slow, "events", wait_seconds=1, visibility_timeout=1)
    assert poller.poll_once() == 1
    assert seen_meanwhile == []
    assert poller.stats.succeeded == 1
    time.sleep(1.2)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    assert sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", []) == []


def test_without_keeping_it_invisible_a_slow_batch_is_redelivered(sqs: Any) -> None:
    # The same slow handler on a poller that does not keep the batch: the message comes back
    # while it is being processed (what the test above guards against).
    url, arn, _ = _queue_pair(sqs, "events-slow-plain", max_receive_count=5)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
    seen_meanwhile: list[int] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline and not seen_meanwhile:
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
            seen_meanwhile.extend(json.loads(m["Body"])["n"] for m in got)
            time.sleep(0.2)
        return {"batchItemFailures": []}

    poller = QueuePoller(sqs, url, arn, slow, "events", wait_seconds=1)
    assert poller.poll_once() == 1
    assert seen_meanwhile == [1]
