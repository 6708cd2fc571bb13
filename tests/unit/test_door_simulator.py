"""The simulated door enforces what it was sent: a card is accepted only inside its validity
and its weekly schedule, and not at all once removed. The decision is the core's
(``credentials.door_decision``); the simulator only looks the card up."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from keyworker import credentials as cr
from keyworker.adapters.door_commands import door_command_body
from keyworker.domain.credential_adapters import CoreDoorUpdateEncoder, credential_id
from keyworker.domain.doors import door_entry
from keyworker.domain.models import DoorRow, DoorUpdate, KeyRecord
from keyworker.local.simulators import DoorSimulator

SITE, DOOR = "site-1", "flat-1"
DOOR_KEY = cr.DoorKey("door-kid", b"k" * 32)
# 2026-01-01T00:00:00Z, a Thursday; Zurich is at UTC+1 in January.
NEW_YEAR = 1_767_225_600
HOUR = 3600
# Saturday 2026-01-03, local 09:00 is 08:00Z.
SATURDAY_NINE = NEW_YEAR + 2 * 86_400 + 8 * HOUR
SATURDAY_NINE_TO_TEN = {
    "time_zone": "Europe/Zurich",
    "windows": [{"days": ["sat"], "start": "09:00", "end": "10:00"}],
}


class _Keyring:
    """The one door key the simulated door is provisioned with."""

    def door_keys(self, site_id: str, door_id: str) -> tuple[cr.DoorKey, ...]:
        return (DOOR_KEY,)


class _Feedback:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, body: str) -> None:
        self.sent.append(json.loads(body))


def _card(schedule: dict[str, Any] | None, *, revoked: bool = False) -> KeyRecord:
    return KeyRecord(
        site_id=SITE,
        key_id=str(uuid.UUID(int=7)),
        key_type="access_medium",
        holder_id="holder-1",
        rows=(DoorRow(DOOR, "none"),),
        valid_from=NEW_YEAR,
        valid_until=NEW_YEAR + 30 * 86_400,
        schedule=schedule,
        created_at=1,
        updated_at=1,
        card_uid="04a1b2c3",
        revoked=revoked,
    )


def _send(door: DoorSimulator, record: KeyRecord, version: int) -> None:
    """Encode the key's door entry as the worker does and hand it to the door as a command."""
    entry = door_entry(record, DOOR)
    payload = CoreDoorUpdateEncoder(lambda site, d: DOOR_KEY).encode(
        SITE, DOOR, version - 1, version, [entry]
    )
    body = door_command_body(DoorUpdate(SITE, DOOR, version, version - 1, (entry,), payload))
    result = door({"Records": [{"messageId": f"m{version}", "body": body}]}, None)
    assert result == {"batchItemFailures": []}


@pytest.fixture
def door() -> DoorSimulator:
    return DoorSimulator(_Keyring(), _Feedback())  # type: ignore[arg-type]


def test_a_scheduled_card_opens_only_inside_its_window(door: DoorSimulator) -> None:
    card = _card(SATURDAY_NINE_TO_TEN)
    _send(door, card, 1)
    cid = credential_id(card.key_id)
    held = door.doors[(SITE, DOOR)].credentials[cid]
    assert held.schedule == cr.CredentialSchedule(
        "Europe/Zurich", (cr.ScheduleWindow(("sat",), 540, 600),)
    )

    def swipe(instant: int) -> cr.DoorDecision | None:
        return door.swipe(SITE, DOOR, cid, instant)

    assert swipe(SATURDAY_NINE) == cr.DoorDecision.ADMIT
    assert swipe(SATURDAY_NINE + HOUR - 1) == cr.DoorDecision.ADMIT
    assert swipe(SATURDAY_NINE - 1) == cr.DoorDecision.OUTSIDE_SCHEDULE
    assert swipe(SATURDAY_NINE + HOUR) == cr.DoorDecision.OUTSIDE_SCHEDULE
    # Sunday at the same time of day, and Saturday a week later (still valid) again.
    assert swipe(SATURDAY_NINE + 86_400) == cr.DoorDecision.OUTSIDE_SCHEDULE
    assert swipe(SATURDAY_NINE + 7 * 86_400 + 1800) == cr.DoorDecision.ADMIT
    # Saturday inside the window, but after the validity ended.
    assert swipe(SATURDAY_NINE + 35 * 86_400) == cr.DoorDecision.EXPIRED
    # Saturday 2025-12-27 09:30 local, before the validity starts.
    assert swipe(SATURDAY_NINE - 7 * 86_400 + 1800) == cr.DoorDecision.NOT_YET_VALID


def test_a_card_without_schedule_opens_at_any_hour_of_its_validity(door: DoorSimulator) -> None:
    card = _card(None)
    _send(door, card, 1)
    cid = credential_id(card.key_id)
    for instant in (NEW_YEAR, SATURDAY_NINE - 1, SATURDAY_NINE + 5 * HOUR + 59):
        assert door.swipe(SITE, DOOR, cid, instant) == cr.DoorDecision.ADMIT
    assert door.swipe(SITE, DOOR, cid, NEW_YEAR - 1) == cr.DoorDecision.NOT_YET_VALID


def test_a_revoked_card_is_refused_even_inside_its_window(door: DoorSimulator) -> None:
    card = _card(SATURDAY_NINE_TO_TEN)
    cid = credential_id(card.key_id)
    _send(door, card, 1)
    assert door.swipe(SITE, DOOR, cid, SATURDAY_NINE) == cr.DoorDecision.ADMIT
    _send(door, _card(SATURDAY_NINE_TO_TEN, revoked=True), 2)
    assert cid not in door.doors[(SITE, DOOR)].credentials
    assert door.swipe(SITE, DOOR, cid, SATURDAY_NINE) is None


def test_an_unknown_card_or_door_is_refused(door: DoorSimulator) -> None:
    _send(door, _card(None), 1)
    assert door.swipe(SITE, DOOR, bytes(16), SATURDAY_NINE) is None
    assert door.swipe(SITE, "other-door", bytes(16), SATURDAY_NINE) is None


def test_a_door_that_reads_only_format_1_refuses_the_update(door: DoorSimulator) -> None:
    old_door = DoorSimulator(_Keyring(), _Feedback(), newest_format=1)  # type: ignore[arg-type]
    card = _card(SATURDAY_NINE_TO_TEN)
    entry = door_entry(card, DOOR)
    payload = CoreDoorUpdateEncoder(lambda site, d: DOOR_KEY).encode(SITE, DOOR, 0, 1, [entry])
    body = door_command_body(DoorUpdate(SITE, DOOR, 1, 0, (entry,), payload))
    result = old_door({"Records": [{"messageId": "m1", "body": body}]}, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert (SITE, DOOR) not in old_door.doors
