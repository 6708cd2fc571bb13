"""Request and response bodies of the HTTP API (pydantic v2); the OpenAPI document is
generated from these (``docs/openapi.json``).

Request models check shape only (types, lengths, required fields); the rules (ids, validity,
schedules, phone numbers) are the services' and the core's, which name the field they refuse.
Instants are ISO 8601 with a time zone (UTC ``Z`` in responses).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

Id = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------- requests


class DoorIn(_In):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    kind: Literal["common", "unit"]
    connectivity: Literal["online", "offline"]


class DoorSyncIn(_In):
    version: StrictInt = Field(ge=0, description="The door version the door has applied.")


class ScheduleWindowIn(_In):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: StrictStr = Field(description="HH:MM, local time", examples=["07:00"])
    end: StrictStr = Field(description="HH:MM (24:00 for the end of the day)")


class ScheduleIn(_In):
    time_zone: StrictStr = Field(description="IANA time zone of the site, e.g. Europe/Zurich")
    windows: list[ScheduleWindowIn] = Field(min_length=1)


class _NewKeyIn(_In):
    holder_id: Id
    door_ids: list[Id] = Field(min_length=1, max_length=100)
    valid_from: AwareDatetime = Field(description="Move-in: ISO 8601 with time zone.")
    valid_until: AwareDatetime | None = None
    schedule: ScheduleIn | None = None


class AccessMediumIn(_NewKeyIn):
    card_uid: Id


class DigitalKeyIn(_NewKeyIn):
    phone: Annotated[StrictStr, Field(min_length=3, max_length=32)] = Field(
        description="The keyholder's phone number (E.164, or national with the site's region)."
    )


class KeyModificationIn(_In):
    """A change of an issued key: the fields given replace the key's; the others stay.
    ``valid_until`` and ``schedule`` given as null remove them."""

    door_ids: list[Id] | None = Field(
        default=None, max_length=100, description="The key's new door set (not empty)."
    )
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    schedule: ScheduleIn | None = None
    dry_run: StrictBool = Field(
        default=False, description="Answer the plan (as `?dry_run=true` does); write nothing."
    )


class RevokeIn(_In):
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None


# -------------------------------------------------------------------------------- responses


class StatusOut(_Out):
    code: str
    label: str


class HomeStatusOut(_Out):
    code: str
    label: str
    category: Literal["active", "inactive"]


class DoorStatusOut(_Out):
    code: str
    mode: Literal["manual", "automated"] | None
    label: str


class KeyDoorOut(_Out):
    door_id: str
    status: DoorStatusOut | None


class DoorPlanOut(_Out):
    door_id: str
    action: Literal["deploy", "revoke", "update", "nothing"]
    status_before: DoorStatusOut | None
    status_after: DoorStatusOut | None
    needs_technician: bool


class ModificationPlanOut(_Out):
    key_id: str
    dry_run: Literal[True] = True
    doors: list[DoorPlanOut]
    redelivery: bool = Field(
        description="A digital key's credential is signed and delivered again."
    )


class KeyOut(_Out):
    key_id: str
    type: Literal["access_medium", "digital_key"]
    holder_id: str
    door_ids: list[str]
    valid_from: str
    valid_until: str | None
    schedule: dict[str, Any] | None
    status: StatusOut
    home_status: HomeStatusOut | None
    doors: list[KeyDoorOut]
    version: int


class KeyPageOut(_Out):
    items: list[KeyOut]
    cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: last.")


class AuditEventOut(_Out):
    seq: int
    at: str
    action: str
    actor: str
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any]
    details: dict[str, Any]


class KeyHistoryOut(_Out):
    key_id: str
    events: list[AuditEventOut]


class ChangeKeyOut(_Out):
    key_id: str
    state: str


class DoorChangeOut(_Out):
    version: int
    created_at: str
    action: str
    keys: list[ChangeKeyOut]


class DoorOut(_Out):
    door_id: str
    name: str
    kind: Literal["common", "unit"]
    connectivity: Literal["online", "offline"]
    desired_version: int
    confirmed_version: int
    pending_changes: list[DoorChangeOut]


class DoorUpdateOut(_Out):
    door_id: str
    version: int = Field(description="The door version this update takes the door to.")
    from_version: int = Field(description="The door's confirmed version it applies on.")
    entries: int = Field(description="How many credential/blocklist entries it carries.")
    payload: str = Field(description="The encoded update (COSE_Mac0), base64url, no padding.")


class DoorSyncOut(_Out):
    door_id: str
    confirmed_version: int
    desired_version: int
    completed_key_ids: list[str]
    stale: bool = Field(description="True: the version was already confirmed; nothing changed.")


class WorklistEntryOut(_Out):
    door_id: str
    name: str
    kind: Literal["common", "unit"]
    pending_changes: int
    oldest_pending_age_seconds: int
    desired_version: int
    confirmed_version: int


class WorklistOut(_Out):
    doors: list[WorklistEntryOut]


class PhoneOut(_Out):
    phone: str = Field(description="The number, masked.")
    blocked: bool
    key_ids: list[str]
    changed: bool


class EventAcceptedOut(_Out):
    event_id: str
    type: str
    duplicate: bool = Field(description="True: this id was seen before; nothing was applied.")
    outcome: dict[str, Any]
