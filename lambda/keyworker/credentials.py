"""Key credentials and door updates: the typed facade over the Rust core.

A key credential is a CWT (RFC 8392) signed as a COSE_Sign1 (RFC 9052) with the site's ES256 or
EdDSA key; a door update is the list of changes one door must apply between two versions,
MAC'd as a COSE_Mac0 under the door's own key. Every encoding rule, claim label and check lives
in ``keyworker_core::credential``; this module only gives the inputs and results names and
types. The format is documented in ``docs/credential-format.md``.

Failures raise the classes of :mod:`keyworker.errors`: ``InvalidInput`` (naming the field) for
bad caller input, and for tokens that must not be trusted ``InvalidCredential``,
``BadSignature``, ``UnexpectedAlgorithm``, ``UnknownCriticalHeader``, ``UnknownKeyId``,
``CredentialExpired``, ``CredentialNotYetValid``, ``UnsupportedFormat`` (a door update newer
than the reader knows); ``BlocklistFull`` when a door's blocklist would overflow.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import NamedTuple

from keyworker import _core
from keyworker._core import (
    BLOCKLIST_LIMIT,
    CREDENTIAL_ID_LEN,
    DOOR_UPDATE_FORMAT,
    PHONE_HASH_LEN,
    DoorKey,
    SigningKey,
    VerificationKey,
    derive_door_secret,
    generate_signing_key,
)

__all__ = [
    "BLOCKLIST_LIMIT",
    "CREDENTIAL_ID_LEN",
    "DOOR_UPDATE_FORMAT",
    "PHONE_HASH_LEN",
    "Algorithm",
    "ChangeOp",
    "CredentialClaims",
    "CredentialSchedule",
    "DoorChange",
    "DoorDecision",
    "DoorKey",
    "DoorUpdate",
    "KeyType",
    "OpenedDoorUpdate",
    "ScheduleWindow",
    "SigningKey",
    "VerificationKey",
    "VerifiedCredential",
    "derive_door_secret",
    "door_decision",
    "encode_door_update",
    "encode_door_updates",
    "generate_signing_key",
    "issue",
    "issue_batch",
    "new_credential_id",
    "open_door_update",
    "verify",
]


class Algorithm(StrEnum):
    """A site's signing algorithm (COSE names)."""

    ES256 = "ES256"
    EDDSA = "EdDSA"


class KeyType(StrEnum):
    """What kind of key a credential belongs to."""

    ACCESS_MEDIUM = "access_medium"
    DIGITAL_KEY = "digital_key"


@dataclass(frozen=True, slots=True)
class ScheduleWindow:
    """On ``days`` (``mon`` .. ``sun``), from ``start_minute`` to ``end_minute`` (exclusive,
    1440 = 24:00) of the local day."""

    days: tuple[str, ...]
    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class CredentialSchedule:
    """The weekly schedule a credential carries: the site's IANA time zone and its windows."""

    time_zone: str
    windows: tuple[ScheduleWindow, ...]


@dataclass(frozen=True, slots=True)
class CredentialClaims:
    """What a key credential says. Instants are UTC seconds; ``valid_until`` is exclusive."""

    site_id: str
    key_id: str
    credential_id: bytes
    issued_at: int
    valid_from: int
    valid_until: int | None
    door_ids: tuple[str, ...]
    key_type: KeyType
    holder_ref: str
    schedule: CredentialSchedule | None = None


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """A credential whose signature verified, and the key id and algorithm that verified it."""

    kid: str
    algorithm: Algorithm
    claims: CredentialClaims


def new_credential_id() -> bytes:
    """A fresh random credential id (``cti``): the 16 bytes of a UUID4."""
    return uuid.uuid4().bytes


def issue(key: SigningKey, claims: CredentialClaims) -> bytes:
    """Sign one credential: a tagged COSE_Sign1 whose payload is the CWT claims set."""
    return _core.issue_credential(key, claims)


def issue_batch(
    key: SigningKey, claims: Sequence[CredentialClaims], *, parallel: bool = True
) -> list[bytes]:
    """Sign many credentials in one call, on all cores with the interpreter released.

    Every claim set is checked before anything is signed; a bad one raises ``InvalidInput``
    naming ``claims[i].<field>``.
    """
    return _core.issue_credentials(key, claims, parallel)


def verify(
    token: bytes, keys: Sequence[VerificationKey], *, now: int | None = None
) -> VerifiedCredential:
    """Verify a credential against a site's trusted keys (current and not-yet-retired kids).

    With ``now`` (UTC seconds) the validity window is checked too.
    """
    (
        kid,
        algorithm,
        site_id,
        key_id,
        credential_id,
        issued_at,
        valid_from,
        valid_until,
        door_ids,
        schedule,
        key_type,
        holder_ref,
    ) = _core.verify_credential(token, keys, now)
    return VerifiedCredential(
        kid=kid,
        algorithm=Algorithm(algorithm),
        claims=CredentialClaims(
            site_id=site_id,
            key_id=key_id,
            credential_id=credential_id,
            issued_at=issued_at,
            valid_from=valid_from,
            valid_until=valid_until,
            door_ids=tuple(door_ids),
            key_type=KeyType(key_type),
            holder_ref=holder_ref,
            schedule=_schedule(schedule),
        ),
    )


