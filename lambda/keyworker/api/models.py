"""Request and response bodies of the HTTP API (pydantic v2); the OpenAPI document is
generated from these (``docs/openapi.json``).

Request models check shape (types, lengths, characters, required fields) with the limits of
``keyworker.limits`` (the core's, exported by the binding, and keyworker's own), so the
document states them and whatever passes is a key the worker can sign and store; the rules
(validity, schedules, whether a phone number exists) are the services' and the core's, which
name the field they refuse. Instants are ISO 8601 text with a time zone (UTC ``Z`` in
responses), never epoch numbers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from keyworker import limits

Id = Annotated[
    StrictStr,
    Field(min_length=1, max_length=limits.MAX_ID_LEN, pattern=limits.ID_PATTERN),
]
Phone = Annotated[
    StrictStr,
    Field(
        min_length=limits.MIN_PHONE_LEN,
        max_length=limits.MAX_PHONE_LEN,
        pattern=limits.PHONE_PATTERN,
    ),
]
Clock = Annotated[StrictStr, Field(min_length=5, max_length=5, pattern=limits.CLOCK_PATTERN)]

# RFC 3339 date-time (OpenAPI's `format: date-time`), the offset required; pydantic alone
# would also take epoch numbers and digit strings as instants.
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _instant_text(value: object) -> object:
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 date-time with a time zone, e.g. 2026-01-05T08:00:00Z"
        )
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_instant_text)]


def _each_once(days: list[str]) -> list[str]:
    if len(set(days)) != len(days):
        raise ValueError("names a weekday twice")
    return days


class ApiModel(BaseModel):
    """The base of every body the API reads or answers. A model builds its validator and
    serializer on first use, not at import (cold start): a request uses a few of the API's
    ~50 models, and building them all took about a third of the api function's import."""

    model_config = ConfigDict(defer_build=True)


class _In(ApiModel):
    model_config = ConfigDict(extra="forbid")


class _Out(ApiModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------- requests


class DoorIn(_In):
    name: Annotated[
        StrictStr,
        Field(min_length=1, max_length=limits.MAX_NAME_LEN, pattern=limits.NAME_PATTERN),
    ] = Field(description=limits.NAME_RULE)
    kind: Literal["common", "unit"]
    connectivity: Literal["online", "offline"]


class DoorSyncIn(_In):
    version: StrictInt = Field(ge=0, description="The door version the door has applied.")


class ScheduleWindowIn(_In):
    days: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]],
        AfterValidator(_each_once),
    ] = Field(
        min_length=1,
        max_length=limits.MAX_WEEKDAYS,
        json_schema_extra={"uniqueItems": True},
        description="Weekdays, each at most once.",
    )
    start: Clock = Field(description="HH:MM, local time", examples=["07:00"])
    end: Clock = Field(description="HH:MM (24:00 for the end of the day)")


class ScheduleIn(_In):
    time_zone: Annotated[StrictStr, Field(min_length=1, max_length=limits.MAX_TIME_ZONE_LEN)] = (
        Field(description="IANA time zone of the site, e.g. Europe/Zurich")
    )
    windows: list[ScheduleWindowIn] = Field(min_length=1, max_length=limits.MAX_WINDOWS)


class _NewKeyIn(_In):
    holder_id: Id
    door_ids: list[Id] = Field(
        min_length=1,
        max_length=limits.MAX_DOORS_PER_KEY,
        json_schema_extra={"uniqueItems": True},
    )
    valid_from: Instant = Field(description="Move-in: ISO 8601 with time zone.")
    valid_until: Instant | None = None
    schedule: ScheduleIn | None = None


class AccessMediumIn(_NewKeyIn):
    card_uid: Id


class DigitalKeyIn(_NewKeyIn):
    phone: Phone = Field(
        description="The keyholder's phone number (E.164, or national with the site's region)."
        " Arabic-Indic digits are read as digits; letters and extensions are refused."
    )


class AccessMediumItemIn(AccessMediumIn):
    type: Literal["access_medium"]


