"""Time: move-in (``planned`` ends at ``valid_from``) and expiry (at ``valid_until``).

Reads always evaluate a key with the injected clock, so what a caller sees is right at any
instant. The status copy stored for the indexes is refreshed here: a scheduled job asks the
sparse boundary index for keys whose next boundary has passed (an index query is fine for a
scheduled job; it is on no per-key path) and re-evaluates each of them through the core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from keyworker.domain.engine import Engine
from keyworker.domain.models import Door, KeyRecord
from keyworker.errors import KeyNotFound

DEFAULT_BATCH = 1000


class TimeService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def process_due(self, *, limit: int = DEFAULT_BATCH, actor: str = "clock") -> list[str]:
        """Re-evaluate keys whose time boundary has passed; returns the ids of keys whose
        status changed (each with an audit event). Run it again until it returns nothing."""
        engine = self._engine
        now = engine.clock.now()
        changed: list[str] = []

        status_changed: dict[str, bool] = {}

        def refresh(record: KeyRecord, doors: Mapping[str, Door], at: int) -> KeyRecord | None:
            evaluated = engine.evaluate(record, doors, at)
            fresh = engine.index(record, evaluated, at)
            stored = record.indexed
            same = stored is not None and (stored.status, stored.home_status) == (
                fresh.status,
                fresh.home_status,
            )
            status_changed[record.key_id] = not same
            if same and stored is not None and stored.next_boundary_at == fresh.next_boundary_at:
                return None
            if same:
                # Nothing a person sees changed: only the next boundary moves; no event.
                return replace(record, indexed=fresh, version=record.version + 1)
            ended = record.valid_until is not None and at >= record.valid_until
            return engine.finalize(
                record,
                record,
                doors,
                at,
                action="time_passed",
                actor=actor,
                reason="valid_until reached" if ended else "valid_from reached",
            )

        for site_id, key_id in engine.store.query_due_keys(now, limit=limit):
            try:
                _, wrote = engine.mutate_key(site_id, key_id, refresh)
            except KeyNotFound:
                continue
            if wrote and status_changed.get(key_id):
                changed.append(key_id)
        return changed
