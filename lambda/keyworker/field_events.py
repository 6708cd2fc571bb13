"""Field feedback as CloudEvents 1.0: what doors, the mobile-access cloud and apps report.

The envelope is parsed and validated by the CloudEvents SDK; the ``data`` of each type by a
pydantic model. The same parser serves the events queue and ``POST /events``, so both reject
the same input with the same error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from keyworker.errors import InvalidEvent, UnknownEventType

DOOR_SYNCED = "door.synced"
KEY_DELIVERED = "key.delivered"
APP_KEY_LIST_RELOADED = "app.key_list_reloaded"
DOOR_HEARTBEAT = "door.heartbeat"
EVENT_TYPES = (DOOR_SYNCED, KEY_DELIVERED, APP_KEY_LIST_RELOADED, DOOR_HEARTBEAT)

_MAX_EVENT_BYTES = 64 * 1024
_NAME = Field(min_length=1, max_length=128)


class _Data(BaseModel):
    # Built on first use, not at import (cold start): an event needs only its own type's model.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    site_id: StrictStr = _NAME


class _DoorSyncedData(_Data):
    door_id: StrictStr = _NAME
    version: StrictInt = Field(ge=0)


class _KeyDeliveredData(_Data):
    key_id: StrictStr = _NAME


class _DoorHeartbeatData(_Data):
    door_id: StrictStr = _NAME


class _AppReloadedData(_Data):
    phone: StrictStr = Field(min_length=3, max_length=32)


@dataclass(frozen=True, slots=True)
class DoorSynced:
    """A door (or a technician's device) applied every change up to ``version``."""

    type: ClassVar[str] = DOOR_SYNCED
    event_id: str
    site_id: str
    door_id: str
    version: int


@dataclass(frozen=True, slots=True)
class KeyDelivered:
    """The mobile-access cloud delivered a digital key to the keyholder's phone."""

    type: ClassVar[str] = KEY_DELIVERED
    event_id: str
    site_id: str
    key_id: str


@dataclass(frozen=True, slots=True)
class AppKeyListReloaded:
    """The keyholder's app reloaded its key list (completes pending revocations)."""

    type: ClassVar[str] = APP_KEY_LIST_RELOADED
    event_id: str
    site_id: str
    phone: str


@dataclass(frozen=True, slots=True)
class DoorHeartbeat:
    """A door says it is alive (and reachable) at ``at`` (the event's ``time``; None: when
    it arrives)."""

    type: ClassVar[str] = DOOR_HEARTBEAT
    event_id: str
    site_id: str
    door_id: str
    at: int | None


FieldEvent = DoorSynced | KeyDelivered | AppKeyListReloaded | DoorHeartbeat


def parse_field_event(raw: str | bytes | Mapping[str, Any]) -> FieldEvent:
    """The field event in ``raw`` (JSON text or an already decoded object).

    Raises UnknownEventType for a type keyworker does not handle and InvalidEvent, naming the
    field, for anything else that is wrong.
    """
    text, attributes = _as_json_text(raw)
    # The SDK fills in a missing id; keyworker needs the sender's id to drop duplicates.
    for name in ("specversion", "id", "source", "type"):
        value = attributes.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidEvent(f"{name} is required and must be a non-empty string", field=name)
    try:
        event = JSONFormat().read(CloudEvent, text)
    except CloudEventValidationError as exc:
        field = next(iter(exc.errors), None)
        raise InvalidEvent(f"invalid CloudEvent: {exc}", field=field) from exc
    except (BaseCloudEventException, ValueError, TypeError, KeyError) as exc:
        # The SDK's parsers raise plain errors for a bad attribute value; time is the one it parses.
        field = "time" if "time" in attributes else None
        raise InvalidEvent(f"invalid CloudEvent: {exc}", field=field) from exc
    event_type = event.get_type()
    data = event.get_data()
    if not isinstance(data, dict):
        raise InvalidEvent("data must be a JSON object", field="data")
    event_id = event.get_id()
    try:
        if event_type == DOOR_SYNCED:
            d = _DoorSyncedData.model_validate(data)
            return DoorSynced(event_id, d.site_id, d.door_id, d.version)
        if event_type == KEY_DELIVERED:
            k = _KeyDeliveredData.model_validate(data)
            return KeyDelivered(event_id, k.site_id, k.key_id)
        if event_type == APP_KEY_LIST_RELOADED:
            a = _AppReloadedData.model_validate(data)
            return AppKeyListReloaded(event_id, a.site_id, a.phone)
        if event_type == DOOR_HEARTBEAT:
            h = _DoorHeartbeatData.model_validate(data)
            sent = event.get_time()
            at = None if sent is None else int(sent.timestamp())
            return DoorHeartbeat(event_id, h.site_id, h.door_id, at)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "data." + ".".join(str(p) for p in first["loc"]) if first["loc"] else "data"
        raise InvalidEvent(f"{field}: {first['msg']}", field=field) from exc
    raise UnknownEventType(
        f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}", field="type"
    )


def _as_json_text(raw: str | bytes | Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    if isinstance(raw, Mapping):
        return json.dumps(raw), raw
    if len(raw) > _MAX_EVENT_BYTES:
        raise InvalidEvent(f"event larger than {_MAX_EVENT_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        decoded = json.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidEvent("event is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"event is not JSON: {exc.msg}") from exc
    if not isinstance(decoded, dict):
        raise InvalidEvent("event must be a JSON object")
    return text, decoded
