"""The events Lambda: events-queue batches of CloudEvents (door.synced, key.delivered,
app.key_list_reloaded) → ``keyworker.feedback``, once per event id.

A malformed event or an unknown type is a batch item failure (it ends in the events DLQ after
``maxReceiveCount`` receives); the rest of the batch succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from keyworker.adapters.observability import lambda_handler, logger, set_correlation_id, traced
from keyworker.adapters.sqs_batch import ObservedSqsBatch
from keyworker.handlers import wiring

if TYPE_CHECKING:
    from keyworker.feedback import Deliveries

QUEUE = "events"
#: Field events are independent of each other (every service is safe under concurrent calls,
#: as concurrent invocations already make them) and their time is spent waiting on DynamoDB:
#: a batch's records are applied this many at a time (or more: all its key deliveries at once).
RECORDS_AT_ONCE = 4


def _applier(deliveries: Deliveries) -> Callable[[SQSRecord], None]:
    def apply(record: SQSRecord) -> None:
        set_correlation_id(record.message_id)
        applied = wiring.events().feedback.apply(record.body, deliveries)
        set_correlation_id(applied.event_id)
        logger.info(
            "duplicate event ignored" if applied.duplicate else "event applied",
            extra={
                "event_id": applied.event_id,
                "event_type": applied.type,
                # What it was about (ids only), to follow a key or door through the log.
                **{k: applied.outcome[k] for k in ("key_id", "door_id") if k in applied.outcome},
            },
        )

    return apply


@lambda_handler()
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = wiring.events()
    deps.feedback.dedupe.register_lambda_context(context)
    # The batch's key deliveries go through the pipeline together (feedback.Deliveries),
    # which needs all of them applied at the same time.
    deliveries = deps.feedback.deliveries([r["body"] for r in event.get("Records", [])])
    at_once = max(RECORDS_AT_ONCE, deliveries.expected)
    processor = ObservedSqsBatch(QUEUE, deps.max_receive_count, records_at_once=at_once)
    return dict(
        process_partial_response(
            event=event, record_handler=_applier(deliveries), processor=processor, context=context
        )
    )
