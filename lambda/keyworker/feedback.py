"""Field feedback: applying a parsed field event (``keyworker.field_events``) to the state,
once per event id.

Both entries — the events queue (events Lambda) and ``POST /events`` (api Lambda) — parse
with :func:`keyworker.field_events.parse_field_event` and apply here, so they accept, reject
and deduplicate alike. A repeated event id has no further effect even after newer events
changed the key (a late duplicate ``app.key_list_reloaded`` must not complete a revocation
made after the original): the services alone are replay-safe only against the *current*
state, so each event runs under a dedupe record keyed by its ``source`` and ``id`` — except
``key.delivered``, which the key itself remembers (``KeyRecord.delivery_events``), in the
same conditional write that delivers it: no dedupe record, and a duplicate meets the key's
own record of the event, also when it arrives after a modification.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keyworker.domain.models import Delivered, Delivery, delivery_event_token
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
    from keyworker.domain.services import Services


#: The actor of a delivery confirmed by the mobile-access cloud.
MOBILE_ACCESS = "mobile-access"


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying an event did (``outcome`` as first stored, also for a duplicate)."""

    event_id: str
    type: str
    duplicate: bool
    outcome: Result


def apply_event(services: Services, event: FieldEvent) -> dict[str, Any]:
    """Apply one event through its service; the outcome holds ids only (no phone number).
    ``key.delivered`` goes through :meth:`FieldFeedback.apply` (the key remembers it)."""
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
    if isinstance(event, AppKeyListReloaded):
        completed = services.phones.app_reloaded(event.site_id, event.phone, actor="app")
        return {"completed_key_ids": list(completed)}
    if isinstance(event, DoorHeartbeat):
        at = services.doors.clock_now() if event.at is None else event.at
        door = services.doors.heartbeat(event.site_id, event.door_id, at)
        return {"door_id": event.door_id, "last_seen": door.last_seen}
    raise TypeError(f"unhandled field event {type(event).__name__}")  # pragma: no cover


class Deliveries:
    """The ``key.delivered`` events of one events batch, applied together: they go through the
    pipeline as one run (:meth:`KeyService.keys_delivered`: one read of the keys and of their
    doors, and the audit events in batches, instead of four calls each). A batch of ten
    deliveries costs 13 calls instead of 40.

    Every one of the ``expected`` events must, from its own thread, either :meth:`join` or
    :meth:`leave` (it failed before it could join) exactly once; the last of them runs the
    group and wakes the others. So all ``expected`` events must be applied at the same time
    (the events handler gives the batch that many threads): one that waited for a thread held
    by a joined one would wait forever.
    """

    def __init__(self, run: Callable[[list[Any]], list[Any]], expected: int) -> None:
        self._run = run
        self._expected = expected
        self._arrived = 0
        self._deliveries: list[Any] = []
        self._answers: list[Any] | None = None
        self._done = threading.Condition()

    @property
    def expected(self) -> int:
        return self._expected

    def join(self, delivery: Any) -> Any:
        """Wait for the group's run; this delivery's answer, or its own refusal raised."""
        with self._done:
            index = len(self._deliveries)
            self._deliveries.append(delivery)
            self._arrive()
            while self._answers is None:
                self._done.wait()
            answer = self._answers[index]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def leave(self) -> None:
        with self._done:
            self._arrive()

    def _arrive(self) -> None:
        self._arrived += 1
        if self._arrived > self._expected:
            raise AssertionError("more deliveries arrived than the group expected")
        if self._arrived == self._expected:
            try:
                answers = self._run(self._deliveries) if self._deliveries else []
            except Exception as error:  # an outage: every joined event fails and is retried
                answers = [error] * len(self._deliveries)
            self._answers = answers
            self._done.notify_all()


class FieldFeedback:
    """Applies field events once each."""

    def __init__(self, services: Services, dedupe: Deduplicator) -> None:
        self._services = services
        self._dedupe = dedupe

    @property
    def dedupe(self) -> Deduplicator:
        return self._dedupe

    def deliveries(self, raws: list[str]) -> Deliveries:
        """A group for the ``key.delivered`` events among ``raws`` (one batch's bodies), to
        pass to :meth:`apply` for each of them, all at the same time (see
        :class:`Deliveries`)."""
        expected = 0
        for raw in raws:
            try:
                expected += isinstance(parse_field_event(raw), KeyDelivered)
            except Exception:  # applying it fails alone, before any group
                continue
        return Deliveries(self._deliver, expected)

    def _deliver(self, deliveries: list[Delivery]) -> list[Any]:
        return list(self._services.keys.keys_delivered(deliveries, actor=MOBILE_ACCESS))

    def apply(
        self, raw: str | bytes | Mapping[str, Any], deliveries: Deliveries | None = None
    ) -> Applied:
        """Parse (``InvalidEvent``/``UnknownEventType`` naming the field) and apply once. A
        ``key.delivered`` event joins ``deliveries`` when given (the group made for its batch
        by :meth:`deliveries`)."""
        event = parse_field_event(raw)
        if isinstance(event, DoorHeartbeat):
            # Idempotent by itself (last_seen only rises) and frequent: no dedupe record.
            return Applied(event.event_id, event.type, False, apply_event(self._services, event))
        group = deliveries if isinstance(event, KeyDelivered) else None
        joined = False
        try:
            # CloudEvents ids are unique per source; the parser checked source is a string.
            decoded = raw if isinstance(raw, Mapping) else json.loads(raw)
            source = str(decoded["source"])
            if isinstance(event, KeyDelivered):
                # Remembered by the key itself, with the delivery (see the module's text).
                delivery = Delivery(
                    event.site_id, event.key_id, delivery_event_token(source, event.event_id)
                )
                if group is None:
                    answer = self._deliver([delivery])[0]
                    if isinstance(answer, BaseException):
                        raise answer
                else:
                    joined = True
                    answer = group.join(delivery)
                delivered: Delivered = answer
                outcome = {"key_id": event.key_id, "status": delivered.view.status.status.code}
                return Applied(event.event_id, event.type, delivered.duplicate, outcome)
            result, ran = self._dedupe.run(
                f"{source}\n{event.event_id}", lambda: apply_event(self._services, event)
            )
        finally:
            if group is not None and not joined:
                group.leave()
        return Applied(event.event_id, event.type, duplicate=not ran, outcome=result)
