"""Selectors of revocation runs: which keys of a site a run takes.

JSON form (the ``selector`` of ``POST /revocations``), exactly one target::

    {"all": true}
    {"door_ids": ["entrance", "flat-12"]}     keys with a row at one of these doors
    {"holder_ids": ["tenant-7"]}              keys of these keyholders
    {"phones": ["+41791234567"]}              digital keys of these phone numbers
    {"key_ids": ["6f0d...", "..."]}           these keys

optionally narrowed by ``"type": "access_medium" | "digital_key"`` and ``"status": [general
status codes]`` (the status each key has when the run is planned).

Phone numbers are personal data: a parsed selector keeps only their keyed hashes (what the
table indexes phones by) and masked forms for display; the run item never holds a number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from keyworker import phones
from keyworker.domain import validation
from keyworker.errors import InvalidInput, InvalidPhoneNumber, InvalidSelector
from keyworker.limits import MAX_SELECTOR_IDS
from keyworker.phones import PhoneHasher
from keyworker.status import GENERAL_STATUSES, KEY_TYPES

Target = Literal["all", "door_ids", "holder_ids", "phones", "key_ids"]
TARGETS: tuple[Target, ...] = ("all", "door_ids", "holder_ids", "phones", "key_ids")
FILTERS = ("type", "status")
FIELD = "selector"


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed, validated selector. For ``phones``, ``ids`` are the numbers' keyed hashes."""

    target: Target
    ids: tuple[str, ...] = ()
    key_type: str | None = None
    statuses: tuple[str, ...] = ()
    masked_phones: tuple[str, ...] = ()

    def as_stored(self) -> dict[str, Any]:
        """The form kept on the run item (hashes, never phone numbers)."""
        stored: dict[str, Any] = {"target": self.target, "ids": list(self.ids)}
        if self.key_type is not None:
            stored["type"] = self.key_type
        if self.statuses:
            stored["status"] = list(self.statuses)
        if self.masked_phones:
            stored["masked_phones"] = list(self.masked_phones)
        return stored

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Selector:
        return cls(
            target=cast(Target, data["target"]),
            ids=tuple(data.get("ids", ())),
            key_type=data.get("type"),
            statuses=tuple(data.get("status", ())),
            masked_phones=tuple(data.get("masked_phones", ())),
        )

    def as_api(self) -> dict[str, Any]:
        """The selector as the API shows it (phone numbers masked)."""
        shown: dict[str, Any]
        if self.target == "all":
            shown = {"all": True}
        elif self.target == "phones":
            shown = {"phones": list(self.masked_phones)}
        else:
            shown = {self.target: list(self.ids)}
        if self.key_type is not None:
            shown["type"] = self.key_type
        if self.statuses:
            shown["status"] = list(self.statuses)
        return shown


def _id_list(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidSelector(f"{field} must be a non-empty list", field=field)
    if len(value) > MAX_SELECTOR_IDS:
        raise InvalidSelector(f"{field} names more than {MAX_SELECTOR_IDS} entries", field=field)
    return tuple(value)


def parse_selector(
    value: object, *, hasher: PhoneHasher, default_region: str | None = None
) -> Selector:
    """The selector in ``value`` (the JSON form above); :class:`InvalidSelector` naming the
    field (``selector.door_ids[2]``, ...) for anything else. Repeated ids count once."""
    if not isinstance(value, Mapping):
        raise InvalidSelector("selector must be an object", field=FIELD)
    unknown = sorted(set(value) - set(TARGETS) - set(FILTERS))
    if unknown:
        raise InvalidSelector(
            f"selector has unknown field(s) {', '.join(map(str, unknown))}",
            field=f"{FIELD}.{unknown[0]}",
        )
    targets = [t for t in TARGETS if t in value]
    if len(targets) != 1:
        raise InvalidSelector(f"selector needs exactly one of {', '.join(TARGETS)}", field=FIELD)
    target = targets[0]
    field = f"{FIELD}.{target}"
    ids: tuple[str, ...] = ()
    masked: tuple[str, ...] = ()
    if target == "all":
        if value["all"] is not True:
            raise InvalidSelector("selector.all must be true", field=field)
    elif target == "phones":
        numbers = []
        for i, raw in enumerate(_id_list(value[target], field)):
            if not isinstance(raw, str):
                raise InvalidPhoneNumber("a phone number must be a string", field=f"{field}[{i}]")
            numbers.append(
                phones.normalize(raw, default_region=default_region, field=f"{field}[{i}]")
            )
        unique = list(dict.fromkeys(numbers))
        ids = tuple(hasher.hash(number) for number in unique)
        masked = tuple(phones.mask(number) for number in unique)
    else:
        checked = []
        for i, raw in enumerate(_id_list(value[target], field)):
            try:
                checked.append(validation.check_id(raw, f"{field}[{i}]"))
            except InvalidInput as error:
                raise InvalidSelector(str(error), field=f"{field}[{i}]") from error
        ids = tuple(dict.fromkeys(checked))
    key_type = value.get("type")
    if key_type is not None and key_type not in KEY_TYPES:
        raise InvalidSelector(
            f"selector.type must be one of {', '.join(KEY_TYPES)}", field=f"{FIELD}.type"
        )
    statuses: tuple[str, ...] = ()
    if "status" in value:
        raw_statuses = value["status"]
        if isinstance(raw_statuses, str) or not isinstance(raw_statuses, Sequence):
            raise InvalidSelector("selector.status must be a list", field=f"{FIELD}.status")
        for i, code in enumerate(raw_statuses):
            if code not in GENERAL_STATUSES:
                raise InvalidSelector(
                    f"selector.status[{i}] must be one of {', '.join(GENERAL_STATUSES)}",
                    field=f"{FIELD}.status[{i}]",
                )
        statuses = tuple(dict.fromkeys(raw_statuses))
        if not statuses:
            raise InvalidSelector(
                "selector.status must name at least one status", field=f"{FIELD}.status"
            )
    return Selector(
        target=target, ids=ids, key_type=key_type, statuses=statuses, masked_phones=masked
    )
