"""The stored facts of keyworker's things: doors, keys with their per-door rows, phones, door
changes and audit events, plus the read models the queries return.

These are facts, never statuses typed in by hand: a key's status is always the core's
evaluation of its facts (``keyworker.status.evaluate``). The copy of the evaluated codes kept on
a stored key (:class:`IndexedStatus`) only feeds the table's indexes and is refreshed by the
same code path that evaluates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from keyworker.status import KeyStatus

ACCESS_MEDIUM = "access_medium"
DIGITAL_KEY = "digital_key"
# The action of a door change that marks a version whose change was never written.
VOID_CHANGE = "void"
DOOR_KINDS = ("common", "unit")
CONNECTIVITIES = ("online", "offline")

#: How many ``key.delivered`` events a key remembers (:attr:`KeyRecord.delivery_events`). A
#: key takes a new one only after a modification made it wait for a new delivery, so a late
#: duplicate of an event this many deliveries old is far past any redelivery or DLQ replay.
DELIVERY_EVENTS_KEPT = 8


def delivery_event_token(source: str, event_id: str) -> str:
    """The token a key remembers a ``key.delivered`` event by: its ``source`` and ``id``
    (CloudEvents ids are unique per source), hashed to a fixed 24 hex digits."""
    return hashlib.sha256(f"{source}\n{event_id}".encode()).hexdigest()[:24]


def with_delivery_event(record: KeyRecord, token: str) -> tuple[str, ...]:
    """The key's remembered delivery events with ``token`` added (the oldest dropped)."""
    return (*record.delivery_events, token)[-DELIVERY_EVENTS_KEPT:]


DoorEntryOp = Literal["add_credential", "remove_credential", "block_phone", "unblock_phone"]


