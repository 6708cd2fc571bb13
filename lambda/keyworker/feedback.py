"""Field feedback: applying a parsed field event (``keyworker.field_events``) to the state,
once per event id.

Both entries — the events queue (events Lambda) and ``POST /events`` (api Lambda) — parse
with :func:`keyworker.field_events.parse_field_event` and apply here, so they accept, reject
and deduplicate alike. A repeated event id has no further effect even after newer events
changed the key (a late duplicate ``app.key_list_reloaded`` must not complete a revocation
made after the original): the services alone are replay-safe only against the *current*
state, so each event runs under a dedupe record keyed by its ``source`` and ``id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keyworker.domain import Services
from keyworker.field_events import (
    AppKeyListReloaded,
    DoorHeartbeat,
    DoorSynced,
    FieldEvent,
    KeyDelivered,
    parse_field_event,
)

if TYPE_CHECKING:
    # Only the port: the DynamoDB adapter (and boto3) is the composition root's business.
    from keyworker.domain.ports import Deduplicator, Result


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying an event did (``outcome`` as first stored, also for a duplicate)."""

    event_id: str
    type: str
    duplicate: bool
    outcome: Result


def apply_event(services: Services, event: FieldEvent) -> dict[str, Any]:
    """Apply one event through its service; the outcome holds ids only (no phone number)."""
    if isinstance(event, DoorSynced):
        result = services.doors.door_synced(
            event.site_id, event.door_id, event.version, actor=f"door:{event.door_id}"
        )
        return {
            "door_id": event.door_id,
            "confirmed_version": result.door.confirmed_version,
            "completed_key_ids": list(result.completed_key_ids),
            "stale": result.stale,
        }
    if isinstance(event, KeyDelivered):
        view = services.keys.key_delivered(event.site_id, event.key_id, actor="mobile-access")
        return {"key_id": event.key_id, "status": view.status.status.code}
    if isinstance(event, AppKeyListReloaded):
        completed = services.phones.app_reloaded(event.site_id, event.phone, actor="app")
        return {"completed_key_ids": list(completed)}
    if isinstance(event, DoorHeartbeat):
        at = services.doors.clock_now() if event.at is None else event.at
        door = services.doors.heartbeat(event.site_id, event.door_id, at)
        return {"door_id": event.door_id, "last_seen": door.last_seen}
    raise TypeError(f"unhandled field event {type(event).__name__}")  # pragma: no cover


class FieldFeedback:
    """Applies field events once each."""

    def __init__(self, services: Services, dedupe: Deduplicator) -> None:
        self._services = services
        self._dedupe = dedupe

    @property
    def dedupe(self) -> Deduplicator:
        return self._dedupe

    def apply(self, raw: str | bytes | Mapping[str, Any]) -> Applied:
        """Parse (``InvalidEvent``/``UnknownEventType`` naming the field) and apply once."""
        event = parse_field_event(raw)
        if isinstance(event, DoorHeartbeat):
            # Idempotent by itself (last_seen only rises) and frequent: no dedupe record.
            return Applied(event.event_id, event.type, False, apply_event(self._services, event))
        # CloudEvents ids are unique per source; the parser checked source is a string.
        decoded = raw if isinstance(raw, Mapping) else json.loads(raw)
        source = str(decoded["source"])
        outcome, ran = self._dedupe.run(
            f"{source}\n{event.event_id}", lambda: apply_event(self._services, event)
        )
        return Applied(event.event_id, event.type, duplicate=not ran, outcome=outcome)
