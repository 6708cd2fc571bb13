"""Commands on keys: typed values that say what someone wants done to one key.

Every change of a key — by a person through the API, by the worker, by a door, the mobile-access
cloud, the keyholder's app, the clock, or a bulk revocation run — is one of these values, run by
:class:`keyworker.domain.pipeline.KeyPipeline` (decide → persist → hand to doors → record what
happened → tell the outside world). Nothing else writes a key.

Fields hold the caller's input as given; the pipeline checks it (a typed error naming the
field) before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class Unchanged:
    """The value of a field a modification leaves as it is (``None`` means "remove")."""

    _instance: Unchanged | None = None

    def __new__(cls) -> Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged()


@dataclass(frozen=True, slots=True, kw_only=True)
class _NewKey:
    """What both creates state: the keyholder, the doors, the validity and schedule."""

    site_id: str
    holder_id: str
    door_ids: Sequence[str]
    valid_from: int
    actor: str
    valid_until: int | None = None
    schedule: Mapping[str, Any] | None = None
    # The API's Idempotency-Key (or a job's id): the key id is derived from it.
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateAccessMedium(_NewKey):
    """Issue a card or fob for a set of doors: every door gets deployment work."""

    card_uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateDigitalKey(_NewKey):
    """Issue a mobile key to a phone number: signed and delivered by the mobile-access cloud;
    no door work unless the phone is blocked."""

    phone: str


@dataclass(frozen=True, slots=True)
class ModifyKey:
    """Change an issued key in place: its door set, validity or schedule (``UNCHANGED`` fields
    stay). Added doors get deployment work, removed doors removal work, doors that hold a
    changed entry get it again; a digital key is signed and delivered again."""

    site_id: str
    key_id: str
    actor: str
    door_ids: Sequence[str] | Unchanged = UNCHANGED
    valid_from: int | Unchanged = UNCHANGED
    valid_until: int | Unchanged | None = UNCHANGED
    schedule: Mapping[str, Any] | Unchanged | None = UNCHANGED
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class RevokeKey:
    """Revoke a key: an access medium's doors get removal work; a digital key is taken back
    from its phone (complete when the app reloads its key list)."""

    site_id: str
    key_id: str
    actor: str
    reason: str | None = None
    # Recorded in the audit event (e.g. the revocation run that revoked it).
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeyDelivered:
    """The mobile-access cloud delivered a digital key (its latest credential) to the phone.
    ``event``: the token of the field event that says so (``delivery_event_token``), which
    the key remembers: the same event again changes nothing. None: not from a field event."""

    site_id: str
    key_id: str
    actor: str
    event: str | None = None


@dataclass(frozen=True, slots=True)
class FollowPhone:
    """Make a digital key follow its phone's block state as of the phone's revision
    ``blocked_rev`` (the last block/unblock written to the phone wins on every key)."""

    site_id: str
    key_id: str
    blocked: bool
    blocked_rev: int
    actor: str


@dataclass(frozen=True, slots=True)
class ConfirmDoor:
    """A door applied ``version``: the key's row there completes if a change up to that
    version carried the row's latest intent (one of ``seqs``)."""

    site_id: str
    key_id: str
    door_id: str
    version: int
    seqs: frozenset[int]
    actor: str


@dataclass(frozen=True, slots=True)
class AppReloaded:
    """The keyholder's app reloaded its key list: a revoked digital key's revocation completes."""

    site_id: str
    key_id: str
    actor: str


@dataclass(frozen=True, slots=True)
class RefreshStatus:
    """Evaluate the key again (time passed, a door changed its connectivity) and store the new
    index copy; an audit event only when a status a person sees changed. Also finishes door
    work a crashed command left behind."""

    site_id: str
    key_id: str
    actor: str
    action: str = "time_passed"
    details: Mapping[str, Any] = field(default_factory=dict)


NewKeyCommand = CreateAccessMedium | CreateDigitalKey
KeyCommand = (
    CreateAccessMedium
    | CreateDigitalKey
    | ModifyKey
    | RevokeKey
    | KeyDelivered
    | FollowPhone
    | ConfirmDoor
    | AppReloaded
    | RefreshStatus
)

__all__ = [
    "UNCHANGED",
    "AppReloaded",
    "ConfirmDoor",
    "CreateAccessMedium",
    "CreateDigitalKey",
    "FollowPhone",
    "KeyCommand",
    "KeyDelivered",
    "ModifyKey",
    "NewKeyCommand",
    "RefreshStatus",
    "RevokeKey",
    "Unchanged",
]
