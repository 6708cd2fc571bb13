"""Webhook items in the one DynamoDB table (``docs/data-model.md``, "Webhooks").

| item | ``pk`` | ``sk`` |
|---|---|---|
| subscription | ``WEBHOOKS#<site>`` | ``SUB#<subscription>`` |
| circuit breaker of an endpoint | ``WEBHOOKS#<site>`` | ``BREAKER#<sha256(url)[:20]>`` |
| delivery of one event | ``WEBHOOK#<site>#<subscription>`` | ``DELIVERY#<digest>`` |
| pending marker (ordering) | ``WEBHOOK#<site>#<subscription>`` | ``PENDING#<subject>/<sequence>`` |
| delivery log entry | ``WEBHOOK#<site>#<subscription>`` | ``LOG#<ms>#<digest>#<attempt>`` |

Deliveries and log entries expire (``expiration``, the table's TTL) 30 days after their last
change. A site's items are under its own partition keys: no query of one site reads another's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyworker.adapters.dynamodb.client import TableClient
from keyworker.errors import ConcurrentUpdate, InvalidInput
from keyworker.outbound.webhooks.model import Subscription, event_digest

RETENTION_SECONDS = 30 * 24 * 3600
PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"


def site_pk(site_id: str) -> str:
    return f"WEBHOOKS#{site_id}"


def subscription_pk(site_id: str, subscription_id: str) -> str:
    return f"WEBHOOK#{site_id}#{subscription_id}"


def endpoint_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:20]


def order_key(event: Mapping[str, Any]) -> str | None:
    """``<subject>/<sequence>`` when the event has both (sequence is zero-padded: the keys
    of one subject sort in sequence order); None for an event without an order."""
    subject, sequence = event.get("subject"), event.get("sequence")
    if isinstance(subject, str) and isinstance(sequence, str) and subject and sequence:
        return f"{subject}/{sequence}"
    return None


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


@dataclass(frozen=True, slots=True)
class Delivery:
    site_id: str
    subscription_id: str
    digest: str
    event: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    attempt: int
    at: float
    outcome: str
    status_code: int | None
    error: str | None
    latency_ms: float | None
    next_attempt_at: float | None


@dataclass(frozen=True, slots=True)
class BreakerState:
    failures: int
    open_until: float


class WebhookStore:
    def __init__(
        self, table: TableClient, *, clock: Any = time.time, retention: int = RETENTION_SECONDS
    ) -> None:
        self._table = table
        self._clock = clock
        self._retention = retention

    def _expiration(self) -> dict[str, str]:
        return _n(int(self._clock()) + self._retention)

    # ------------------------------------------------------------------ subscriptions

    def put_subscription(self, sub: Subscription) -> None:
        item = {
            "pk": _s(site_pk(sub.site_id)),
            "sk": _s(f"SUB#{sub.subscription_id}"),
            "url": _s(sub.url),
            "event_types": {"L": [_s(t) for t in sub.event_types]},
            "created_at": _s(sub.created_at),
        }
        if sub.description is not None:
            item["description"] = _s(sub.description)
        self._table.call(
            self._table.client.put_item,
            TableName=self._table.table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
        )

    @staticmethod
    def _subscription(site_id: str, item: Mapping[str, Any]) -> Subscription:
        return Subscription(
            site_id=site_id,
            subscription_id=item["sk"]["S"].removeprefix("SUB#"),
            url=item["url"]["S"],
            event_types=tuple(v["S"] for v in item.get("event_types", {}).get("L", [])),
            description=item["description"]["S"] if "description" in item else None,
            created_at=item["created_at"]["S"],
        )

    def get_subscription(self, site_id: str, subscription_id: str) -> Subscription | None:
        item = self._table.get(site_pk(site_id), f"SUB#{subscription_id}")
        return None if item is None else self._subscription(site_id, item)

    def list_subscriptions(self, site_id: str) -> list[Subscription]:
        items = self._table.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sub)",
            ExpressionAttributeValues={":pk": _s(site_pk(site_id)), ":sub": _s("SUB#")},
            ConsistentRead=True,
        )
        return [self._subscription(site_id, i) for i in items]

    def delete_subscription(self, site_id: str, subscription_id: str) -> bool:
        try:
            self._table.call(
                self._table.client.delete_item,
                TableName=self._table.table,
                Key={"pk": _s(site_pk(site_id)), "sk": _s(f"SUB#{subscription_id}")},
                ConditionExpression="attribute_exists(pk)",
            )
        except ConcurrentUpdate:
            return False
        return True

    # ---------------------------------------------------------------------- deliveries

    def open_delivery(self, site_id: str, subscription_id: str, event: Mapping[str, Any]) -> str:
        """Record a delivery as pending unless it exists; returns its status (a fan-out run
        again after a crash finds the delivery it made and does not reopen a finished one).
        Then its pending marker: a crash between the two is mended by the fan-out run again,
        which finds the delivery pending and writes the marker."""
        pk = subscription_pk(site_id, subscription_id)
        digest = event_digest(str(event["id"]))
        try:
            self._table.call(
                self._table.client.put_item,
                TableName=self._table.table,
                Item={
                    "pk": _s(pk),
                    "sk": _s(f"DELIVERY#{digest}"),
                    "event": _s(json.dumps(event, separators=(",", ":"))),
                    "status": _s(PENDING),
                    "attempts": _n(0),
                    "expiration": self._expiration(),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
            status = PENDING
        except ConcurrentUpdate:
            found = self.get_delivery(site_id, subscription_id, digest)
            status = found.status if found is not None else PENDING
        if status == PENDING:
            self._mark_pending(pk, event, digest, None)
        return status

    def _marker(
        self, pk: str, event: Mapping[str, Any], digest: str, next_attempt_at: float | None
    ) -> dict[str, Any] | None:
        """The pending marker; ``next_attempt_at`` defaults to now (a delivery not tried
        yet is due now), so a marker left behind by a lost message shows its age."""
        order = order_key(event)
        if order is None:
            return None
        due = self._clock() if next_attempt_at is None else next_attempt_at
        return {
            "pk": _s(pk),
            "sk": _s(f"PENDING#{order}"),
            "digest": _s(digest),
            "next_attempt_at": _n(due),
        }

    def _mark_pending(
        self, pk: str, event: Mapping[str, Any], digest: str, next_attempt_at: float | None
    ) -> None:
        item = self._marker(pk, event, digest, next_attempt_at)
        if item is not None:
            self._table.call(self._table.client.put_item, TableName=self._table.table, Item=item)

    def get_delivery(self, site_id: str, subscription_id: str, digest: str) -> Delivery | None:
        item = self._table.get(subscription_pk(site_id, subscription_id), f"DELIVERY#{digest}")
        return None if item is None else _delivery(site_id, subscription_id, digest, item)

    def subscription_and_delivery(
        self, site_id: str, subscription_id: str, digest: str
    ) -> tuple[Subscription | None, Delivery | None]:
        """Both in one strongly consistent BatchGetItem (what every attempt reads first)."""
        sub_key = (site_pk(site_id), f"SUB#{subscription_id}")
        delivery_key = (subscription_pk(site_id, subscription_id), f"DELIVERY#{digest}")
        subscription: Subscription | None = None
        delivery: Delivery | None = None
        for item in self._table.batch_get([sub_key, delivery_key]):
            if item["sk"]["S"] == sub_key[1]:
                subscription = self._subscription(site_id, item)
            else:
                delivery = _delivery(site_id, subscription_id, digest, item)
        return subscription, delivery

    def earlier_pending(
        self, site_id: str, subscription_id: str, event: Mapping[str, Any]
    ) -> tuple[bool, float | None]:
        """Whether an earlier event of the same subject still waits for this subscription
        (then this one waits too: a subject's events arrive in order), and when that one
        is tried next."""
        order = order_key(event)
        if order is None:
            return False, None
        subject = order.rsplit("/", 1)[0]
        response = self._table.call(
            self._table.client.query,
            TableName=self._table.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": _s(subscription_pk(site_id, subscription_id)),
                ":low": _s(f"PENDING#{subject}/"),
                ":high": _s(f"PENDING#{order}"),
            },
            ConsistentRead=True,
            Limit=2,
        )
        for item in response.get("Items", []):
            if item["sk"]["S"] != f"PENDING#{order}":
                at = item.get("next_attempt_at")
                return True, float(at["N"]) if at else None
        return False, None

    def record(
        self,
        site_id: str,
        subscription_id: str,
        event: Mapping[str, Any],
        entry: LogEntry,
        status: str,
    ) -> None:
        """One attempt's outcome: the log entry, the delivery's status, its pending marker."""
        pk = subscription_pk(site_id, subscription_id)
        digest = event_digest(str(event["id"]))
        log_item: dict[str, Any] = {
            "pk": _s(pk),
            "sk": _s(f"LOG#{int(entry.at * 1000):015d}#{digest}#{entry.attempt:02d}"),
            "delivery_id": _s(entry.delivery_id),
            "webhook_id": _s(entry.webhook_id),
            "event_id": _s(entry.event_id),
            "event_type": _s(entry.event_type),
            "attempt": _n(entry.attempt),
            "at": _n(entry.at),
            "outcome": _s(entry.outcome),
            "expiration": self._expiration(),
        }
        for name, value in (
            ("status_code", entry.status_code),
            ("latency_ms", entry.latency_ms),
            ("next_attempt_at", entry.next_attempt_at),
        ):
            if value is not None:
                log_item[name] = _n(value)
        if entry.error is not None:
            log_item["error"] = _s(entry.error[:300])
        names = {"#st": "status"}
        values: dict[str, Any] = {
            ":st": _s(status),
            ":at": _n(max(entry.attempt, 0)),
            ":exp": self._expiration(),
        }
        update = "SET #st = :st, attempts = :at, expiration = :exp"
        if entry.next_attempt_at is not None:
            update += ", next_attempt_at = :next"
            values[":next"] = _n(entry.next_attempt_at)
        else:
            update += " REMOVE next_attempt_at"
        # No transaction (the local emulator copies every table for one): the marker first,
        # then the log entry, then the delivery's status. A crash in between leaves the
        # status pending, so the message (not deleted) is handled again and writes all
        # three again; never a finished delivery whose marker still holds later events.
        order = order_key(event)
        if order is not None:
            if status == PENDING:
                self._mark_pending(pk, event, digest, entry.next_attempt_at)
            else:
                self._table.call(
                    self._table.client.delete_item,
                    TableName=self._table.table,
                    Key={"pk": _s(pk), "sk": _s(f"PENDING#{order}")},
                )
        self._table.call(self._table.client.put_item, TableName=self._table.table, Item=log_item)
        self._table.call(
            self._table.client.update_item,
            TableName=self._table.table,
            Key={"pk": _s(pk), "sk": _s(f"DELIVERY#{digest}")},
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def reopen(self, site_id: str, subscription_id: str, digest: str) -> Delivery | None:
        """A finished delivery made pending again (``POST …/deliveries/{id}/retry``)."""
        found = self.get_delivery(site_id, subscription_id, digest)
        if found is None:
            return None
        pk = subscription_pk(site_id, subscription_id)
        self._table.call(
            self._table.client.update_item,
            TableName=self._table.table,
            Key={"pk": _s(pk), "sk": _s(f"DELIVERY#{digest}")},
            UpdateExpression="SET #st = :st, attempts = :zero, expiration = :exp "
            "REMOVE next_attempt_at",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={
                ":st": _s(PENDING),
                ":zero": _n(0),
                ":exp": self._expiration(),
            },
        )
        self._mark_pending(pk, found.event, digest, None)
        return found

    def log_page(
        self, site_id: str, subscription_id: str, limit: int, cursor: str | None
    ) -> tuple[list[LogEntry], str | None]:
        """Log entries, newest first; the cursor continues after the last one returned."""
        pk = subscription_pk(site_id, subscription_id)
        kwargs: dict[str, Any] = {
            "TableName": self._table.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :log)",
            "ExpressionAttributeValues": {":pk": _s(pk), ":log": _s("LOG#")},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor is not None:
            kwargs["ExclusiveStartKey"] = {"pk": _s(pk), "sk": _s(_decode_cursor(cursor))}
        response = self._table.call(self._table.client.query, **kwargs)
        entries = [_log_entry(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return entries, _encode_cursor(last["sk"]["S"]) if last else None

    # ------------------------------------------------------------------ circuit breaker

    def breaker(self, site_id: str, url: str) -> BreakerState:
        item = self._table.get(site_pk(site_id), f"BREAKER#{endpoint_key(url)}")
        if item is None:
            return BreakerState(0, 0.0)
        return BreakerState(int(item["failures"]["N"]), float(item["open_until"]["N"]))

    def breaker_success(self, site_id: str, url: str) -> None:
        self._table.call(
            self._table.client.put_item,
            TableName=self._table.table,
            Item={
                "pk": _s(site_pk(site_id)),
                "sk": _s(f"BREAKER#{endpoint_key(url)}"),
                "failures": _n(0),
                "open_until": _n(0),
            },
        )

    def breaker_failure(self, site_id: str, url: str, threshold: int, open_until: float) -> int:
        """Count a failure (atomically, whichever instance saw it); at ``threshold`` the
        breaker opens until ``open_until``. Returns the consecutive failures now."""
        key = {"pk": _s(site_pk(site_id)), "sk": _s(f"BREAKER#{endpoint_key(url)}")}
        response = self._table.call(
            self._table.client.update_item,
            TableName=self._table.table,
            Key=key,
            UpdateExpression="ADD failures :one SET open_until = if_not_exists(open_until, :zero)",
            ExpressionAttributeValues={":one": _n(1), ":zero": _n(0)},
            ReturnValues="ALL_NEW",
        )
        failures = int(response["Attributes"]["failures"]["N"])
        if failures >= threshold:
            self._table.call(
                self._table.client.update_item,
                TableName=self._table.table,
                Key=key,
                UpdateExpression="SET open_until = :until",
                ExpressionAttributeValues={":until": _n(open_until)},
            )
        return failures

    def claim_probe(self, site_id: str, url: str, seen_open_until: float, lease: float) -> bool:
        """Half-open: one instance wins the right to probe (moves ``open_until`` to the end
        of its lease, on the condition nobody moved it since it was read)."""
        try:
            self._table.call(
                self._table.client.update_item,
                TableName=self._table.table,
                Key={"pk": _s(site_pk(site_id)), "sk": _s(f"BREAKER#{endpoint_key(url)}")},
                UpdateExpression="SET open_until = :lease",
                ConditionExpression="open_until = :seen",
                ExpressionAttributeValues={":lease": _n(lease), ":seen": _n(seen_open_until)},
            )
        except ConcurrentUpdate:
            return False
        return True


def _delivery(site_id: str, subscription_id: str, digest: str, item: Mapping[str, Any]) -> Delivery:
    return Delivery(
        site_id=site_id,
        subscription_id=subscription_id,
        digest=digest,
        event=json.loads(item["event"]["S"]),
        status=item["status"]["S"],
        attempts=int(item["attempts"]["N"]),
        next_attempt_at=float(item["next_attempt_at"]["N"]) if "next_attempt_at" in item else None,
    )


def _encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidInput("cursor is not one this API returned", field="cursor") from None
    if not sk.startswith("LOG#") or len(sk) > 200:
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    return sk


def _log_entry(item: Mapping[str, Any]) -> LogEntry:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    code = number("status_code")
    return LogEntry(
        delivery_id=item["delivery_id"]["S"],
        webhook_id=item["webhook_id"]["S"],
        event_id=item["event_id"]["S"],
        event_type=item["event_type"]["S"],
        attempt=int(item["attempt"]["N"]),
        at=float(item["at"]["N"]),
        outcome=item["outcome"]["S"],
        status_code=int(code) if code is not None else None,
        error=item["error"]["S"] if "error" in item else None,
        latency_ms=number("latency_ms"),
        next_attempt_at=number("next_attempt_at"),
    )
