"""A site at a glance (``GET …/summary``) and who can still get in (``GET …/exposure``).

Both read the site whole: its doors (one Query of their items) and its keys (one paginated
Query of the key items, projected to the facts a status needs; at most
:data:`MAX_SITE_KEYS`). Statuses are the core's: the general and home-app counts come from
one bulk evaluation of every key (``status.evaluate_bulk``), door rows from
``status.door_status`` and who must act from ``status.row_waiting_for`` /
``status.key_waiting_for`` (through :meth:`Engine.pending`). The cost at 1,000 and 10,000
keys is measured by ``bench/summary_cost.py`` and written down in ``docs/data-model.md``.
"""

from __future__ import annotations

import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from keyworker import status
from keyworker.domain import validation
from keyworker.domain.engine import Engine
from keyworker.domain.models import Door, KeyRecord, Pending
from keyworker.errors import SiteTooLarge
from keyworker.revocation.models import FINAL_STATES

# The summary and the exposure list read every key of the site; beyond this many they refuse
# (409) rather than run past the function's timeout (docs/data-model.md, "The site summary").
MAX_SITE_KEYS = 50_000
# How many of the longest-waiting pending items the summary lists.
OLDEST_PENDING = 20
# States in which a door still holds a key that the cloud has revoked or blocked: its removal
# (or blocklist entry) is on its way to the door.
_LEAVING = {"revocation_pending": "revoked", "blocking_pending": "blocked"}


@dataclass(frozen=True, slots=True)
class Count:
    code: str
    label: str
    count: int
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class DoorSummary:
    door: Door
    pending_count: int
    oldest_pending_since: int | None
    unreachable_since: int | None


@dataclass(frozen=True, slots=True)
class PendingItem:
    key_id: str
    key_type: str
    door_id: str | None
    state: Count  # code, label, mode (count unused: 1)
    pending: Pending


@dataclass(frozen=True, slots=True)
class RunProgress:
    run_id: str
    state: str
    total: int
    done: int


@dataclass(frozen=True, slots=True)
class Summary:
    site_id: str
    as_of: int
    total: int
    by_status: tuple[Count, ...]
    by_home_status: tuple[Count, ...]
    by_door_status: tuple[Count, ...]
    doors: tuple[DoorSummary, ...]
    oldest_pending: tuple[PendingItem, ...]
    revocation_runs: tuple[RunProgress, ...]


@dataclass(frozen=True, slots=True)
class Exposed:
    key_id: str
    key_type: str
    reason: str
    door: Door
    since: int
    waiting_for: str


@dataclass(frozen=True, slots=True)
class Exposure:
    site_id: str
    as_of: int
    items: tuple[Exposed, ...]