class DigitalKeyItemIn(DigitalKeyIn):
    type: Literal["digital_key"]


class KeyBatchIn(_In):
    """Keys to issue as one request (an import): access media and digital keys, each with the
    fields of its single create and its ``type``."""

    items: list[Annotated[AccessMediumItemIn | DigitalKeyItemIn, Field(discriminator="type")]] = (
        Field(min_length=1, max_length=limits.MAX_KEYS_PER_BATCH)
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
    reason: Annotated[StrictStr, Field(max_length=limits.MAX_REASON)] | None = None


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


WaitingFor = Literal["technician", "door", "mobile_cloud", "keyholder_app"]


class _PendingOut(_Out):
    pending_since: str | None = Field(
        description="When the pending state began (ISO 8601 UTC); null when nothing is pending."
    )
    waiting_for: WaitingFor | None = Field(
        description="Who must act: technician (offline or unreachable door), door (online "
        "door not confirmed yet), mobile_cloud (delivery not confirmed), keyholder_app "
        "(revoked digital key: until the keyholder opens the app)."
    )
    last_error: str | None = Field(
        description="Why the last attempt at the pending work failed (short, safe); null if none."
    )


class KeyDoorOut(_PendingOut):
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


class KeyOut(_PendingOut):
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


class KeyBatchOut(_Out):
    items: list[KeyOut] = Field(description="The keys issued, in the order of the request.")


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
    last_seen: str | None = Field(
        description="When the door was last heard from (a confirmation or door.heartbeat)."
    )
    unreachable_since: str | None = Field(
        description="An online door silent for longer than its site's threshold: since when "
        "it counts as unreachable (its pending work is then manual)."
    )


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
    connectivity: Literal["online", "offline"]
    unreachable_since: str | None = Field(
        description="Set for an online door on the list because it is unreachable."
    )
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


# ------------------------------------------------------------- site summary and exposure


class CountOut(_Out):
    code: str
    label: str
    count: int


class DoorStatusCountOut(_Out):
    code: str
    mode: Literal["manual", "automated"] | None
    label: str
    count: int


class SummaryKeysOut(_Out):
    total: int
    by_status: list[CountOut]
    by_home_status: list[CountOut]
    by_door_status: list[DoorStatusCountOut]


class SummaryDoorOut(_Out):
    door_id: str
    name: str
    kind: Literal["common", "unit"]
    connectivity: Literal["online", "offline"]
    desired_version: int
    confirmed_version: int
    pending_count: int = Field(description="Key rows pending at this door.")
    oldest_pending_since: str | None
    oldest_pending_age_seconds: int | None
    last_seen: str | None
    unreachable_since: str | None


class PendingStateOut(_Out):
    code: str
    label: str
    mode: Literal["manual", "automated"] | None


class OldestPendingOut(_Out):
    key_id: str
    key_type: Literal["access_medium", "digital_key"]
    door_id: str | None = Field(description="null: the key's own delivery or revocation.")
    state: PendingStateOut
    pending_since: str
    waiting_for: WaitingFor


class RunProgressOut(_Out):
    run_id: str
    state: str
    total: int
    done: int


class SummaryOut(_Out):
    site_id: str
    as_of: str
    keys: SummaryKeysOut
    doors: list[SummaryDoorOut]
    oldest_pending: list[OldestPendingOut] = Field(description="At most 20, oldest first.")
    revocation_runs: list[RunProgressOut] = Field(description="Runs not finished yet.")


class ExposureItemOut(_Out):
    key_id: str
    key_type: Literal["access_medium", "digital_key"]
    reason: Literal["revoked", "blocked"]
    door_id: str
    door_name: str
    connectivity: Literal["online", "offline"]
    since: str = Field(description="When the door's removal (or blocking) became pending.")
    technician_required: bool
    waiting_for: Literal["technician", "door"]


class ExposureOut(_Out):
    site_id: str
    as_of: str
    count: int
    items: list[ExposureItemOut]
