"""A small client of keyworker's HTTP API, shared by ``keyworker demo`` and ``keyworker revoke``.

Connection errors and 429/502/503/504 are retried by urllib3's ``Retry`` (with backoff); every
command the client sends is idempotent (creates carry an ``Idempotency-Key``), so a retry after
a lost answer is safe. Problem responses become :class:`ApiError` with the problem's fields.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from urllib3.util.retry import Retry

from keyworker.errors import KeyworkerError
from keyworker.local.state import EMULATOR_CALLS_PATH, read_stack_state
from keyworker.local.tokens import LocalTokenIssuer

DEFAULT_API = "http://127.0.0.1:8000"


class ApiError(KeyworkerError):
    """An error answer of the API (``application/problem+json``)."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        detail = problem.get("detail") or problem.get("title") or problem.get("message") or ""
        field = f" (field {problem['field']})" if problem.get("field") else ""
        super().__init__(f"HTTP {status}: {detail}{field}")


class ApiClient:
    """Calls ``{api}/v1/sites/{site}/...`` with a bearer token."""

    def __init__(self, api: str, token: str, site_id: str, *, pool_size: int = 16) -> None:
        self.api = api.rstrip("/")
        self.site_id = site_id
        self._headers = {
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            "accept": "application/json",
        }
        self._pool = urllib3.PoolManager(
            maxsize=pool_size,
            block=True,
            retries=Retry(
                total=6,
                backoff_factor=0.2,
                status_forcelist=(429, 502, 503, 504),
                allowed_methods=frozenset({"GET", "PUT", "POST", "DELETE"}),
                raise_on_status=False,
            ),
            timeout=urllib3.Timeout(connect=5.0, read=60.0),
        )
        self.requests = 0
        self._count_lock = threading.Lock()  # the demo sends from many threads

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        base = f"{self.api}/v1/sites/{quote(self.site_id, safe='')}{path}"
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{base}?{urlencode(params, doseq=True)}" if params else base

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = dict(self._headers)
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        payload = None if body is None else json.dumps(body).encode()
        with self._count_lock:
            self.requests += 1
        response = self._pool.request(method, self.url(path, query), body=payload, headers=headers)
        data = response.data
        try:
            document = json.loads(data) if data else None
        except json.JSONDecodeError:
            document = {"detail": data[:200].decode(errors="replace")}
        if response.status >= 400:
            raise ApiError(response.status, document if isinstance(document, dict) else {})
        return document

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self.request(
            "POST", path, body if body is not None else {}, idempotency_key=idempotency_key
        )

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def all_keys(self, **query: Any) -> list[dict[str, Any]]:
        """Every key of the site (following the cursor)."""
        keys: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get("/keys", cursor=cursor, limit=100, **query)
            keys.extend(page["items"])
            cursor = page.get("cursor")
            if not cursor:
                return keys


def local_api_and_token(
    state_dir: Path, sites: list[str], api: str | None, token: str | None
) -> tuple[str, str]:
    """The API base URL and a token: given ones, or the local stack's started from here."""
    state = read_stack_state(state_dir)
    base = api or (state["api"] if state else DEFAULT_API)
    if token is None:
        token = LocalTokenIssuer.for_state_dir(state_dir).issue(sites)
    return base, token


def emulator_call_counter(endpoints: Sequence[str]) -> Callable[[], int | None]:
    """How many calls the local stack's AWS emulator (its processes at ``endpoints``) has
    served so far (None: unknown — no endpoint, or one that does not count)."""
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=10.0))

    def served(endpoint: str) -> int | None:
        try:
            response = pool.request("GET", endpoint.rstrip("/") + EMULATOR_CALLS_PATH)
            return int(json.loads(response.data)["calls"]) if response.status == 200 else None
        except (urllib3.exceptions.HTTPError, ValueError, KeyError, TypeError):
            return None

    def calls() -> int | None:
        counts = [served(endpoint) for endpoint in endpoints]
        if not counts or any(count is None for count in counts):
            return None
        return sum(count for count in counts if count is not None)

    return calls
