"""Stand-ins for the field: online doors and the mobile-access cloud with its apps.

They speak to keyworker only the way the real ones do: doors take their updates from the
door-commands queue, check the MAC with their own key, apply them and report ``door.synced``
on the events queue, and decide on a swiped card with the core's door rule (validity and
weekly schedule, ``credentials.door_decision``); the mobile-access cloud takes digital keys
over HTTP (PUT/DELETE, as ``keyworker.adapters.mobile_access`` calls it), checks each
credential's signature, and reports ``key.delivered`` and, when a key is taken back, the app's
``app.key_list_reloaded``.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keyworker.adapters.secrets_keyring import verify_for_site
from keyworker.credentials import (
    DOOR_UPDATE_FORMAT,
    ChangeOp,
    CredentialSchedule,
    DoorDecision,
    door_decision,
    open_door_update,
)
from keyworker.domain.ports import Keyring
from keyworker.errors import KeyworkerError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Simulation:
    """What ``--simulate`` asked for: ``instant``, ``delay=SECONDS`` or ``none``."""

    enabled: bool
    delay_seconds: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Simulation:
        if text == "instant":
            return cls(enabled=True)
        if text == "none":
            return cls(enabled=False)
        match = re.fullmatch(r"delay=(\d+(?:\.\d+)?)", text)
        if match:
            return cls(enabled=True, delay_seconds=float(match.group(1)))
        raise ValueError(f"--simulate takes instant, delay=SECONDS or none, not {text!r}")


def cloud_event(event_type: str, source: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": source,
            "type": event_type,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": data,
        }
    )


class DelayedSender:
    """Sends messages to the events queue now or after a delay, from one background thread."""

    def __init__(self, sqs: Any, queue_url: str, delay_seconds: float) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._delay = delay_seconds
        self._heap: list[tuple[float, int, str]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="field-feedback", daemon=True)
        self._thread.start()

    def send(self, body: str) -> None:
        if self._delay <= 0:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
            return
        with self._condition:
            heapq.heappush(self._heap, (time.monotonic() + self._delay, next(self._counter), body))
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                if self._stopped:
                    return
                _, _, body = heapq.heappop(self._heap)
            try:
                self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
            except Exception:
                logger.exception("could not send simulated field feedback")


@dataclass(frozen=True, slots=True)
class HeldCredential:
    """A card as a door holds it after its add entry: validity and weekly schedule."""

    valid_from: int
    valid_until: int | None
    schedule: CredentialSchedule | None


@dataclass
class DoorContent:
    """What one simulated door holds: the version applied, credentials (by credential id) and
    blocklist."""

    version: int = 0
    credentials: dict[bytes, HeldCredential] = field(default_factory=dict)
    blocklist: set[bytes] = field(default_factory=set)


class DoorSimulator:
    """Online doors: a handler for the door-commands queue (run by a QueuePoller).

    ``newest_format`` is the newest door-update format the doors' firmware reads; a door with
    older firmware refuses a newer update whole (the command fails and is retried)."""

    def __init__(
        self, keyring: Keyring, feedback: DelayedSender, *, newest_format: int = DOOR_UPDATE_FORMAT
    ) -> None:
        self._keyring = keyring
        self._feedback = feedback
        self._newest_format = newest_format
        self._lock = threading.Lock()
        self.doors: dict[tuple[str, str], DoorContent] = {}

    def swipe(
        self, site_id: str, door_id: str, credential_id: bytes, instant: int
    ) -> DoorDecision | None:
        """A card presented at the door at ``instant`` (UTC seconds): ``None`` if the door does
        not hold it (never added, or removed), else the core's decision; only
        ``DoorDecision.ADMIT`` opens."""
        with self._lock:
            door = self.doors.get((site_id, door_id))
            held = None if door is None else door.credentials.get(credential_id)
        if held is None:
            return None
        return door_decision(held.valid_from, held.valid_until, held.schedule, instant)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            try:
                self._apply(json.loads(record["body"]))
            except (KeyworkerError, ValueError, KeyError, TypeError):
                logger.exception("simulated door refused a command")
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _apply(self, command: dict[str, Any]) -> None:
        site_id, door_id = str(command["site_id"]), str(command["door_id"])
        payload = base64.urlsafe_b64decode(
            command["payload"] + "=" * (-len(command["payload"]) % 4)
        )
        # A real door accepts only updates MAC'd with its own key.
        opened = open_door_update(
            payload, self._keyring.door_keys(site_id, door_id), newest_format=self._newest_format
        ).update
        if opened.door_id != door_id:
            raise ValueError(f"update for door {opened.door_id} sent to door {door_id}")
        with self._lock:
            door = self.doors.setdefault((site_id, door_id), DoorContent())
            if opened.to_version <= door.version:
                return  # already applied: a door applies a version once
            for change in opened.changes:
                if change.op == ChangeOp.ADD_CREDENTIAL:
                    if change.valid_from is None:  # the core never decodes such an entry
                        raise ValueError("an added credential without validity")
                    door.credentials[change.subject] = HeldCredential(
                        change.valid_from, change.valid_until, change.schedule
                    )
                elif change.op == ChangeOp.REMOVE_CREDENTIAL:
                    door.credentials.pop(change.subject, None)
                elif change.op == ChangeOp.BLOCK_PHONE:
                    door.blocklist.add(change.subject)
                else:
                    door.blocklist.discard(change.subject)
            door.version = opened.to_version
        self._feedback.send(
            cloud_event(
                "door.synced",
                f"keyworker-local/doors/{door_id}",
                {"site_id": site_id, "door_id": door_id, "version": opened.to_version},
            )
        )


_KEY_PATH = re.compile(r"^/v1/sites/([^/]+)/keys/([^/]+)$")


class MobileAccessSimulator:
    """The mobile-access cloud over HTTP, and the keyholders' apps behind it."""

    def __init__(
        self,
        keyring: Keyring,
        feedback: DelayedSender | None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._keyring = keyring
        self.feedback = feedback
        self._lock = threading.Lock()
        self.phones: dict[tuple[str, str], str] = {}  # (site, key) -> phone
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="mobile-access", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_PUT(self) -> None:
                simulator._serve(self, deliver=True)

            def do_DELETE(self) -> None:
                simulator._serve(self, deliver=False)

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler, *, deliver: bool) -> None:
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length) if length else b""
        match = _KEY_PATH.match(request.path)
        if match is None:
            _reply(request, 404)
            return
        site_id, key_id = match.group(1), match.group(2)
        if deliver:
            status = self._deliver(site_id, key_id, body)
        else:
            status = self._take_back(site_id, key_id)
        _reply(request, status)

    def _deliver(self, site_id: str, key_id: str, body: bytes) -> int:
        try:
            document = json.loads(body)
            phone = str(document["phone"])
            credential = base64.urlsafe_b64decode(
                document["credential"] + "=" * (-len(document["credential"]) % 4)
            )
            # The cloud only hands on credentials the site really signed (a key may be
            # delivered before its validity starts, so no time check here).
            verify_for_site(self._keyring, site_id, credential)
        except (KeyError, ValueError, TypeError, KeyworkerError):
            logger.exception("simulated mobile-access cloud refused a key")
            return 400
        with self._lock:
            self.phones[(site_id, key_id)] = phone
        if self.feedback is not None:
            self.feedback.send(
                cloud_event(
                    "key.delivered",
                    "keyworker-local/mobile-access",
                    {"site_id": site_id, "key_id": key_id},
                )
            )
        return 204

    def _take_back(self, site_id: str, key_id: str) -> int:
        with self._lock:
            phone = self.phones.get((site_id, key_id))
        if phone is None:
            return 404  # never delivered: nothing on any phone to take back
        if self.feedback is not None:
            # The keyholder's app reloads its key list and drops the key.
            self.feedback.send(
                cloud_event(
                    "app.key_list_reloaded",
                    "keyworker-local/app",
                    {"site_id": site_id, "phone": phone},
                )
            )
        return 204


def _reply(request: BaseHTTPRequestHandler, status: int) -> None:
    request.send_response(status)
    request.send_header("content-length", "0")
    request.end_headers()
