"""Checks of command input: each failure is a typed error naming the field; nothing is written.

Rules about schedules are the core's (``Schedule.from_json``); this module only adds the field
name to its error and checks the shape of the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from keyworker import limits
from keyworker.domain.models import CONNECTIVITIES, DOOR_KINDS
from keyworker.errors import InvalidInput, InvalidSchedule
from keyworker.status import KEY_TYPES, Schedule


def check_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not limits.matches(limits.ID_RE, value):
        raise InvalidInput(f"{field} must be {limits.ID_RULE}", field=field)
    return value


def check_text(value: object, field: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) > limits.MAX_NAME_LEN
        or not limits.matches(limits.NAME_RE, value)
    ):
        raise InvalidInput(f"{field} must be {limits.NAME_RULE}", field=field)
    return value


def check_choice(value: object, field: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInput(f"{field} must be one of {', '.join(choices)}", field=field)
    return value


def check_kind(value: object) -> str:
    return check_choice(value, "kind", DOOR_KINDS)


def check_connectivity(value: object) -> str:
    return check_choice(value, "connectivity", CONNECTIVITIES)


def check_key_type(value: object, field: str = "type") -> str:
    return check_choice(value, field, KEY_TYPES)


def check_door_ids(value: object, field: str = "door_ids") -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput(f"{field} must be a list of door ids", field=field)
    if not value:
        raise InvalidInput(f"{field} must name at least one door", field=field)
    if len(value) > limits.MAX_DOORS_PER_KEY:
        raise InvalidInput(f"{field} names more than {limits.MAX_DOORS_PER_KEY} doors", field=field)
    door_ids = tuple(check_id(door_id, field) for door_id in value)
    duplicates = sorted({d for d in door_ids if door_ids.count(d) > 1})
    if duplicates:
        raise InvalidInput(f"{field} names door(s) twice: {', '.join(duplicates)}", field=field)
    return door_ids


def check_instant(value: object, field: str) -> int:
    # bool is an int in Python; True is not an instant.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"{field} must be a UTC instant in epoch seconds, not before 1970-01-01T00:00:00Z",
            field=field,
        )
    return value


def check_validity(valid_from: object, valid_until: object) -> tuple[int, int | None]:
    start = check_instant(valid_from, "valid_from")
    if valid_until is None:
        return start, None
    end = check_instant(valid_until, "valid_until")
    if end <= start:
        raise InvalidInput("valid_until must be after valid_from", field="valid_until")
    return start, end


def check_schedule(value: object, field: str = "schedule") -> dict[str, Any] | None:
    """The schedule in its canonical JSON form (as the core renders it back), or None."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidSchedule("a schedule must be an object", field=field)
    try:
        return Schedule.from_json(value).to_json()
    except InvalidSchedule as error:
        if error.field is None or not error.field.startswith(field):
            raise InvalidSchedule(str(error), field=field) from error
        raise


def check_version(value: object, field: str = "version") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} must be a non-negative integer", field=field)
    return value