def _schedule(
    schedule: tuple[str, list[tuple[list[str], int, int]]] | None,
) -> CredentialSchedule | None:
    """The core's ``(time_zone, [(days, start, end), ...])`` as a ``CredentialSchedule``."""
    if schedule is None:
        return None
    time_zone, windows = schedule
    return CredentialSchedule(
        time_zone=time_zone,
        windows=tuple(
            ScheduleWindow(days=tuple(days), start_minute=start, end_minute=end)
            for days, start, end in windows
        ),
    )


class ChangeOp(IntEnum):
    """The kinds of door-update entry; the values are the core's wire codes."""

    ADD_CREDENTIAL = _core.DOOR_CHANGE_ADD
    REMOVE_CREDENTIAL = _core.DOOR_CHANGE_REMOVE
    BLOCK_PHONE = _core.DOOR_CHANGE_BLOCK
    UNBLOCK_PHONE = _core.DOOR_CHANGE_UNBLOCK


class DoorChange(NamedTuple):
    """One change a door must apply. ``subject`` is a credential id (16 bytes) or a phone hash
    (the site's 32-byte keyed hash, or its first 16 bytes, which is what the door keeps). An
    added credential has a validity and, when it is time-limited, a weekly ``schedule``."""

    op: ChangeOp
    subject: bytes
    valid_from: int | None = None
    valid_until: int | None = None
    schedule: CredentialSchedule | None = None

    @classmethod
    def add_credential(
        cls,
        credential_id: bytes,
        valid_from: int,
        valid_until: int | None,
        schedule: CredentialSchedule | None = None,
    ) -> DoorChange:
        return cls(ChangeOp.ADD_CREDENTIAL, credential_id, valid_from, valid_until, schedule)

    @classmethod
    def remove_credential(cls, credential_id: bytes) -> DoorChange:
        return cls(ChangeOp.REMOVE_CREDENTIAL, credential_id)

    @classmethod
    def block_phone(cls, phone_hash: bytes) -> DoorChange:
        return cls(ChangeOp.BLOCK_PHONE, phone_hash)

    @classmethod
    def unblock_phone(cls, phone_hash: bytes) -> DoorChange:
        return cls(ChangeOp.UNBLOCK_PHONE, phone_hash)


@dataclass(frozen=True, slots=True)
class DoorUpdate:
    """The changes, applied in order, that take a door from ``from_version`` to ``to_version``."""

    door_id: str
    from_version: int
    to_version: int
    changes: tuple[DoorChange, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class OpenedDoorUpdate:
    """A door update whose MAC verified, with the kid of the door key that verified it and the
    format it was written in (``DOOR_UPDATE_FORMAT`` for every update keyworker encodes)."""

    kid: str
    update: DoorUpdate
    format: int = DOOR_UPDATE_FORMAT


def encode_door_update(key: DoorKey, update: DoorUpdate, *, blocklist_len: int) -> bytes:
    """Encode and MAC one door update (tagged COSE_Mac0, HMAC 256/256).

    ``blocklist_len`` is how many phones the door's blocklist holds at ``from_version``; an
    update that would take it past ``BLOCKLIST_LIMIT`` raises ``BlocklistFull`` and nothing is
    encoded.
    """
    return _core.encode_door_update(key, update, blocklist_len)


def encode_door_updates(
    jobs: Sequence[tuple[DoorKey, DoorUpdate, int]], *, parallel: bool = True
) -> list[bytes]:
    """Encode many door updates, each ``(door_key, update, blocklist_len)``, in one call."""
    return _core.encode_door_updates(jobs, parallel)


def open_door_update(
    message: bytes, keys: Sequence[DoorKey], *, newest_format: int = DOOR_UPDATE_FORMAT
) -> OpenedDoorUpdate:
    """Verify a door update's MAC with the door's keys and decode it (what a door does).

    ``newest_format`` is the newest door-update format the reader knows (a door's firmware); a
    newer update raises ``UnsupportedFormat`` and nothing of it is read.
    """
    kid, format_, door_id, from_version, to_version, changes = _core.open_door_update(
        message, keys, newest_format
    )
    return OpenedDoorUpdate(
        kid=kid,
        format=format_,
        update=DoorUpdate(
            door_id=door_id,
            from_version=from_version,
            to_version=to_version,
            changes=tuple(
                DoorChange(ChangeOp(op), subject, valid_from, valid_until, _schedule(schedule))
                for op, subject, valid_from, valid_until, schedule in changes
            ),
        ),
    )


class DoorDecision(StrEnum):
    """What a door decides when a card it holds is presented (the core's codes)."""

    ADMIT = "admit"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    OUTSIDE_SCHEDULE = "outside_schedule"


def door_decision(
    valid_from: int, valid_until: int | None, schedule: CredentialSchedule | None, instant: int
) -> DoorDecision:
    """The door's rule for a credential it holds (from its add entry), at ``instant`` (UTC
    seconds): open inside ``[valid_from, valid_until)`` and, with a schedule, only inside one of
    its windows in the schedule's time zone (daylight-saving time applied). Decided by the core,
    with the status engine's schedule rule."""
    return DoorDecision(_core.door_decision(valid_from, valid_until, schedule, instant))
