"""Time: move-in (``planned`` ends at ``valid_from``) and expiry (at ``valid_until``).

Reads always evaluate a key with the injected clock, so what a caller sees is right at any
instant. The status copy stored for the indexes is refreshed here: a scheduled job asks the
sparse boundary index for keys whose next boundary has passed (an index query is fine for a
scheduled job; it is on no per-key path) and re-evaluates each of them through the core.
"""

from __future__ import annotations

from keyworker.domain.commands import RefreshStatus
from keyworker.domain.engine import Engine
from keyworker.domain.pipeline import KeyPipeline
from keyworker.errors import KeyNotFound

DEFAULT_BATCH = 1000


class TimeService:
    def __init__(self, engine: Engine, pipeline: KeyPipeline) -> None:
        self._engine = engine
        self._pipeline = pipeline

    def process_due(self, *, limit: int = DEFAULT_BATCH, actor: str = "clock") -> list[str]:
        """Re-evaluate keys whose time boundary has passed (and finish door work a crashed
        command left: see ``keyworker.domain.pipeline``); returns the ids of keys whose status
        changed (each with an audit event). Run it again until it returns nothing."""
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
        return changed
