"""The real signer and door-update encoder behind the ports, on keyworker.credentials."""

from __future__ import annotations

import uuid

import pytest

from keyworker import credentials
from keyworker.clock import FixedClock
from keyworker.domain.credential_adapters import (
    CoreCredentialSigner,
    CoreDoorUpdateEncoder,
    credential_id,
)
from keyworker.domain.doors import door_entry
from keyworker.domain.models import DoorEntry, DoorRow, KeyRecord
from keyworker.errors import InvalidInput

KEY_ID = str(uuid.uuid4())
PHONE_HASH = "ab" * 32


def _digital_key() -> KeyRecord:
    return KeyRecord(
        site_id="site-1",
        key_id=KEY_ID,
        key_type="digital_key",
        holder_id="holder-7",
        rows=(DoorRow("entrance", "none"), DoorRow("flat-1", "none")),
        valid_from=1_000,
        valid_until=90_000,
        schedule={
            "time_zone": "Europe/Zurich",
            "windows": [{"days": ["mon", "tue"], "start": "07:00", "end": "19:00"}],
        },
        created_at=1,
        updated_at=1,
        phone_hash=PHONE_HASH,
    )


def test_signed_digital_key_verifies_with_its_facts() -> None:
    pkcs8 = credentials.generate_signing_key("EdDSA")
    signing_key = credentials.SigningKey.from_pkcs8("EdDSA", "kid-1", pkcs8)
    signer = CoreCredentialSigner(lambda site: signing_key, FixedClock(500))
    token = signer.sign_digital_key(_digital_key())
    verified = credentials.verify(token, [signing_key.verification_key()])
    claims = verified.claims
    assert claims.key_id == KEY_ID
    assert claims.credential_id == uuid.UUID(KEY_ID).bytes
    assert claims.door_ids == ("entrance", "flat-1")
    assert (claims.valid_from, claims.valid_until, claims.issued_at) == (1_000, 90_000, 500)
    assert claims.holder_ref == "holder-7"
    assert claims.schedule is not None
    assert claims.schedule.windows[0].days == ("mon", "tue")
    assert (claims.schedule.windows[0].start_minute, claims.schedule.windows[0].end_minute) == (
        420,
        1140,
    )


def test_door_update_carries_every_entry_under_the_door_key() -> None:
    door_key = credentials.DoorKey("door-kid", b"k" * 32)
    encoder = CoreDoorUpdateEncoder(lambda site, door: door_key)
    other = str(uuid.uuid4())
    entries = [
        DoorEntry("add_credential", KEY_ID, "access_medium", "card", None, 10, None, None),
        DoorEntry("remove_credential", other, "access_medium", "card", None, 10, 20, None),
        DoorEntry("block_phone", KEY_ID, "digital_key", None, PHONE_HASH, 10, None, None),
        DoorEntry("unblock_phone", KEY_ID, "digital_key", None, PHONE_HASH, 10, None, None),
    ]
    payload = encoder.encode("site-1", "flat-1", 3, 7, entries)
    opened = credentials.open_door_update(payload, [door_key]).update
    assert (opened.door_id, opened.from_version, opened.to_version) == ("flat-1", 3, 7)
    assert [change.op for change in opened.changes] == [
        credentials.ChangeOp.ADD_CREDENTIAL,
        credentials.ChangeOp.REMOVE_CREDENTIAL,
        credentials.ChangeOp.BLOCK_PHONE,
        credentials.ChangeOp.UNBLOCK_PHONE,
    ]
    assert opened.changes[0].subject == uuid.UUID(KEY_ID).bytes
    assert opened.changes[1].subject == uuid.UUID(other).bytes
    assert opened.changes[2].subject == bytes.fromhex(PHONE_HASH)[:16]


def test_an_access_medium_entry_carries_the_cards_schedule_and_validity() -> None:
    door_key = credentials.DoorKey("door-kid", b"k" * 32)
    card = KeyRecord(
        site_id="site-1",
        key_id=KEY_ID,
        key_type="access_medium",
        holder_id="holder-7",
        rows=(DoorRow("flat-1", "none"),),
        valid_from=1_000,
        valid_until=90_000,
        schedule={
            "time_zone": "Europe/Zurich",
            "windows": [
                {"days": ["sat"], "start": "09:00", "end": "10:00"},
                {"days": ["mon", "wed", "fri"], "start": "18:30", "end": "24:00"},
            ],
        },
        created_at=1,
        updated_at=1,
        card_uid="04a1b2c3",
    )
    payload = CoreDoorUpdateEncoder(lambda site, door: door_key).encode(
        "site-1", "flat-1", 0, 1, [door_entry(card, "flat-1")]
    )
    opened = credentials.open_door_update(payload, [door_key])
    assert opened.format == credentials.DOOR_UPDATE_FORMAT == 2
    assert opened.update.changes == (
        credentials.DoorChange.add_credential(
            uuid.UUID(KEY_ID).bytes,
            1_000,
            90_000,
            credentials.CredentialSchedule(
                "Europe/Zurich",
                (
                    credentials.ScheduleWindow(("sat",), 540, 600),
                    credentials.ScheduleWindow(("mon", "wed", "fri"), 1110, 1440),
                ),
            ),
        ),
    )


def test_a_key_id_that_is_not_a_uuid_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        credential_id("not-a-uuid")
    assert caught.value.field == "key_id"
