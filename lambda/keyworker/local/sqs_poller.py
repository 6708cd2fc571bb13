"""What a Lambda event source mapping does for an SQS queue, against any SQS endpoint.

Receives batches, builds the SQS event a Lambda function gets, calls the handler and deletes
exactly the messages the function did not report in ``batchItemFailures``. A failed message
stays in the queue, becomes visible again after the queue's visibility timeout, and SQS itself
moves it to the dead-letter queue once its receive count passes the redrive policy's
``maxReceiveCount`` (the emulator does this in server mode, as SQS does).

On AWS a batch is never redelivered while its invocation runs: the queue's visibility timeout
is sized above the function's timeout. The local stack shortens the visibility timeout to a
few seconds (so a failed message is retried in seconds) and has no function timeout, so a
poller given ``visibility_timeout`` keeps the batch it is processing invisible until the
handler returns (``ChangeMessageVisibilityBatch`` every half timeout) — without it, a batch
that takes longer than the timeout under load is handed to a second poller and processed
twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from keyworker.local.apigw import LambdaContext

LambdaHandler = Callable[[dict[str, Any], Any], Mapping[str, Any] | None]

logger = logging.getLogger(__name__)


@dataclass
class PollerStats:
    batches: int = 0
    succeeded: int = 0
    failed: int = 0
    handler_errors: int = 0


@dataclass
class QueuePoller:
    """Polls one queue and feeds its messages to one handler, like an event source mapping."""

    sqs: Any  # a boto3 SQS client
    queue_url: str
    queue_arn: str
    handler: LambdaHandler
    function_name: str
    batch_size: int = 10
    wait_seconds: int = 1
    #: With short polling (``wait_seconds`` 0), how long an empty receive waits before the next
    #: one, so an idle poller never spins and starves the handlers of the GIL.
    idle_seconds: float = 0.05
    #: The queue's visibility timeout, when it is shorter than a batch may take: the batch is
    #: kept invisible while the handler runs (see the module's docstring).
    visibility_timeout: int | None = None
    stats: PollerStats = field(default_factory=PollerStats)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10:
            raise ValueError(
                "batch_size must be 1..10 for an SQS event source without batching window"
            )

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"poll-{self.function_name}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the current receive, without waiting (see ``stop``)."""
        self._stop.set()

    def stop(self) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=self.wait_seconds + 30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.poll_once() == 0 and self.wait_seconds == 0:
                    self._stop.wait(self.idle_seconds)
            except Exception:
                # The emulator going away on shutdown, or a transient error: keep polling as an
                # event source mapping does, but never spin.
                if self._stop.is_set():
                    return
                logger.exception("polling %s failed", self.function_name)
                self._stop.wait(1.0)

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many messages it received."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        self.stats.batches += 1
        event = {"Records": [self._record(m) for m in messages]}
        stop_keeping = self._keep_invisible(messages)
        try:
            failed_ids = self._invoke(event, messages)
        finally:
            stop_keeping()
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        self.stats.succeeded += len(done)
        self.stats.failed += len(messages) - len(done)
        return len(messages)

    def _keep_invisible(self, messages: list[dict[str, Any]]) -> Callable[[], None]:
        """Extend the batch's visibility every half timeout until the returned function is
        called (nothing without ``visibility_timeout``)."""
        timeout = self.visibility_timeout
        if not timeout:
            return lambda: None
        done = threading.Event()
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": timeout}
            for i, m in enumerate(messages)
        ]

        def keep() -> None:
            while not done.wait(timeout / 2):
                try:
                    self.sqs.change_message_visibility_batch(
                        QueueUrl=self.queue_url, Entries=entries
                    )
                except Exception:
                    # At worst the batch is redelivered, as it would be without this.
                    logger.warning("could not extend a batch's visibility", exc_info=True)

        threading.Thread(target=keep, name=f"keep-{self.function_name}", daemon=True).start()
        return done.set

    def _invoke(self, event: dict[str, Any], messages: list[dict[str, Any]]) -> set[str]:
        """Message ids to leave in the queue, by Lambda's rules for ReportBatchItemFailures."""
        all_ids = {m["MessageId"] for m in messages}
        try:
            result = self.handler(event, LambdaContext(self.function_name))
        except Exception:
            # A function error fails the whole batch.
            self.stats.handler_errors += 1
            logger.exception("%s failed on a batch of %d", self.function_name, len(messages))
            return all_ids
        failures = (result or {}).get("batchItemFailures") or []
        failed = {str(f.get("itemIdentifier")) for f in failures}
        if not failed <= all_ids or any(not f.get("itemIdentifier") for f in failures):
            # An identifier that is empty or not in the batch: Lambda treats the batch as failed.
            return all_ids
        return failed

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", "0"),
                "SenderId": attributes.get("SenderId", "000000000000"),
                "ApproximateFirstReceiveTimestamp": attributes.get(
                    "ApproximateFirstReceiveTimestamp", "0"
                ),
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.get("DataType", "String"),
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.queue_arn.split(":")[3]
            if self.queue_arn.count(":") >= 5
            else "us-east-1",
        }
