"""Powertools' SQS batch processing with keyworker's logging and metrics of failed messages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from keyworker.adapters.observability import count, error_fields, logger


class ObservedSqsBatch(BatchProcessor):
    """Powertools' SQS batch processor (partial batch failures) that logs and counts failed
    messages, and counts the ones SQS will move to the DLQ (this was their last receive)."""

    def __init__(self, queue: str, max_receive_count: int, *, records_at_once: int = 1) -> None:
        # A batch whose every message failed is reported item by item too (not raised), so
        # the poisoned messages follow the same path to the DLQ as in a mixed batch.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._queue = queue
        self._max_receive_count = max_receive_count
        self._records_at_once = max(1, records_at_once)

    def process(self) -> list[tuple[Any, ...]]:
        """The batch's records, ``records_at_once`` at a time: for a handler whose records are
        independent and whose time is spent waiting on DynamoDB, a batch takes about that
        many times less. Each record's outcome is its own, as when they run one by one (the
        lists of successes and failures take appends from several threads). Log keys of the
        invocation (function name, request id) are carried into each thread."""
        records = self.records
        if self._records_at_once == 1 or len(records) <= 1:
            return super().process()
        keys = logger.thread_safe_get_current_keys()

        def one(record: Any) -> tuple[Any, ...]:
            logger.thread_safe_append_keys(**keys)
            try:
                return self._process_record(record)
            finally:
                logger.thread_safe_clear_keys()

        with ThreadPoolExecutor(max_workers=min(self._records_at_once, len(records))) as pool:
            return list(pool.map(one, records))

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
