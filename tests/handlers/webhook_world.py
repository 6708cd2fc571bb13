"""Webhook delivery under moto with an injected clock and jitter: the deliverer, the fan-out
and the API service built over the handler stack's table, queues and secrets."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handler_harness import SITE, TABLE, Stack

from keyworker.adapters.dynamodb.client import TableClient
from keyworker.outbound.webhooks.delivery import DeliverySettings, WebhookDeliverer
from keyworker.outbound.webhooks.fanout import SqsWebhookFanout
from keyworker.outbound.webhooks.model import DeliveryMessage
from keyworker.outbound.webhooks.queue import SqsDeliveryQueue
from keyworker.outbound.webhooks.secrets import SecretsManagerWebhookSecrets
from keyworker.outbound.webhooks.service import WebhookService
from keyworker.outbound.webhooks.store import WebhookStore
from keyworker.outbound.webhooks.urls import UrlPolicy


@dataclass
class Clock:
    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def key_event(
    key_id: str, sequence: int, event_type: str = "key.status_changed", site_id: str = SITE
) -> dict[str, Any]:
    """An outbound event in the envelope of contract A (OUTBOX builds the real ones)."""
    seq = f"{sequence:020d}"
    return {
        "specversion": "1.0",
        "id": f"keys/{key_id}/{seq}",
        "source": f"keyworker/sites/{site_id}",
        "type": event_type,
        "subject": f"keys/{key_id}",
        "time": "2026-11-29T18:00:00Z",
        "datacontenttype": "application/json",
        "sequence": seq,
        "siteid": site_id,
        "data": {"key_id": key_id, "action": "test", "n": sequence},
    }


class ImmediateQueue(SqsDeliveryQueue):
    """The delivery queue without SQS' delay: the message's ``not_before`` alone holds it
    back, against the test's clock (moto would hold it for real seconds)."""

    def send(self, message: DeliveryMessage, delay_seconds: int = 0) -> None:
        self.delays.append(delay_seconds)
        super().send(message, 0)

    @property
    def delays(self) -> list[int]:
        if not hasattr(self, "_delays"):
            self._delays: list[int] = []
        return self._delays


class World:
    def __init__(
        self, stack: Stack, settings: DeliverySettings | None = None, *, jitter: float = 0.0
    ) -> None:
        self.stack = stack
        self.clock = Clock()
        self.store = WebhookStore(TableClient(stack.dynamodb, TABLE), clock=self.clock)
        self.secrets = SecretsManagerWebhookSecrets(
            stack.secrets,
            prefix=stack.env["KEYS_SECRET_PREFIX"],
            cache_seconds=0,
            clock=self.clock,
        )
        self.queue = ImmediateQueue(stack.sqs, stack.webhook_deliveries.url)
        self.dlq = SqsDeliveryQueue(stack.sqs, stack.webhook_deliveries.dlq_url)
        self.policy = UrlPolicy(allow_loopback=True)
        self.service = WebhookService(
            self.store, self.secrets, self.queue, self.policy, clock=self.clock
        )
        self.fanout = SqsWebhookFanout(self.store, self.queue, cache_seconds=0)
        # Jitter is a fraction of each cap: 0 retries at once (tests need not wait).
        self.deliverer = WebhookDeliverer(
            self.store,
            self.secrets,
            self.queue,
            self.dlq,
            self.policy,
            settings=settings or DeliverySettings(timeout_seconds=1.0),
            clock=self.clock,
            uniform=lambda low, high: low + (high - low) * jitter,
        )
        self.outcomes: list[str] = []

    def run(self, rounds: int = 50) -> list[str]:
        """Handle queued messages, as the delivery function would, until the queue is empty
        or every message left waits (for the clock, an open breaker or an earlier event)."""
        sqs, url = self.stack.sqs, self.stack.webhook_deliveries.url
        waiting = 0
        for _ in range(rounds):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            messages = got.get("Messages", [])
            if not messages:
                break
            for message in messages:
                body = json.loads(message["Body"])
                outcome = self.deliverer.handle(DeliveryMessage.from_json(body))
                self.outcomes.append(outcome)
                waiting = waiting + 1 if outcome == "waiting" else 0
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if waiting >= 20:
                break
        return self.outcomes

    def queued(self) -> list[dict[str, Any]]:
        return self.stack.queued(self.stack.webhook_deliveries)

    def dead_letters(self) -> list[dict[str, Any]]:
        got = self.stack.sqs.receive_message(
            QueueUrl=self.stack.webhook_deliveries.dlq_url, MaxNumberOfMessages=10
        )
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def subscribe(
        self, url: str, types: list[str] | None = None, site_id: str = SITE
    ) -> tuple[str, str]:
        created = self.service.create(site_id, url, types, "test")
        return created.subscription.subscription_id, created.secret

    def log(self, subscription_id: str, site_id: str = SITE) -> list[Mapping[str, Any]]:
        items, _ = self.service.deliveries(site_id, subscription_id, 100, None)
        return items
