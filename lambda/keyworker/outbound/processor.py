"""The stream function's work: a batch of the table's stream records → CloudEvents → the
feed, the EventBridge bus, the webhook subscriptions (in that order).

Every step is idempotent, so the stream's at-least-once delivery is the whole recovery story:
a crash (or an error) at any point fails the batch, the stream delivers it again, the same
records give the same events (same ids), the feed stores only the ones it lacks, and the bus
and the webhook fan-out get them all again (their consumers dedupe by id; webhook deliveries
by ``webhook-id``).

A record that cannot be translated (a bug, never bad user input: the items were written by
keyworker) is reported as the batch's first failure: the records before it are done, Lambda
retries from it, and after ``MaximumRetryAttempts`` its batch goes to the on-failure
destination instead of blocking the shard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from keyworker.domain.ports import WebhookFanout
from keyworker.outbound.translate import Change, Translator, UntranslatableRecord

logger = logging.getLogger(__name__)


class EventFeed(Protocol):
    def append(self, events: Sequence[Mapping[str, Any]]) -> int: ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[Mapping[str, Any]]) -> None: ...


class NoWebhooks:
    """The fan-out until webhook subscriptions are wired in (``handlers/wiring.py``)."""

    def fan_out(self, site_id: str, events: Sequence[Mapping[str, Any]]) -> None:
        return None


@dataclass
class BatchResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    stored: int = 0
    #: The stream sequence number Lambda must resume from (None: the whole batch is done).
    failed_at: str | None = None


class StreamProcessor:
    def __init__(
        self,
        translator: Translator,
        feed: EventFeed,
        publisher: EventPublisher,
        webhooks: WebhookFanout,
    ) -> None:
        self._translator = translator
        self._feed = feed
        self._publisher = publisher
        self._webhooks = webhooks

    def process(self, records: Sequence[Mapping[str, Any]]) -> BatchResult:
        result = BatchResult()
        changes = [Change.of_record(record) for record in records]
        doors = self._translator.read_doors(self._translator.doors_needed(changes))
        for change in changes:
            try:
                result.events.extend(self._translator.translate(change, doors))
            except UntranslatableRecord:
                logger.exception("stream record not translatable")
                result.failed_at = change.sequence_number
                break
        if not result.events:
            return result
        result.stored = self._feed.append(result.events)
        self._publisher.publish(result.events)
        by_site: dict[str, list[dict[str, Any]]] = {}
        for event in result.events:  # stream order: per subject, sequence order
            by_site.setdefault(str(event["siteid"]), []).append(event)
        for site_id, events in by_site.items():
            self._webhooks.fan_out(site_id, events)
        return result
