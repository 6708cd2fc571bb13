"""``keyworker listen --site S``: a webhook receiver for a terminal.

Listens on 127.0.0.1 (a free port), subscribes itself to the site's events through the HTTP
API, verifies every delivery with the ``standardwebhooks`` library (a delivery that does not
verify is answered 401 and reported), drops copies by ``webhook-id``, prints one line per
event, and deletes its subscription when it stops (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from keyworker.local.client import ApiClient

MAX_BODY = 1024 * 1024
_SEEN_LIMIT = 100_000


def _status_label(state: Any) -> str | None:
    if isinstance(state, Mapping):
        status = state.get("status")
        if isinstance(status, Mapping):
            return str(status.get("label") or status.get("code"))
        if status is not None:
            return str(status)
    return None


def summary(event: Mapping[str, Any]) -> str:
    """A few words on what happened, from the event's data (what a human scans for)."""
    data = event.get("data")
    if not isinstance(data, Mapping):
        return ""
    before, after = _status_label(data.get("before")), _status_label(data.get("after"))
    parts: list[str] = []
    if data.get("action"):
        parts.append(str(data["action"]))
    if before or after:
        parts.append(f"{before or '-'} -> {after or '-'}")
    if not parts and data.get("message"):
        parts.append(str(data["message"]))
    if not parts:
        parts.append(", ".join(f"{k}={v}" for k, v in list(data.items())[:4] if _short(v)))
    return "; ".join(parts)


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(str(value)) <= 60


def line(event: Mapping[str, Any]) -> str:
    return " ".join(
        str(part)
        for part in (
            event.get("time", "-"),
            event.get("type", "?"),
            event.get("subject", "-"),
            f"#{str(event.get('sequence', '-')).lstrip('0') or '0'}",
            summary(event),
        )
        if part != ""
    )


class Listener:
    def __init__(
        self,
        client: ApiClient,
        out: TextIO,
        *,
        event_types: Sequence[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._client = client
        self._out = out
        self._event_types = list(event_types or [])
        self._host = host
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.subscription_id: str | None = None
        self._webhook: Webhook | None = None
        self.url = ""
        self.received = 0
        self.duplicates = 0
        self.refused = 0

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self._out, flush=True)

    def receive(self, headers: Mapping[str, str], body: bytes) -> int:
        """Verify, dedupe and print one delivery; returns the HTTP status to answer."""
        if self._webhook is None:
            return 503
        try:
            event = self._webhook.verify(body, dict(headers))
        except (WebhookVerificationError, ValueError) as error:
            with self._lock:
                self.refused += 1
            self._print(f"refused a delivery that does not verify: {error}")
            return 401
        webhook_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
        with self._lock:
            if webhook_id in self._seen:
                self.duplicates += 1
                return 200
            if len(self._seen) >= _SEEN_LIMIT:
                self._seen.clear()
            self._seen.add(webhook_id)
            self.received += 1
        self._print(line(event if isinstance(event, Mapping) else {}))
        return 200

    def start(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self.send_response(413)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                status = listener.receive(dict(self.headers.items()), self.rfile.read(length))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((self._host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="listen", daemon=True).start()
        self.url = f"http://{self._host}:{self._server.server_address[1]}/webhooks"
        body: dict[str, Any] = {"url": self.url, "description": f"keyworker listen {os.getpid()}"}
        if self._event_types:
            body["event_types"] = self._event_types
        created = self._client.post("/webhooks", body)
        self.subscription_id = str(created["id"])
        self._webhook = Webhook(str(created["secret"]))

    def stop(self) -> None:
        if self.subscription_id is not None:
            self._client.request("DELETE", f"/webhooks/{self.subscription_id}")
            self.subscription_id = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
