"""The words of webhooks: subscriptions, event-type filters, deliveries and their ids."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keyworker.errors import InvalidInput
from keyworker.outbound.envelope import EVENT_TYPES

# The outbound event types a subscription may filter on are the outbound events' own
# (``keyworker.outbound.envelope``, contract A, ``docs/events.md``); ``TEST_EVENT_TYPE`` is the
# one keyworker sends on ``POST …/webhooks/{id}/test``.
TEST_EVENT_TYPE = "webhook.test"
_FAMILIES = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)
#: A filter: an event type, or ``<family>.*`` for every type of a family.
FILTER_PATTERN = r"^[a-z_]+\.(\*|[a-z_]+)$"
MAX_FILTERS = len(EVENT_TYPES)
MAX_SUBSCRIPTIONS_PER_SITE = 25
MAX_DESCRIPTION = 200
_SUB_ID = re.compile(r"^wh_[0-9a-f]{20}$")


def validate_filters(filters: Iterable[str]) -> tuple[str, ...]:
    """The filters in a stable order; an unknown type or family is :class:`InvalidInput`."""
    accepted: list[str] = []
    for value in filters:
        family, _, name = value.partition(".")
        if name == "*":
            if family not in _FAMILIES:
                raise InvalidInput(f"unknown event family {family!r}", field="event_types")
        elif value not in EVENT_TYPES:
            raise InvalidInput(
                f"unknown event type {value!r} (one of {', '.join(EVENT_TYPES)} or <family>.*)",
                field="event_types",
            )
        if value not in accepted:
            accepted.append(value)
    return tuple(sorted(accepted))


def matches(filters: Sequence[str], event_type: str) -> bool:
    """No filter: every type. The test event reaches a subscription whatever it filters."""
    if not filters or event_type == TEST_EVENT_TYPE:
        return True
    family = event_type.split(".", 1)[0]
    return event_type in filters or f"{family}.*" in filters


def is_subscription_id(value: str) -> bool:
    return bool(_SUB_ID.match(value))


@dataclass(frozen=True, slots=True)
class Subscription:
    site_id: str
    subscription_id: str
    url: str
    event_types: tuple[str, ...]
    description: str | None
    created_at: str

    def view(self) -> dict[str, Any]:
        return {
            "id": self.subscription_id,
            "url": self.url,
            "event_types": list(self.event_types),
            "description": self.description,
            "created_at": self.created_at,
        }


def event_digest(event_id: str) -> str:
    """A short, path-safe stand-in for an event id (event ids hold ``/``)."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:20]


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The id of one (subscription, event) delivery in URLs: ``<subscription>.<digest>``."""
    return f"{subscription_id}.{event_digest(event_id)}"


def webhook_id(subscription_id: str, event_id: str) -> str:
    """The ``webhook-id`` header: the same for every attempt and every redelivery of one
    event to one subscription, so receivers dedupe by it."""
    return f"{subscription_id}:{event_id}"


def split_delivery_id(value: str) -> tuple[str, str]:
    """``(subscription_id, digest)`` of a delivery id; :class:`InvalidInput` otherwise."""
    subscription_id, _, digest = value.partition(".")
    if not is_subscription_id(subscription_id) or not re.fullmatch(r"[0-9a-f]{20}", digest):
        raise InvalidInput("not a delivery id", field="delivery_id")
    return subscription_id, digest


@dataclass(frozen=True, slots=True)
class DeliveryMessage:
    """One message on the delivery queue: one attempt (or wait) of one delivery."""

    site_id: str
    subscription_id: str
    event: Mapping[str, Any]
    attempt: int = 1
    not_before: float = 0.0

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    @property
    def webhook_id(self) -> str:
        return webhook_id(self.subscription_id, self.event_id)

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.subscription_id, self.event_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "subscription_id": self.subscription_id,
            "attempt": self.attempt,
            "not_before": self.not_before,
            "event": dict(self.event),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DeliveryMessage:
        try:
            event = document["event"]
            if not isinstance(event, Mapping) or not isinstance(event.get("id"), str):
                raise TypeError("event without id")
            return cls(
                site_id=str(document["site_id"]),
                subscription_id=str(document["subscription_id"]),
                event=event,
                attempt=int(document.get("attempt", 1)),
                not_before=float(document.get("not_before", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInput(f"not a webhook delivery message: {error}") from error
