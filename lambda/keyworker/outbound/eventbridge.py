"""Outbound events onto the site-independent EventBridge bus (``EventBus`` in the template), so
an operator routes them anywhere with rules (``docs/events.md`` has an example pattern).

One entry per CloudEvent: ``Source`` ``keyworker``, ``DetailType`` the event type, ``Detail``
the whole envelope. PutEvents takes 10 entries a call and may fail some of them (throttling,
internal errors): only those are sent again, under the project's one retry policy
(:class:`keyworker.adapters.dynamodb.client.Backoff`, full jitter); what still fails raises, so
the stream batch is retried (each event has a deterministic id: a rule's target that must not
act twice dedupes by ``detail.id``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keyworker.adapters.dynamodb.client import Backoff

logger = logging.getLogger(__name__)

SOURCE = "keyworker"
PUT_EVENTS_LIMIT = 10


class PublishFailed(RuntimeError):
    """Some events could not be put on the bus after every retry."""


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._bus = bus_name
        self._backoff = backoff or Backoff()

    def _entry(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": str(event["type"]),
            "Detail": json.dumps(event, separators=(",", ":"), sort_keys=True),
            "EventBusName": self._bus,
            "Resources": [],
        }

    def publish(self, events: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(events), PUT_EVENTS_LIMIT):
            self._put([self._entry(e) for e in events[start : start + PUT_EVENTS_LIMIT]])

    def _put(self, entries: list[dict[str, Any]]) -> None:
        pending = entries
        for attempt in range(self._backoff.attempts):
            try:
                response = self._client.put_events(Entries=pending)
            except (ClientError, BotoCoreError) as error:
                logger.warning("PutEvents failed", extra={"error": type(error).__name__})
                failed = pending
            else:
                results = response.get("Entries", [])
                failed = [
                    entry
                    for entry, result in zip(pending, results, strict=True)
                    if result.get("ErrorCode")
                ]
            if not failed:
                return
            pending = failed
            if attempt < self._backoff.attempts - 1:
                self._backoff.wait(attempt)
        raise PublishFailed(f"{len(pending)} events were not accepted by bus {self._bus}")
