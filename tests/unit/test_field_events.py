import json
from typing import Any

import pytest

from keyworker.errors import InvalidEvent, UnknownEventType
from keyworker.field_events import (
    AppKeyListReloaded,
    DoorSynced,
    KeyDelivered,
    parse_field_event,
)


def _event(type_: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "ev-1",
        "source": "test",
        "type": type_,
        "data": data,
        **extra,
    }


def test_each_event_type_parses_from_json_text_bytes_and_mappings() -> None:
    synced = _event(
        "door.synced", {"site_id": "s", "door_id": "d", "version": 7}, time="2026-11-26T10:00:00Z"
    )
    assert parse_field_event(json.dumps(synced)) == DoorSynced("ev-1", "s", "d", 7)
    delivered = _event("key.delivered", {"site_id": "s", "key_id": "k"})
    assert parse_field_event(json.dumps(delivered).encode()) == KeyDelivered("ev-1", "s", "k")
    reloaded = _event("app.key_list_reloaded", {"site_id": "s", "phone": "+41791234567"})
    assert parse_field_event(reloaded) == AppKeyListReloaded("ev-1", "s", "+41791234567")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (_event("door.synced", {"site_id": "s", "door_id": "d", "version": "3"}), "data.version"),
        (_event("door.synced", {"site_id": "s", "door_id": "d", "version": -1}), "data.version"),
        (_event("door.synced", {"site_id": "s", "door_id": "d", "version": True}), "data.version"),
        (_event("door.synced", {"site_id": "s", "door_id": "d"}), "data.version"),
        (_event("key.delivered", {"site_id": "s", "key_id": "k", "extra": 1}), "data.extra"),
        (_event("key.delivered", {"site_id": "", "key_id": "k"}), "data.site_id"),
        (_event("key.delivered", [1, 2]), "data"),
        ({k: v for k, v in _event("key.delivered", {}).items() if k != "id"}, "id"),
        (_event("key.delivered", {}, id=""), "id"),
        (_event("key.delivered", {}, specversion="0.3"), "specversion"),
        (_event("key.delivered", {"site_id": "s", "key_id": "k"}, time="yesterday"), "time"),
    ],
)
def test_malformed_events_name_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_field_event(event)
    assert err.value.field == field


def test_unknown_type_is_its_own_error() -> None:
    with pytest.raises(UnknownEventType, match=r"door\.synced"):
        parse_field_event(_event("door.exploded", {"site_id": "s"}))


@pytest.mark.parametrize("raw", ["", "not json", "[1]", b"\xff\xfe", "x" * 70_000])
def test_non_objects_are_rejected(raw: str | bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_field_event(raw)
