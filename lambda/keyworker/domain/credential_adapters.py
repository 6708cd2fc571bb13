"""Real implementations of the signer and door-update ports on ``keyworker.credentials``.

A key's credential id (the ``cti`` of its credential and the subject of its door entries) is
the 16 bytes of its key id, which is a UUID; a phone's subject at a door is the first 16 bytes
of its keyed hash, so doors never learn a number.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from keyworker import credentials
from keyworker.domain.models import DoorEntry
from keyworker.domain.ports import Clock, DigitalKeyCredentialRequest
from keyworker.errors import InvalidInput
from keyworker.status import Schedule

# Monday-first, as the credential format lists days.
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def credential_id(key_id: str) -> bytes:
    try:
        return uuid.UUID(key_id).bytes
    except ValueError as error:
        raise InvalidInput(f"key id {key_id} is not a UUID", field="key_id") from error


def _phone_subject(phone_hash: str | None) -> bytes:
    if phone_hash is None:
        raise InvalidInput("a digital key's door entry needs its phone hash", field="phone_hash")
    return bytes.fromhex(phone_hash)[: credentials.PHONE_HASH_LEN]


def credential_schedule(schedule: Schedule | None) -> credentials.CredentialSchedule | None:
    if schedule is None:
        return None
    return credentials.CredentialSchedule(
        time_zone=schedule.time_zone,
        windows=tuple(
            credentials.ScheduleWindow(
                days=tuple(day for day in _WEEKDAYS if day in window.days),
                start_minute=window.start,
                end_minute=window.end,
            )
            for window in schedule.windows
        ),
    )


class CoreCredentialSigner:
    """Signs digital-key credentials with the site's signing key (ES256 or EdDSA)."""

    def __init__(self, signing_key: Callable[[str], credentials.SigningKey], clock: Clock) -> None:
        self._signing_key = signing_key
        self._clock = clock

    def sign_digital_key(self, key: DigitalKeyCredentialRequest) -> bytes:
        schedule = None if key.schedule is None else Schedule.from_json(key.schedule)
        claims = credentials.CredentialClaims(
            site_id=key.site_id,
            key_id=key.key_id,
            credential_id=credential_id(key.key_id),
            issued_at=self._clock.now(),
            valid_from=key.valid_from,
            valid_until=key.valid_until,
            door_ids=tuple(key.door_ids),
            key_type=credentials.KeyType.DIGITAL_KEY,
            holder_ref=key.holder_id,
            schedule=credential_schedule(schedule),
        )
        return credentials.issue(self._signing_key(key.site_id), claims)


def door_change(entry: DoorEntry) -> credentials.DoorChange:
    if entry.op == "add_credential":
        # The card's schedule goes to the door with its validity: the door enforces what the
        # API and the home status say about it.
        schedule = None if entry.schedule is None else Schedule.from_json(entry.schedule)
        return credentials.DoorChange.add_credential(
            credential_id(entry.key_id),
            entry.valid_from,
            entry.valid_until,
            credential_schedule(schedule),
        )
    if entry.op == "remove_credential":
        return credentials.DoorChange.remove_credential(credential_id(entry.key_id))
    if entry.op == "block_phone":
        return credentials.DoorChange.block_phone(_phone_subject(entry.phone_hash))
    return credentials.DoorChange.unblock_phone(_phone_subject(entry.phone_hash))


class CoreDoorUpdateEncoder:
    """Encodes door updates as COSE_Mac0 under each door's own key.

    ``door_key`` gives the key of (site, door); ``blocklist_len`` how many phones the door's
    blocklist holds (the core refuses an update that would overflow it). keyworker does not
    count blocklist entries per door yet, so the default reports 0.
    """

    def __init__(
        self,
        door_key: Callable[[str, str], credentials.DoorKey],
        blocklist_len: Callable[[str, str], int] = lambda _site, _door: 0,
    ) -> None:
        self._door_key = door_key
        self._blocklist_len = blocklist_len

    def encode(
        self,
        site_id: str,
        door_id: str,
        from_version: int,
        to_version: int,
        entries: Sequence[DoorEntry],
    ) -> bytes:
        update = credentials.DoorUpdate(
            door_id=door_id,
            from_version=from_version,
            to_version=to_version,
            changes=tuple(door_change(entry) for entry in entries),
        )
        return credentials.encode_door_update(
            self._door_key(site_id, door_id),
            update,
            blocklist_len=self._blocklist_len(site_id, door_id),
        )
