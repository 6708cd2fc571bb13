"""Time: move-in (``planned`` ends at ``valid_from``) and expiry (at ``valid_until``).

Reads always evaluate a key with the injected clock, so what a caller sees is right at any
instant. The status copy stored for the indexes is refreshed here: a scheduled job asks the
sparse boundary index for keys whose next boundary has passed (an index query is fine for a
scheduled job; it is on no per-key path) and re-evaluates each of them through the core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from keyworker.domain.commands import RefreshStatus
from keyworker.domain.engine import Engine, Overdue
from keyworker.domain.models import Door, KeyRecord, iso
from keyworker.domain.pipeline import KeyPipeline
from keyworker.errors import KeyNotFound

PENDING_TOO_LONG = "pending_too_long"

DEFAULT_BATCH = 1000


class TimeService:
    def __init__(self, engine: Engine, pipeline: KeyPipeline) -> None:
        self._engine = engine
        self._pipeline = pipeline

    def process_due(
        self,
        *,
        limit: int = DEFAULT_BATCH,
        actor: str = "clock",
        overdue: list[Overdue] | None = None,
    ) -> list[str]:
        """Re-evaluate keys whose time boundary has passed (and finish door work a crashed
        command left: see ``keyworker.domain.pipeline``); returns the ids of keys whose status
        changed (each with an audit event). Run it again until it returns nothing.

        Pending states older than their site's threshold are reported here too, once each
        (an audit event ``pending_too_long`` per row or key state, appended to ``overdue``):
        their instant is part of the key's next boundary."""
        by_site: dict[str, list[str]] = {}
        for site_id, key_id in self._engine.store.query_due_keys(
            self._engine.clock.now(), limit=limit
        ):
            by_site.setdefault(site_id, []).append(key_id)
        changed: list[str] = []
        for site_id, key_ids in sorted(by_site.items()):
            result = self._pipeline.run(
                [RefreshStatus(site_id, key_id, actor) for key_id in key_ids],
                errors_as_outcomes=True,
            )
            for outcome in result.outcomes:
                if isinstance(outcome.error, KeyNotFound):
                    continue
                if outcome.error is not None:
                    raise outcome.error
                if outcome.changed and outcome.event is not None and outcome.record:
                    changed.append(outcome.record.key_id)
                record, now = outcome.record, self._engine.clock.now()
                if (
                    record is not None
                    and record.overdue_at is not None
                    and record.overdue_at <= now
                ):
                    reported = self.report_overdue(site_id, record.key_id, actor=actor)
                    if overdue is not None:
                        overdue.extend(reported)
        return changed

    def report_overdue(self, site_id: str, key_id: str, *, actor: str = "clock") -> list[Overdue]:
        """Report each of the key's pending states that has become too long: one audit event
        (action ``pending_too_long``) per state, marking it so it is never reported twice
        while it stays (it is again once it moves and gets stuck anew). Each report is one
        conditional key write and its event; a lost race re-reads and re-decides."""
        reported: list[Overdue] = []
        engine = self._engine
        found: list[Overdue] = []
        while True:

            def note(record: KeyRecord, doors: Mapping[str, Door], now: int) -> KeyRecord | None:
                found.clear()
                due = [o for o in engine.overdue(record, doors, now) if o.due_at <= now]
                if not due:
                    return None
                first = due[0]
                found.append(first)
                if first.door_id is None:
                    marked = replace(record, overdue_noted=True)
                else:
                    marked = replace(
                        record,
                        rows=tuple(
                            replace(row, overdue_noted=True)
                            if row.door_id == first.door_id
                            else row
                            for row in record.rows
                        ),
                    )
                waiting = first.pending.waiting_for
                return engine.finalize(
                    record,
                    marked,
                    doors,
                    now,
                    action=PENDING_TOO_LONG,
                    actor=actor,
                    reason=f"waiting for {waiting} for more than {first.threshold} s",
                    details={
                        "door_id": first.door_id,
                        "state": first.state,
                        "pending_since": iso(first.pending.since),
                        "waiting_for": waiting,
                        "threshold_seconds": first.threshold,
                    },
                )

            try:
                _, wrote = engine.mutate_key(site_id, key_id, note)
            except KeyNotFound:
                return reported
            if not wrote or not found:
                return reported
            reported.extend(found)
