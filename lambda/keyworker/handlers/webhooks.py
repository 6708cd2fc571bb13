"""The webhook delivery Lambda: delivery-queue batches (SQS, partial batch failures) → one
signed POST per message (``keyworker.outbound.webhooks.delivery``).

A receiver's failure is no batch item failure: the deliverer schedules the retry itself (a
new message with its ``not_before``). A message that fails here (malformed, the table
unavailable) is one: SQS retries it and, after ``maxReceiveCount``, moves it to the DLQ.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from keyworker.adapters import observability
from keyworker.adapters.observability import count, lambda_handler, log_keys, logger, traced
from keyworker.adapters.sqs_batch import ObservedSqsBatch
from keyworker.handlers import wiring
from keyworker.outbound.webhooks.model import DeliveryMessage

QUEUE = "webhooks"


def _deliver(record: SQSRecord) -> None:
    deps = wiring.webhooks()
    observability.set_correlation_id(record.message_id)
    message = DeliveryMessage.from_json(json.loads(record.body))
    with log_keys(webhook_id=message.webhook_id, attempt=message.attempt):
        outcome = deps.deliverer.handle(message)
        if outcome != "waiting":
            logger.info("webhook delivery", extra={"outcome": outcome})
        # WebhookDeliveries by outcome: delivered, retrying, failed, cancelled, waiting, ...
        count("WebhookDeliveries", outcome=outcome)


@lambda_handler()
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = wiring.webhooks()
    processor = ObservedSqsBatch(QUEUE, deps.max_receive_count)
    return dict(
        process_partial_response(
            event=event, record_handler=_deliver, processor=processor, context=context
        )
    )