def iso(instant: int | None) -> str | None:
    """An epoch-seconds instant as ISO 8601 UTC (``2026-01-31T08:00:00Z``)."""
    if instant is None:
        return None
    return dt.datetime.fromtimestamp(instant, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Door:
    """A door of a site and its versions: every change that touches it raises
    ``desired_version``; the door (or a technician) reports ``confirmed_version``."""

    site_id: str
    door_id: str
    name: str
    kind: str
    connectivity: str
    desired_version: int = 0
    confirmed_version: int = 0
    # When the oldest unconfirmed change was made (None when the door is up to date).
    pending_since: int | None = None
    # Revision of the door's description (name, kind, connectivity): 0 = not stored yet. The
    # versions are not under it: they move by their own conditional updates.
    rev: int = 0
    # When the latest version was allocated (None before the first): bounds the age of a
    # version whose change item is missing (docs/data-model.md, the write protocol).
    allocated_at: int | None = None
    # When the door was last heard from (a confirmation or a ``door.heartbeat``); None before
    # the first. An online door silent for longer than its site's threshold is unreachable.
    last_seen: int | None = None
    # Why the last attempt to send the door its update failed; cleared by its confirmation.
    last_error: str | None = None
    # When the door was last made online (created so, or switched): work older than that was
    # a technician's until then, so its silence counts from here at the earliest.
    online_since: int | None = None

    @property
    def online(self) -> bool:
        return self.connectivity == "online"

    @property
    def pending_changes(self) -> int:
        return self.desired_version - self.confirmed_version


@dataclass(frozen=True, slots=True)
class DoorRow:
    """A key's state at one of its doors.

    ``seq`` rises with every transition of the row; a door change names the (key, seq) it was
    made for, so a confirmation completes a row only if the door got the row's latest intent.
    ``change_version`` is the door version that carries the row's pending intent (None until
    recorded: such a pending row is work still to hand to the door).
    """

    door_id: str
    state: str
    seq: int = 0
    change_version: int | None = None
    # When the row entered ``state`` (None: written before this was recorded; readers fall
    # back to the key's ``updated_at``). Kept while the state stays, whatever else moves.
    since: int | None = None
    # A short, safe reason why the last attempt to do the row's work failed; cleared when
    # the row moves on (a new state or a new intent).
    last_error: str | None = None
    # The time service reported this row as pending too long (once per stay in a state).
    overdue_noted: bool = False


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """Statuses of a key at one moment, as the audit trail records them."""

    status: str
    home_status: str | None
    doors: Mapping[str, str]  # door id -> door state code

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "home_status": self.home_status, "doors": dict(self.doors)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatusSnapshot:
        return cls(
            status=str(data["status"]),
            home_status=None if data.get("home_status") is None else str(data["home_status"]),
            doors={str(k): str(v) for k, v in dict(data.get("doors", {})).items()},
        )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One change of a key: what, why, when, by whom (a user, a run, a door, the clock) and the
    statuses before and after. ``seq`` orders a key's events and makes their ids deterministic,
    so a retried command cannot append the same event twice."""

    site_id: str
    key_id: str
    seq: int
    at: int
    action: str
    actor: str
    reason: str | None
    before: StatusSnapshot | None
    after: StatusSnapshot
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IndexedStatus:
    """The evaluated codes stored on a key item for the indexes, and when to evaluate again."""

    status: str
    home_status: str | None
    evaluated_at: int
    # The next instant (valid_from or valid_until) at which the evaluation may change.
    next_boundary_at: int | None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key's stored facts: intent (revoked, delivered, app reloaded, phone blocked), validity,
    schedule, its per-door rows, and ``version`` for optimistic locking."""

    site_id: str
    key_id: str
    key_type: str
    holder_id: str
    rows: tuple[DoorRow, ...]
    valid_from: int
    valid_until: int | None
    schedule: Mapping[str, Any] | None
    created_at: int
    updated_at: int
    revoked: bool = False
    delivered: bool = False
    app_reloaded: bool = False
    phone_blocked: bool = False
    # The phone's ``blocked_rev`` that ``phone_blocked`` reflects: a block/unblock only applies
    # to a key if it is newer, so racing block and unblock commands cannot leave a key behind.
    phone_blocked_rev: int = 0
    card_uid: str | None = None
    phone_e164: str | None = None
    phone_hash: str | None = None
    request_fingerprint: str | None = None
    version: int = 0
    event_seq: int = 0
    last_event: AuditEvent | None = None
    indexed: IndexedStatus | None = None
    # When the key's general status became what it is (None on keys written before this was
    # recorded: readers use ``updated_at``). A digital key's delivery or revocation waits
    # from here (``status.key_waiting_for``).
    status_since: int | None = None
    # A short, safe reason why the last delivery or take-back of the key failed; cleared when
    # its general status moves on.
    last_error: str | None = None
    # The time service reported the key's own pending state as too long (once per status).
    overdue_noted: bool = False
    # When the first pending state not yet reported becomes too long (its site's threshold
    # after it began); the index copy's next boundary includes it, so the time service
    # visits the key then (docs/status-rules.md, "Stuck work").
    overdue_at: int | None = None
    # The field's ``key.delivered`` events this key has taken (their tokens, the most recent
    # last, at most ``DELIVERY_EVENTS_KEPT``): the same event again has no further effect,
    # even after a modification made the key wait for a new delivery. Written with the
    # delivery itself, so an event is remembered exactly when it took effect.
    delivery_events: tuple[str, ...] = ()

    @property
    def door_ids(self) -> tuple[str, ...]:
        return tuple(row.door_id for row in self.rows)

    def row(self, door_id: str) -> DoorRow | None:
        for row in self.rows:
            if row.door_id == door_id:
                return row
        return None

    def with_row(self, new_row: DoorRow) -> KeyRecord:
        return replace(
            self,
            rows=tuple(new_row if row.door_id == new_row.door_id else row for row in self.rows),
        )


@dataclass(frozen=True, slots=True)
class PhoneRecord:
    """A phone number at a site, known only by its keyed hash: blocked or not, and the ids of
    its digital keys (kept by the create-digital-key service) so block/unblock need no query."""

    site_id: str
    phone_hash: str
    blocked: bool = False
    key_ids: frozenset[str] = frozenset()
    rev: int = 0
    # The revision at which ``blocked`` last changed (the fencing token its keys follow).
    blocked_rev: int = 0


@dataclass(frozen=True, slots=True)
class ChangeRef:
    """A key row that a door change carries: the key, the row's ``seq`` and its state then."""

    key_id: str
    seq: int
    state: str


@dataclass(frozen=True, slots=True)
class DoorChange:
    """Door version ``version`` of a door: made at ``created_at`` for the rows in ``refs``.

    A void marker (``action`` ``void``, no refs) stands for a version whose change was never
    written (its writer stopped between allocating the version and writing the change)."""

    site_id: str
    door_id: str
    version: int
    created_at: int
    action: str
    refs: tuple[ChangeRef, ...]

    @property
    def void(self) -> bool:
        return self.action == VOID_CHANGE


@dataclass(frozen=True, slots=True)
class DoorEntry:
    """What a door must hold for one key: the input of a door update.

    Derived from the key's intent facts (revoked, phone blocked) when the update is built, so a
    door that applies the newest version ends with the latest intent whatever came before.
    """

    op: DoorEntryOp
    key_id: str
    key_type: str
    card_uid: str | None
    phone_hash: str | None
    valid_from: int
    valid_until: int | None
    schedule: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class DoorUpdate:
    """The encoded update a door or technician must apply to reach ``version``."""

    site_id: str
    door_id: str
    version: int
    confirmed_version: int
    entries: tuple[DoorEntry, ...]
    payload: bytes


@dataclass(frozen=True, slots=True)
class DoorWork:
    """A door with its pending changes: versions in (confirmed, desired]."""

    door: Door
    changes: tuple[DoorChange, ...]
    unreachable_since: int | None = None


@dataclass(frozen=True, slots=True)
class WorklistEntry:
    """A door a technician must visit: offline, or online but unreachable."""

    door: Door
    pending_changes: int
    oldest_pending_age: int  # seconds since the oldest unconfirmed change
    unreachable_since: int | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """Who pending work waits for (``status.WAITING_FOR``) and since when; all None when
    nothing is pending. ``last_error``: why the last attempt at that work failed, if it did."""

    since: int | None = None
    waiting_for: str | None = None
    last_error: str | None = None


NOT_PENDING = Pending()


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key with its full status, evaluated by the core at ``evaluated_at``."""

    record: KeyRecord
    status: KeyStatus
    evaluated_at: int
    # Per door row (in ``record.rows`` order), and the key's own: its oldest pending row or
    # its own delivery/revocation state, whichever waits longest.
    doors_pending: tuple[Pending, ...] = ()
    pending: Pending = NOT_PENDING


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery the mobile-access cloud confirmed: the key, and the token of the field event
    that says so (``keyworker.domain.models.delivery_event_token``; None: no event)."""

    site_id: str
    key_id: str
    event: str | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """A confirmed delivery's answer: the key afterwards, and whether its event had already
    taken effect (then nothing changed)."""

    view: KeyView
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Page:
    """A page of keys and the opaque cursor of the next page (None on the last)."""

    items: tuple[KeyView, ...]
    cursor: str | None
