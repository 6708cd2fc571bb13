"""One delivery attempt: sign, POST, and decide what comes next (``docs/webhooks.md``).

- The body is the event envelope's JSON; the headers are Standard Webhooks' ``webhook-id``
  (``<subscription>:<event id>``, the same on every attempt), ``webhook-timestamp`` and
  ``webhook-signature`` (the ``standardwebhooks`` library signs, once per valid secret).
- The POST goes to the address the URL policy checked (no second DNS answer), with one
  timeout for connect and read (≤ 5 s), no redirects (a 3xx is a failure) and no retries of
  its own. 2xx is delivered; anything else is a failed attempt.
- A failed attempt is retried on the schedule of :mod:`backoff` (full jitter) through the
  queue, with a ``not_before`` past SQS's 15-minute delay limit; after the last attempt the
  delivery has failed: a ``failed`` log entry and a copy on the dead-letter queue.
- A per-endpoint circuit breaker, kept in the table so every instance shares it: after
  ``breaker_threshold`` consecutive failures the endpoint is open for
  ``breaker_open_seconds``: its deliveries wait (no attempt spent) instead of hammering it;
  then one instance probes (half-open) and the outcome closes or re-opens it.
- The events of one subject reach a subscription in order: a delivery waits while an earlier
  one of its subject is pending (unless that one is over an hour past due: stuck).
- A subscription deleted mid-retry: its pending deliveries stop, logged ``cancelled``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import urllib3

from keyworker.errors import NotFound
from keyworker.outbound.webhooks import backoff
from keyworker.outbound.webhooks.model import DeliveryMessage
from keyworker.outbound.webhooks.queue import SqsDeliveryQueue, delay_for
from keyworker.outbound.webhooks.secrets import SecretsManagerWebhookSecrets, signature_header
from keyworker.outbound.webhooks.store import (
    CANCELLED,
    DELIVERED,
    FAILED,
    PENDING,
    LogEntry,
    WebhookStore,
)
from keyworker.outbound.webhooks.urls import UrlPolicy, UrlRefused

logger = logging.getLogger(__name__)

#: The most a receiver gets to connect and answer, all told.
DEFAULT_TIMEOUT_SECONDS = 5.0
#: How much of a receiver's answer is read (the rest is dropped: only the status counts).
MAX_ANSWER_BYTES = 16 * 1024
USER_AGENT = "keyworker-webhooks/1"


class PostFailed(Exception):
    """The request got no HTTP answer (refused, unreachable, timed out, TLS)."""


class Poster(Protocol):
    def post(
        self, url: str, address: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> int: ...


class Urllib3Poster:
    """POSTs with urllib3 to a checked address; the URL's host names the TLS server and the
    ``Host`` header. Connection pools are kept per (scheme, address, port, host)."""

    def __init__(self, pool_size: int = 4) -> None:
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()
        self._pool_size = pool_size

    def _pool(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, address, port, host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        address,
                        port,
                        maxsize=self._pool_size,
                        server_hostname=host,
                        assert_hostname=host,
                        cert_reqs="CERT_REQUIRED",
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(address, port, maxsize=self._pool_size)
                self._pools[key] = pool
            return pool

    def post(
        self, url: str, address: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> int:
        parts = urlsplit(url)
        host = parts.hostname or address
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        pool = self._pool(parts.scheme, address, port, host)
        try:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers={**headers, "Host": netloc},
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(total=timeout),
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise PostFailed(type(error).__name__ + ": " + str(error)[:200]) from error
        try:
            response.read(MAX_ANSWER_BYTES)
        except urllib3.exceptions.HTTPError:
            pass  # the status is the answer; a body cut short changes nothing
        finally:
            response.release_conn()
        return int(response.status)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    breaker_threshold: int = 5
    breaker_open_seconds: float = 60.0
    #: How long a half-open probe has the endpoint to itself.
    probe_lease_seconds: float = 30.0
    #: How often a delivery waiting behind an earlier one of its subject looks again.
    order_wait_seconds: float = 5.0
    #: An earlier pending delivery this far past its due time no longer holds later ones.
    order_stale_seconds: float = 3600.0
    max_attempts: int = backoff.MAX_ATTEMPTS


class WebhookDeliverer:
    def __init__(
        self,
        store: WebhookStore,
        secrets: SecretsManagerWebhookSecrets,
        queue: SqsDeliveryQueue,
        dead_letters: SqsDeliveryQueue,
        policy: UrlPolicy,
        *,
        poster: Poster | None = None,
        settings: DeliverySettings | None = None,
        clock: Callable[[], float] = time.time,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._queue = queue
        self._dead_letters = dead_letters
        self._policy = policy
        self._poster = poster or Urllib3Poster()
        self.settings = settings or DeliverySettings()
        self._clock = clock
        self._uniform = uniform

    def _wait(self, message: DeliveryMessage, not_before: float, now: float) -> str:
        later = DeliveryMessage(
            message.site_id, message.subscription_id, message.event, message.attempt, not_before
        )
        self._queue.send(later, delay_for(not_before, now))
        return "waiting"

    def _entry(self, message: DeliveryMessage, at: float, outcome: str, **fields: Any) -> LogEntry:
        return LogEntry(
            delivery_id=message.delivery_id,
            webhook_id=message.webhook_id,
            event_id=message.event_id,
            event_type=str(message.event.get("type", "")),
            attempt=message.attempt,
            at=at,
            outcome=outcome,
            status_code=fields.get("status_code"),
            error=fields.get("error"),
            latency_ms=fields.get("latency_ms"),
            next_attempt_at=fields.get("next_attempt_at"),
        )

    def handle(self, message: DeliveryMessage) -> str:
        """Process one queue message; returns what happened (``delivered``, ``retrying``,
        ``failed``, ``cancelled``, ``waiting``, ``duplicate``)."""
        site, sub_id = message.site_id, message.subscription_id
        now = self._clock()
        digest = message.delivery_id.split(".", 1)[1]
        subscription, delivery = self._store.subscription_and_delivery(site, sub_id, digest)
        if subscription is None:
            self._store.record(
                site,
                sub_id,
                message.event,
                self._entry(message, now, CANCELLED, error="the subscription was deleted"),
                CANCELLED,
            )
            logger.info(
                "webhook delivery cancelled: subscription deleted",
                extra={"webhook_id": message.webhook_id},
            )
            return CANCELLED
        if delivery is None:
            self._store.open_delivery(site, sub_id, message.event)
        elif delivery.status != PENDING or delivery.attempts >= message.attempt:
            # A copy of a message already handled (SQS delivers at least once; a fan-out
            # run again): the delivery has moved on without it. If this very attempt was
            # recorded as failed, its retry may have been lost with a crash before it was
            # queued: queue it (again; a second copy is dropped here the same way).
            if (
                delivery.status == PENDING
                and delivery.attempts == message.attempt
                and delivery.next_attempt_at is not None
            ):
                retry = DeliveryMessage(
                    site, sub_id, message.event, message.attempt + 1, delivery.next_attempt_at
                )
                self._queue.send(retry, delay_for(delivery.next_attempt_at, now))
            return "duplicate"
        if message.not_before > now:
            return self._wait(message, message.not_before, now)
        blocked, until = self._store.earlier_pending(site, sub_id, message.event)
        # A predecessor long past its due time is stuck (its message lost to the DLQ, say):
        # it no longer holds the later events back.
        if blocked and (until is None or until > now - self.settings.order_stale_seconds):
            wait = max(until or 0.0, now + self.settings.order_wait_seconds)
            return self._wait(message, wait, now)

        url = subscription.url
        state = self._store.breaker(site, url)
        if state.failures >= self.settings.breaker_threshold:
            if now < state.open_until:
                return self._wait(message, state.open_until, now)
            lease = now + self.settings.probe_lease_seconds
            if not self._store.claim_probe(site, url, state.open_until, lease):
                return self._wait(message, lease, now)

        return self._attempt(message, url, state.failures, now)

    def _attempt(self, message: DeliveryMessage, url: str, failures: int, now: float) -> str:
        site, sub_id = message.site_id, message.subscription_id
        try:
            secrets = self._secrets.get(site, sub_id).valid(now)
        except NotFound:
            self._store.record(
                site,
                sub_id,
                message.event,
                self._entry(message, now, CANCELLED, error="the subscription has no secret"),
                CANCELLED,
            )
            return CANCELLED
        body = json.dumps(message.event, separators=(",", ":"))
        timestamp = dt.datetime.fromtimestamp(int(now), tz=dt.UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.webhook_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": signature_header(secrets, message.webhook_id, timestamp, body),
        }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            address = self._policy.addresses(url)[0]
            status_code = self._poster.post(
                url, address, body.encode(), headers, self.settings.timeout_seconds
            )
        except UrlRefused as refused:
            error = f"address refused: {refused}"
        except PostFailed as failed:
            error = str(failed)
        latency_ms = round((time.monotonic() - started) * 1000, 1)
        done = self._clock()
        if status_code is not None and 200 <= status_code < 300:
            if failures:
                self._store.breaker_success(site, url)
            self._store.record(
                site,
                sub_id,
                message.event,
                self._entry(
                    message, done, DELIVERED, status_code=status_code, latency_ms=latency_ms
                ),
                DELIVERED,
            )
            return DELIVERED
        if error is None:
            error = f"HTTP {status_code}" + (
                " (redirects are not followed)" if status_code and 300 <= status_code < 400 else ""
            )
        self._store.breaker_failure(
            site, url, self.settings.breaker_threshold, done + self.settings.breaker_open_seconds
        )
        if message.attempt >= self.settings.max_attempts:
            self._store.record(
                site,
                sub_id,
                message.event,
                self._entry(
                    message,
                    done,
                    FAILED,
                    status_code=status_code,
                    error=error,
                    latency_ms=latency_ms,
                ),
                FAILED,
            )
            self._dead_letters.send(message)
            logger.warning(
                "webhook delivery failed for good",
                extra={"webhook_id": message.webhook_id, "attempts": message.attempt},
            )
            return FAILED
        next_at = done + backoff.retry_delay(message.attempt, self._uniform)
        self._store.record(
            site,
            sub_id,
            message.event,
            self._entry(
                message,
                done,
                "retrying",
                status_code=status_code,
                error=error,
                latency_ms=latency_ms,
                next_attempt_at=next_at,
            ),
            PENDING,
        )
        retry = DeliveryMessage(site, sub_id, message.event, message.attempt + 1, next_at)
        self._queue.send(retry, delay_for(next_at, done))
        return "retrying"
