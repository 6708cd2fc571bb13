"""What the HTTP API does with webhooks: subscriptions, their secrets, the delivery log, the
test event and a delivery retried by hand."""

from __future__ import annotations

import datetime as dt
import secrets as random_ids
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keyworker.errors import InvalidInput, NotFound
from keyworker.outbound.webhooks.model import (
    MAX_SUBSCRIPTIONS_PER_SITE,
    TEST_EVENT_TYPE,
    DeliveryMessage,
    Subscription,
    delivery_id,
    split_delivery_id,
    validate_filters,
    webhook_id,
)
from keyworker.outbound.webhooks.queue import SqsDeliveryQueue
from keyworker.outbound.webhooks.secrets import SecretsManagerWebhookSecrets
from keyworker.outbound.webhooks.store import LogEntry, WebhookStore
from keyworker.outbound.webhooks.urls import UrlPolicy


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def entry_view(entry: LogEntry) -> dict[str, Any]:
    return {
        "delivery_id": entry.delivery_id,
        "webhook_id": entry.webhook_id,
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "attempt": entry.attempt,
        "at": _iso(entry.at),
        "outcome": entry.outcome,
        "status_code": entry.status_code,
        "error": entry.error,
        "latency_ms": entry.latency_ms,
        "next_attempt_at": None if entry.next_attempt_at is None else _iso(entry.next_attempt_at),
    }


@dataclass(frozen=True, slots=True)
class Created:
    subscription: Subscription
    secret: str


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        secrets: SecretsManagerWebhookSecrets,
        queue: SqsDeliveryQueue,
        policy: UrlPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._queue = queue
        self._policy = policy
        self._clock = clock

    def create(
        self, site_id: str, url: str, event_types: Sequence[str] | None, description: str | None
    ) -> Created:
        filters = validate_filters(event_types or ())
        self._policy.addresses(url)
        if len(self._store.list_subscriptions(site_id)) >= MAX_SUBSCRIPTIONS_PER_SITE:
            raise InvalidInput(
                f"a site has at most {MAX_SUBSCRIPTIONS_PER_SITE} webhook subscriptions",
                field="url",
            )
        subscription = Subscription(
            site_id=site_id,
            subscription_id="wh_" + random_ids.token_hex(10),
            url=url,
            event_types=filters,
            description=description,
            created_at=_iso(self._clock()),
        )
        # The secret first: a subscription never exists without one.
        secret = self._secrets.create(site_id, subscription.subscription_id)
        self._store.put_subscription(subscription)
        return Created(subscription, secret)

    def get(self, site_id: str, subscription_id: str) -> Subscription:
        found = self._store.get_subscription(site_id, subscription_id)
        if found is None:
            raise NotFound(f"no webhook {subscription_id} at this site", field="webhook_id")
        return found

    def subscriptions(self, site_id: str) -> list[Subscription]:
        return sorted(self._store.list_subscriptions(site_id), key=lambda s: s.created_at)

    def delete(self, site_id: str, subscription_id: str) -> None:
        if not self._store.delete_subscription(site_id, subscription_id):
            raise NotFound(f"no webhook {subscription_id} at this site", field="webhook_id")
        self._secrets.delete(site_id, subscription_id)

    def rotate(self, site_id: str, subscription_id: str) -> tuple[str, str]:
        self.get(site_id, subscription_id)
        secret, until = self._secrets.rotate(site_id, subscription_id)
        return secret, _iso(until)

    def deliveries(
        self, site_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.get(site_id, subscription_id)
        entries, next_cursor = self._store.log_page(site_id, subscription_id, limit, cursor)
        return [entry_view(e) for e in entries], next_cursor

    def send_test(self, site_id: str, subscription_id: str) -> dict[str, str]:
        """A ``webhook.test`` event to this subscription, delivered like any other."""
        self.get(site_id, subscription_id)
        now = self._clock()
        sequence = f"{int(now * 1000):020d}"
        subject = f"webhooks/{subscription_id}"
        event_id = f"{subject}/{sequence}"
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": event_id,
            "source": f"keyworker/sites/{site_id}",
            "type": TEST_EVENT_TYPE,
            "subject": subject,
            "time": _iso(now),
            "datacontenttype": "application/json",
            "sequence": sequence,
            "siteid": site_id,
            "data": {"message": "a test event from keyworker", "webhook_id": subscription_id},
        }
        self._store.open_delivery(site_id, subscription_id, event)
        self._queue.send(DeliveryMessage(site_id, subscription_id, event))
        return {
            "delivery_id": delivery_id(subscription_id, event_id),
            "webhook_id": webhook_id(subscription_id, event_id),
            "event_id": event_id,
        }

    def retry(self, site_id: str, delivery: str) -> dict[str, str]:
        """A delivery sent again from its first attempt (after it failed, or to resend)."""
        subscription_id, digest = split_delivery_id(delivery)
        self.get(site_id, subscription_id)
        found = self._store.reopen(site_id, subscription_id, digest)
        if found is None:
            raise NotFound(f"no delivery {delivery} at this site", field="delivery_id")
        self._queue.send(DeliveryMessage(site_id, subscription_id, found.event))
        return {
            "delivery_id": delivery,
            "webhook_id": webhook_id(subscription_id, str(found.event["id"])),
            "event_id": str(found.event["id"]),
        }
