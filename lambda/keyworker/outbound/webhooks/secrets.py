"""Signing secrets of webhook subscriptions, in AWS Secrets Manager, and the signature itself
(the ``standardwebhooks`` library: keyworker writes no HMAC of its own).

One secret per subscription, ``{prefix}/sites/{site}/webhooks/{subscription}``, whose JSON
holds the current secret (``whsec_<base64 of 32 random bytes>``, the Standard Webhooks form)
and, after a rotation, the previous ones with the time they stop being used. While a previous
secret is valid every delivery carries one signature per valid secret, space-separated in
``webhook-signature``, so a receiver verifies with either.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets as random_bytes
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from standardwebhooks import Webhook

from keyworker.errors import NotFound

SECRET_BYTES = 32
#: How long a rotated-out secret keeps signing (receivers switch within it).
DEFAULT_GRACE_SECONDS = 24 * 3600
DEFAULT_CACHE_SECONDS = 60.0


def new_secret() -> str:
    return "whsec_" + base64.b64encode(random_bytes.token_bytes(SECRET_BYTES)).decode()


def signature_header(
    secrets: Sequence[str], message_id: str, timestamp: dt.datetime, body: str
) -> str:
    """``webhook-signature``: one ``v1,<base64>`` per secret, space-separated."""
    return " ".join(Webhook(s).sign(message_id, timestamp, body) for s in secrets)


@dataclass(frozen=True, slots=True)
class SigningSecrets:
    current: str
    previous: tuple[tuple[str, float], ...] = ()  # (secret, valid until, epoch seconds)

    def valid(self, now: float) -> tuple[str, ...]:
        return (self.current, *(s for s, until in self.previous if until > now))


class SecretsManagerWebhookSecrets:
    """Creates, reads (cached briefly), rotates and deletes subscriptions' secrets."""

    def __init__(
        self,
        client: Any,
        prefix: str = "keyworker",
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[SigningSecrets, float]] = {}
        self._lock = threading.Lock()

    def name(self, site_id: str, subscription_id: str) -> str:
        return f"{self._prefix}/sites/{site_id}/webhooks/{subscription_id}"

    def create(self, site_id: str, subscription_id: str) -> str:
        secret = new_secret()
        self._client.create_secret(
            Name=self.name(site_id, subscription_id),
            SecretString=json.dumps({"current": secret, "previous": []}),
            Description=f"keyworker webhook signing secret ({site_id})",
        )
        return secret

    def get(self, site_id: str, subscription_id: str) -> SigningSecrets:
        name = self.name(site_id, subscription_id)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and cached[1] > now:
                return cached[0]
        try:
            value = self._client.get_secret_value(SecretId=name)["SecretString"]
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ResourceNotFoundException",):
                raise NotFound("the subscription has no secret", field="webhook_id") from error
            raise
        document = json.loads(value)
        found = SigningSecrets(
            current=document["current"],
            previous=tuple((p["secret"], float(p["valid_until"])) for p in document["previous"]),
        )
        with self._lock:
            self._cache[name] = (found, now + self._cache_seconds)
        return found

    def rotate(
        self, site_id: str, subscription_id: str, grace_seconds: float = DEFAULT_GRACE_SECONDS
    ) -> tuple[str, float]:
        """A new current secret; the old one signs too until the returned time."""
        name = self.name(site_id, subscription_id)
        with self._lock:
            self._cache.pop(name, None)
        old = self.get(site_id, subscription_id)
        with self._lock:
            self._cache.pop(name, None)
        now = self._clock()
        until = now + grace_seconds
        secret = new_secret()
        previous = [{"secret": s, "valid_until": u} for s, u in old.previous if u > now] + [
            {"secret": old.current, "valid_until": until}
        ]
        self._client.put_secret_value(
            SecretId=name, SecretString=json.dumps({"current": secret, "previous": previous})
        )
        return secret, until

    def delete(self, site_id: str, subscription_id: str) -> None:
        name = self.name(site_id, subscription_id)
        with self._lock:
            self._cache.pop(name, None)
        try:
            self._client.delete_secret(SecretId=name, RecoveryWindowInDays=7)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
