"""The outbound CloudEvent envelope (CloudEvents 1.0, JSON structured mode): one state change,
one event, with a deterministic id (``<subject>/<sequence>``) so a replayed change gives the
same event, and a per-subject ``sequence`` receivers can order by."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

SPECVERSION = "1.0"
#: The ``sequence`` extension is a string; zero-padded, it orders lexicographically too.
SEQUENCE_DIGITS = 20

KEY_CREATED = "key.created"
KEY_MODIFIED = "key.modified"
KEY_STATUS_CHANGED = "key.status_changed"
KEY_REVOKED = "key.revoked"
KEY_PENDING_TOO_LONG = "key.pending_too_long"
DOOR_UPDATE_REQUESTED = "door.update_requested"
DOOR_CONFIRMED = "door.confirmed"
PHONE_BLOCKED = "phone.blocked"
PHONE_UNBLOCKED = "phone.unblocked"
RUN_PROGRESS = "revocation_run.progress"
RUN_COMPLETED = "revocation_run.completed"

EVENT_TYPES: tuple[str, ...] = (
    KEY_CREATED,
    KEY_MODIFIED,
    KEY_STATUS_CHANGED,
    KEY_REVOKED,
    KEY_PENDING_TOO_LONG,
    DOOR_UPDATE_REQUESTED,
    DOOR_CONFIRMED,
    PHONE_BLOCKED,
    PHONE_UNBLOCKED,
    RUN_PROGRESS,
    RUN_COMPLETED,
)

#: A phone is named by the first 16 hex digits of its keyed hash (as doors' blocklists do).
PHONE_REF_HEX = 16


def phone_ref(phone_hash: str) -> str:
    return phone_hash[:PHONE_REF_HEX]


def iso_time(instant: float) -> str:
    """Epoch seconds as RFC 3339 UTC with whole seconds (``2026-11-29T18:00:00Z``)."""
    return dt.datetime.fromtimestamp(int(instant), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sequence_text(sequence: int) -> str:
    return f"{sequence:0{SEQUENCE_DIGITS}d}"


def cloud_event(
    *,
    site_id: str,
    event_type: str,
    subject: str,
    sequence: int,
    time: float,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """One outbound event; ``id`` depends only on subject and sequence (a replay, same id)."""
    text = sequence_text(sequence)
    return {
        "specversion": SPECVERSION,
        "id": f"{subject}/{text}",
        "source": f"keyworker/sites/{site_id}",
        "type": event_type,
        "subject": subject,
        "time": iso_time(time),
        "datacontenttype": "application/json",
        "sequence": text,
        "siteid": site_id,
        "data": dict(data),
    }
