"""``WebhookFanout`` on SQS: a site's new outbound events to its subscriptions' deliveries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keyworker.outbound.webhooks.model import DeliveryMessage, Subscription, matches
from keyworker.outbound.webhooks.queue import SqsDeliveryQueue
from keyworker.outbound.webhooks.store import PENDING, WebhookStore

logger = logging.getLogger(__name__)

#: How long a container trusts the site's subscriptions it read: a new subscription gets
#: the events fanned out from this long after its creation on (a deleted one's deliveries
#: stop at delivery time anyway). Short: one Query per site and batch is cheap.
DEFAULT_CACHE_SECONDS = 1.0


class SqsWebhookFanout:
    """Reads the site's subscriptions (cached briefly), keeps the events each one asked for,
    records each (subscription, event) delivery as pending and puts one message per delivery
    on the delivery queue. Called again with the same events (the stream redelivers after a
    crash), it re-sends only deliveries still pending: their ``webhook-id`` is the same, so a
    receiver that got one already drops the copy."""

    def __init__(
        self,
        store: WebhookStore,
        queue: SqsDeliveryQueue,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._queue = queue
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[list[Subscription], float]] = {}
        self._lock = threading.Lock()

    def subscriptions(self, site_id: str) -> list[Subscription]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(site_id)
            if cached is not None and cached[1] > now:
                return cached[0]
        found = self._store.list_subscriptions(site_id)
        with self._lock:
            self._cache[site_id] = (found, now + self._cache_seconds)
        return found

    def fan_out(self, site_id: str, events: Sequence[Mapping[str, Any]]) -> None:
        subscriptions = self.subscriptions(site_id)
        if not subscriptions:
            return
        messages: list[DeliveryMessage] = []
        for event in events:
            if event.get("siteid") not in (None, site_id):
                # Never another site's event to this site's subscribers.
                logger.error(
                    "event of another site handed to fan-out; dropped",
                    extra={"site_id": site_id, "event_id": event.get("id")},
                )
                continue
            for sub in subscriptions:
                if not matches(sub.event_types, str(event.get("type", ""))):
                    continue
                # Every delivery is pending before any is sent, so a later event of a subject
                # finds the earlier one's marker and waits for it.
                if self._store.open_delivery(site_id, sub.subscription_id, event) == PENDING:
                    messages.append(DeliveryMessage(site_id, sub.subscription_id, event))
        self._queue.send_many(messages)
