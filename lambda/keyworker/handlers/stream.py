"""The stream function: batches of the state table's DynamoDB stream (the outbox) → outbound
events in the site's feed, on the EventBridge bus and to webhook subscriptions
(``keyworker.outbound.processor``, ``docs/events.md``).

Answers in the ``ReportBatchItemFailures`` shape: an untranslatable record is reported (Lambda
resumes from it); any other error fails the whole batch (the mapping bisects it and retries;
every step is idempotent).
"""

from __future__ import annotations

from typing import Any

from keyworker.adapters.observability import lambda_handler, logger, traced
from keyworker.handlers import wiring


@lambda_handler()
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    result = wiring.stream().processor.process(records)
    logger.info(
        "stream batch processed",
        extra={"records": len(records), "events": len(result.events), "stored": result.stored},
    )
    failures = [] if result.failed_at is None else [{"itemIdentifier": result.failed_at}]
    return {"batchItemFailures": failures}