class SiteViews:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._store = engine.store

    def _read(self, site_id: str) -> tuple[dict[str, Door], list[KeyRecord], int]:
        site_id = validation.check_id(site_id, "site_id")
        doors = {door.door_id: door for door in self._store.query_doors(site_id)}
        records = self._store.query_site_keys(site_id, max_keys=MAX_SITE_KEYS)
        if records is None:
            raise SiteTooLarge(
                f"site {site_id} has more than {MAX_SITE_KEYS} keys: too many for one view"
            )
        # Keys whose door item is missing cannot be evaluated; they are corrupt, not a status.
        records = [r for r in records if all(d in doors for d in r.door_ids)]
        return doors, records, self._engine.clock.now()

    # ---------------------------------------------------------------------------- summary

    def summary(self, site_id: str) -> Summary:
        doors, records, now = self._read(site_id)
        engine = self._engine
        automated = {d.door_id: engine.works_online(d, now) for d in doors.values()}
        bulk = _evaluate_bulk(records, automated, now)

        door_counts: Counter[tuple[str, bool]] = Counter()
        per_door: dict[str, list[int]] = {door_id: [] for door_id in doors}
        pending_items: list[PendingItem] = []
        for index, record in enumerate(records):
            rows, _ = engine.pending(record, doors, now)
            for row, pending in zip(record.rows, rows, strict=True):
                door_counts[(row.state, automated[row.door_id])] += 1
                if pending.waiting_for is not None and pending.since is not None:
                    per_door[row.door_id].append(pending.since)
                    shown = status.door_status(row.state, automated[row.door_id])
                    if shown is not None:
                        row_state = Count(shown.code, shown.label, 1, shown.mode)
                        pending_items.append(
                            PendingItem(
                                record.key_id, record.key_type, row.door_id, row_state, pending
                            )
                        )
            own_waiting = status.key_waiting_for(
                record.key_type, record.revoked, record.delivered, record.app_reloaded
            )
            if own_waiting is not None:
                code = status.GENERAL_STATUSES[bulk.status[index]]
                since = record.updated_at if record.status_since is None else record.status_since
                pending_items.append(
                    PendingItem(
                        record.key_id,
                        record.key_type,
                        None,
                        Count(code, status.general_status_label(code), 1),
                        Pending(since, own_waiting, record.last_error),
                    )
                )
        pending_items.sort(key=lambda p: (p.pending.since or 0, p.key_id, p.door_id or ""))

        by_door_status = []
        for (state_code, online), count in sorted(door_counts.items()):
            shown = status.door_status(state_code, online)
            if shown is not None:
                by_door_status.append(Count(shown.code, shown.label, count, shown.mode))
        return Summary(
            site_id=site_id,
            as_of=now,
            total=len(records),
            by_status=tuple(
                Count(code, status.general_status_label(code), count)
                for code, count in bulk.status_counts.items()
            ),
            by_home_status=tuple(
                Count(code, status.home_status_heading(code), count)
                for code, count in bulk.home_status_counts.items()
                if code != "none"
            ),
            by_door_status=tuple(_merge(by_door_status)),
            doors=tuple(
                DoorSummary(
                    door=door,
                    pending_count=len(per_door[door.door_id]),
                    oldest_pending_since=min(per_door[door.door_id], default=None),
                    unreachable_since=engine.unreachable_since(door, now),
                )
                for door in sorted(doors.values(), key=lambda d: d.door_id)
            ),
            oldest_pending=tuple(pending_items[:OLDEST_PENDING]),
            revocation_runs=tuple(
                RunProgress(run_id, state, total, done)
                for run_id, state, total, done in self._store.query_site_runs(site_id)
                if state not in FINAL_STATES
            ),
        )

    # --------------------------------------------------------------------------- exposure

    def exposure(self, site_id: str) -> Exposure:
        """Keys revoked or blocked in the cloud that a door still accepts: every row on its
        way out (``revocation_pending``, ``blocking_pending``) of a revoked key or a blocked
        phone's key, with since when and who must act. A row leaves the list when its door
        confirms the version that carries the removal."""
        doors, records, now = self._read(site_id)
        engine = self._engine
        items = []
        for record in records:
            reason = "revoked" if record.revoked else "blocked" if record.phone_blocked else None
            if reason is None:
                continue
            rows, _ = engine.pending(record, doors, now)
            for row, pending in zip(record.rows, rows, strict=True):
                if row.state not in _LEAVING or pending.waiting_for is None:
                    continue
                items.append(
                    Exposed(
                        key_id=record.key_id,
                        key_type=record.key_type,
                        reason=reason,
                        door=doors[row.door_id],
                        since=pending.since or record.updated_at,
                        waiting_for=pending.waiting_for,
                    )
                )
        items.sort(key=lambda e: (e.since, e.key_id, e.door.door_id))
        return Exposure(site_id=site_id, as_of=now, items=tuple(items))


def _merge(counts: Sequence[Count]) -> list[Count]:
    """One entry per (code, mode): states of both key types can share a row of the table."""
    merged: dict[tuple[str, str | None], Count] = {}
    for c in counts:
        key = (c.code, c.mode)
        found = merged.get(key)
        merged[key] = c if found is None else Count(c.code, c.label, found.count + c.count, c.mode)
    return list(merged.values())


def _evaluate_bulk(
    records: Sequence[KeyRecord], automated: Mapping[str, bool], now: int
) -> status.BulkResult:
    """The columns of ``status.evaluate_bulk`` for ``records`` (docs/status-engine.md)."""
    key_types = bytearray()
    flags = bytearray()
    valid_from = array.array("q")
    valid_until = array.array("q")
    offsets = array.array("I", [0])
    states = bytearray()
    state_code = {name: code for code, name in enumerate(status.DOOR_STATES)}
    for record in records:
        key_types.append(status.KEY_TYPES.index(record.key_type))
        flags.append(
            (status.FLAG_REVOKED if record.revoked else 0)
            | (status.FLAG_PHONE_BLOCKED if record.phone_blocked else 0)
            | (status.FLAG_DELIVERED if record.delivered else 0)
            | (status.FLAG_APP_RELOADED if record.app_reloaded else 0)
            | (status.FLAG_HAS_SCHEDULE if record.schedule is not None else 0)
        )
        valid_from.append(record.valid_from)
        valid_until.append(status.NO_END if record.valid_until is None else record.valid_until)
        for row in record.rows:
            online = status.DOOR_ONLINE if automated[row.door_id] else 0
            states.append(state_code[row.state] | online)
        offsets.append(len(states))
    return status.evaluate_bulk(
        bytes(key_types), bytes(flags), valid_from, valid_until, offsets, bytes(states), now
    )


__all__ = ["Exposure", "SiteViews", "Summary"]
