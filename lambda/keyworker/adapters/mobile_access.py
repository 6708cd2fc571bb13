"""The mobile-access cloud over HTTPS: hands a signed digital key to the keyholder's phone and
takes it back.

The cloud's contract as keyworker uses it (documented in docs/lambdas.md):

- ``PUT {base}/v1/sites/{site_id}/keys/{key_id}`` with ``{"phone", "credential"}`` (the
  credential base64url): deliver; repeating it for the same key is a no-op (the key id is the
  resource, and ``Idempotency-Key`` says so again);
- ``DELETE {base}/v1/sites/{site_id}/keys/{key_id}``: take back; 404 means already gone.

Transient failures (connection errors, 429, 5xx) are retried by urllib3's ``Retry`` with
exponential backoff, honouring ``Retry-After``; what still fails raises
:class:`MobileAccessUnavailable` (the job is retried by SQS), a 4xx raises
:class:`MobileAccessRejected`. Neither message nor log line carries the phone number or the
credential.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from urllib.parse import quote

import urllib3
from urllib3.util.retry import Retry

from keyworker.errors import MobileAccessRejected, MobileAccessUnavailable

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = (429, 500, 502, 503, 504)


def default_retry() -> Retry:
    return Retry(
        total=4,
        connect=3,
        read=2,
        backoff_factor=0.2,
        backoff_max=2.0,
        status_forcelist=RETRYABLE_STATUS,
        # Both calls are idempotent per key, so they are safe to repeat.
        allowed_methods=frozenset({"PUT", "DELETE"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class HttpsMobileAccess:
    """``MobileAccessGateway`` over HTTPS, with a pooled connection and retries."""

    def __init__(
        self,
        base_url: str,
        *,
        token: Callable[[], str] | None = None,
        retry: Retry | None = None,
        timeout: urllib3.Timeout | None = None,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._pool = pool or urllib3.PoolManager(
            # The pipeline hands a batch's digital keys over side by side (8 at a time).
            maxsize=10,
            retries=retry or default_retry(),
            timeout=timeout or urllib3.Timeout(connect=2.0, read=5.0),
        )

    def _url(self, site_id: str, key_id: str) -> str:
        return f"{self._base}/v1/sites/{quote(site_id, safe='')}/keys/{quote(key_id, safe='')}"

    def _headers(self, idempotency_key: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "idempotency-key": idempotency_key}
        if self._token is not None:
            headers["authorization"] = f"Bearer {self._token()}"
        return headers

    def _request(self, method: str, url: str, *, body: bytes | None, key: str, ok: set[int]) -> int:
        try:
            response = self._pool.request(method, url, body=body, headers=self._headers(key))
        except urllib3.exceptions.HTTPError as error:
            # MaxRetryError and friends: the cloud could not be reached after the retries.
            raise MobileAccessUnavailable(
                f"mobile-access cloud unreachable ({type(error).__name__})"
            ) from None
        status = response.status
        if 200 <= status < 300 or status in ok:
            return status
        if status in RETRYABLE_STATUS:
            raise MobileAccessUnavailable(f"mobile-access cloud answered {status} after retries")
        raise MobileAccessRejected(f"mobile-access cloud refused the request with {status}")

    def deliver(self, site_id: str, key_id: str, phone_e164: str, credential: bytes) -> None:
        body = json.dumps(
            {
                "phone": phone_e164,
                "credential": base64.urlsafe_b64encode(credential).decode().rstrip("="),
            }
        ).encode()
        status = self._request(
            "PUT", self._url(site_id, key_id), body=body, key=f"deliver:{key_id}", ok=set()
        )
        logger.info("digital key handed over", extra={"key_id": key_id, "http_status": status})

    def revoke(self, site_id: str, key_id: str, phone_e164: str) -> None:
        status = self._request(
            "DELETE", self._url(site_id, key_id), body=None, key=f"revoke:{key_id}", ok={404}
        )
        logger.info("digital key taken back", extra={"key_id": key_id, "http_status": status})
