"""Reads: a key with its full status, keys of a site by status and type (paginated), a key's
audit trail. Statuses are evaluated by the core at read time with the injected clock."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from keyworker.domain import validation
from keyworker.domain.engine import Engine
from keyworker.domain.models import AuditEvent, KeyView, Page
from keyworker.errors import InvalidInput, KeyNotFound
from keyworker.limits import DEFAULT_PAGE, MAX_PAGE
from keyworker.status import GENERAL_STATUSES

_CURSOR_FIELDS = frozenset({"pk", "sk", "status_pk", "status_sk"})


def encode_cursor(position: Mapping[str, Any]) -> str:
    raw = json.dumps(dict(position), sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, site_id: str) -> dict[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidInput("cursor is not a cursor this API returned", field="cursor") from error
    if (
        not isinstance(data, dict)
        or not set(data) <= _CURSOR_FIELDS
        or not {"pk", "sk"} <= set(data)
        or not all(isinstance(v, str) for v in data.values())
        # A cursor must not lead into another site's keys.
        or data["pk"] != f"SITE#{site_id}"
    ):
        raise InvalidInput("cursor is not a cursor this API returned", field="cursor")
    return data


class KeyQueries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get_key(self, site_id: str, key_id: str) -> KeyView:
        """The key with its general, home-app and per-door status."""
        site_id = validation.check_id(site_id, "site_id")
        key_id = validation.check_id(key_id, "key_id")
        engine = self._engine
        record = engine.load_key(site_id, key_id)
        return engine.view(record, engine.doors_of([record]), engine.clock.now())

    def list_keys(
        self,
        site_id: str,
        *,
        status: str | None = None,
        key_type: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page:
        """A page of the site's keys, by stored general status and type.

        The filter uses the status copy stored for the index (refreshed on every change and by
        the time service); each key returned carries its status evaluated now.
        """
        site_id = validation.check_id(site_id, "site_id")
        if status is not None:
            validation.check_choice(status, "status", GENERAL_STATUSES)
        if key_type is not None:
            validation.check_key_type(key_type)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        position = None if cursor is None else decode_cursor(cursor, site_id)
        engine = self._engine
        records, next_position = engine.store.query_keys(
            site_id, status=status, key_type=key_type, limit=limit, cursor=position
        )
        doors = engine.doors_of(records)
        now = engine.clock.now()
        return Page(
            items=tuple(engine.view(record, doors, now) for record in records),
            cursor=None if next_position is None else encode_cursor(next_position),
        )

    def history(self, site_id: str, key_id: str) -> list[AuditEvent]:
        """The key's audit trail, oldest first."""
        site_id = validation.check_id(site_id, "site_id")
        key_id = validation.check_id(key_id, "key_id")
        events = self._engine.store.list_events(site_id, key_id)
        if not events and self._engine.store.get_key(site_id, key_id) is None:
            raise KeyNotFound(f"key {key_id} does not exist at site {site_id}", field="key_id")
        return events
