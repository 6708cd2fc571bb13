"""Powertools' SQS batch processing with keyworker's logging and metrics of failed messages."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from keyworker.adapters.observability import count, error_fields, logger


class ObservedSqsBatch(BatchProcessor):
    """Powertools' SQS batch processor (partial batch failures) that logs and counts failed
    messages, and counts the ones SQS will move to the DLQ (this was their last receive)."""

    def __init__(self, queue: str, max_receive_count: int) -> None:
        # A batch whose every message failed is reported item by item too (not raised), so
        # the poisoned messages follow the same path to the DLQ as in a mixed batch.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._queue = queue
        self._max_receive_count = max_receive_count

    def failure_handler(self, record: SQSRecord, exception: Any) -> Any:
        error = exception[1]
        receives = int(record.attributes.approximate_receive_count or "1")
        last = receives >= self._max_receive_count
        logger.warning(
            "message failed" + ("; it goes to the DLQ" if last else "; it will be retried"),
            extra={"message_id": record.message_id, "receive_count": receives}
            | error_fields(error),
        )
        count("MessagesFailed", queue=self._queue)
        if last:
            count("MessagesDeadLettered", queue=self._queue)
        return super().failure_handler(record, exception)
