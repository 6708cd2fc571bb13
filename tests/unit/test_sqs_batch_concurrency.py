"""``ObservedSqsBatch`` with ``records_at_once``: the records of a batch run concurrently and
each keeps its own outcome (the events function applies field events 4 at a time)."""

from __future__ import annotations

import threading
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from keyworker.adapters.observability import logger, set_correlation_id
from keyworker.adapters.sqs_batch import ObservedSqsBatch


def _event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{n}",
                "receiptHandle": f"r{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:events",
            }
            for n, body in enumerate(bodies)
        ]
    }


def test_records_run_at_once_and_keep_their_own_outcomes() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    seen_keys: list[Any] = []

    def apply(record: SQSRecord) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        seen_keys.append(logger.thread_safe_get_current_keys().get("invocation"))
        time.sleep(0.2)
        with lock:
            running -= 1
        if record.body == "poison":
            raise ValueError("bad event")

    bodies = ["a", "poison", "b", "c", "d", "poison", "e", "f"]
    set_correlation_id(None)
    logger.thread_safe_append_keys(invocation="inv-1")
    try:
        started = time.monotonic()
        result = process_partial_response(
            event=_event(bodies),
            record_handler=apply,
            processor=ObservedSqsBatch("events", 5, records_at_once=4),
            context=None,
        )
        took = time.monotonic() - started
    finally:
        logger.thread_safe_clear_keys()
    # Exactly the two poisoned messages fail; the others succeed.
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m1", "m5"]
    assert most == 4
    assert took < 8 * 0.2 * 0.75  # one by one would take 1.6 s
    # The invocation's log keys reach every record's thread.
    assert seen_keys == ["inv-1"] * len(bodies)


def test_one_at_a_time_by_default() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def apply(record: SQSRecord) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    result = process_partial_response(
        event=_event(["a", "b", "c"]),
        record_handler=apply,
        processor=ObservedSqsBatch("events", 5),
        context=None,
    )
    assert result["batchItemFailures"] == []
    assert most == 1
