"""Revocation runs: start one (``POST /revocations``), plan it, execute its chunks, cancel it,
and read its progress and report (``GET /revocations/{run_id}``).

A run moves ``planning`` → ``running`` → ``done`` (or ``cancelling`` → ``cancelled``); a dry
run stops at ``planned``. Starting writes the run and queues a *plan* job; the plan job reads
the site, lets the core plan it, writes the plan and the chunks under a fresh planning attempt,
commits the attempt on the run (the commit is conditional: a duplicate plan job's attempt
loses and its items are never used) and queues one *chunk* job per chunk. Each chunk job
records its outcome once and adds it to the run's counters once; the chunk that completes the
count writes the report. How it all fits: ``docs/revocation-runs.md``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keyworker.adapters.dynamodb.run_store import RunStore, SiteSnapshot, key_facts_from_item
from keyworker.domain import validation
from keyworker.domain.engine import Engine
from keyworker.domain.models import Door
from keyworker.domain.pipeline import KeyPipeline, fingerprint
from keyworker.domain.ports import Ports, RunDispatcher
from keyworker.errors import (
    DoorNotFound,
    IdempotencyConflict,
    InvalidInput,
    KeyNotFound,
    RunNotFound,
    RunStateConflict,
    StoreError,
)
from keyworker.limits import MAX_REASON
from keyworker.revocation import planner
from keyworker.revocation.executor import DEFAULT_PARALLEL_WRITES, ChunkExecutor
from keyworker.revocation.models import (
    ALREADY_REVOKED,
    CANCELLED,
    CANCELLED_KEYS,
    CANCELLING,
    DONE,
    FAILED,
    PLANNED,
    PLANNING,
    RUNNING,
    ChunkOutcome,
    Failure,
    RunRecord,
    zero_counts,
)
from keyworker.revocation.selectors import Selector, parse_selector

_RUN_ID_NAMESPACE = uuid.UUID("0c9b4f8e-5d0a-4f7e-9c61-3a8e2b7d1f45")
# How many doors and failures a plan or report lists (the totals are always given): keeps
# each item far below DynamoDB's 400 KB and a response readable.
MAX_LISTED = 1000


def dispatch_order(chunks: int) -> list[int]:
    """The order chunk jobs go out in: strided, so that chunks next to each other in the
    plan's order (which groups keys by door, so neighbours share doors: a building's entrance,
    its garage) are not the ones the workers take at the same time, and their door version
    bumps do not race each other. E.g. 100 chunks: 0, 10, 20, ..., 90, 1, 11, ..."""
    stride = max(1, math.isqrt(max(chunks - 1, 0)) + 1)
    return [n for start in range(stride) for n in range(start, chunks, stride)]


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """What executing a chunk job did: the chunk's outcome (recorded once), whether this
    execution added it to the run's counters, and the run afterwards."""

    number: int
    outcome: ChunkOutcome
    counted: bool
    run: RunRecord


def _door_entry(door: Door, keys: int, changes: int) -> dict[str, Any]:
    return {
        "door_id": door.door_id,
        "name": door.name,
        "kind": door.kind,
        "keys": keys,
        "changes": changes,
    }


def _listed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The doors with the most keys first: the ones that matter most for a visit plan.
    entries.sort(key=lambda e: (-e["keys"], e["door_id"]))
    return entries[:MAX_LISTED]


class RevocationService:
    """Bulk revocation runs of a site (one instance per composition root)."""

    def __init__(
        self,
        engine: Engine,
        runs: RunStore,
        dispatcher: RunDispatcher,
        *,
        chunk_size: int = planner.DEFAULT_CHUNK_KEYS,
        parallel_writes: int = DEFAULT_PARALLEL_WRITES,
    ) -> None:
        if not 1 <= chunk_size <= planner.MAX_CHUNK_KEYS:
            raise ValueError(f"chunk_size must be between 1 and {planner.MAX_CHUNK_KEYS}")
        self._engine = engine
        self._store = engine.store
        self._runs = runs
        self._dispatcher = dispatcher
        self._chunk_size = chunk_size
        self.executor = ChunkExecutor(KeyPipeline(engine, parallel_writes=parallel_writes), runs)

    # --------------------------------------------------------------------------- start

    def start(
        self,
        site_id: str,
        selector: object,
        *,
        actor: str,
        dry_run: bool = False,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> RunRecord:
        """A new run for the keys ``selector`` takes, planned by a job. Bad input raises a
        typed error naming the field (``selector.door_ids[0]``, ...) and writes nothing;
        doors or keys the selector names must exist at this site. With ``request_id`` the
        start is idempotent (the same request returns the same run)."""
        site_id = validation.check_id(site_id, "site_id")
        if not isinstance(dry_run, bool):
            raise InvalidInput("dry_run must be true or false", field="dry_run")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise InvalidInput(f"reason must be a text of at most {MAX_REASON}", field="reason")
        if request_id is not None:
            request_id = validation.check_id(request_id, "request_id")
        ports = self._engine.ports
        parsed = parse_selector(
            selector, hasher=ports.phone_hasher, default_region=ports.default_region
        )
        self._check_exists(site_id, parsed)
        request = fingerprint(
            {"selector": parsed.as_stored(), "dry_run": dry_run, "reason": reason}
        )
        run_id = (
            str(uuid.uuid4())
            if request_id is None
            else str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{site_id}\n{request_id}"))
        )
        run = RunRecord(
            site_id=site_id,
            run_id=run_id,
            selector=parsed,
            reason=reason,
            dry_run=dry_run,
            state=PLANNING,
            started_by=actor,
            created_at=self._engine.clock.now(),
            chunk_size=self._chunk_size,
            request_fingerprint=request,
        )
        if not self._runs.create_run(run):
            existing = self._runs.get_run(site_id, run_id)
            if existing is None:
                raise StoreError(f"revocation run {run_id} vanished")
            if existing.request_fingerprint != request:
                raise IdempotencyConflict("request_id was already used for a different run")
            run = existing
        if run.state == PLANNING or (run.state in (RUNNING, CANCELLING) and not run.dispatched):
            # A repeated start finishes what a failed one left: the plan job is idempotent.
            self._dispatcher.plan(site_id, run_id)
        return run

    def _check_exists(self, site_id: str, selector: Selector) -> None:
        if selector.target == "door_ids":
            found = self._store.get_doors(site_id, selector.ids)
            missing = [d for d in selector.ids if d not in found]
            if missing:
                raise DoorNotFound(
                    f"door(s) {', '.join(missing[:10])} do not exist at site {site_id}",
                    field="selector.door_ids",
                )
        elif selector.target == "key_ids":
            known = self._runs.key_items(site_id, selector.ids)
            missing = [k for k in selector.ids if k not in known]
            if missing:
                raise KeyNotFound(
                    f"key(s) {', '.join(missing[:10])} do not exist at site {site_id}",
                    field="selector.key_ids",
                )

    # ---------------------------------------------------------------------------- plan

    def _load(self, site_id: str, run_id: str) -> RunRecord:
        site_id = validation.check_id(site_id, "site_id")
        run_id = validation.check_id(run_id, "run_id")
        run = self._runs.get_run(site_id, run_id)
        if run is None:
            raise RunNotFound(f"revocation run {run_id} does not exist at site {site_id}", "run_id")
        return run

    def _candidates(self, site_id: str, selector: Selector) -> tuple[SiteSnapshot, list[str]]:
        """The keys a selector may take, whole, with their doors; and named keys that are
        gone."""
        if selector.target in ("all", "door_ids", "holder_ids"):
            return self._runs.site_snapshot(site_id), []
        if selector.target == "phones":
            key_ids = self._runs.phone_key_ids(site_id, selector.ids)
        else:
            key_ids = list(selector.ids)
        items = self._runs.key_items(site_id, key_ids)
        keys = [key_facts_from_item(items[k]) for k in key_ids if k in items]
        not_found = [k for k in key_ids if k not in items] if selector.target == "key_ids" else []
        door_ids = {door_id for key in keys for door_id, _ in key.rows}
        doors = self._store.get_doors(site_id, door_ids)
        return SiteSnapshot(tuple(keys), doors, items), not_found

    def plan_run(self, site_id: str, run_id: str) -> RunRecord:
        """The plan job: plan a run that is planning, then fan its chunks out. Safe to run
        again: a committed plan is never replaced, and chunks are dispatched until the run
        records that they were."""
        run = self._load(site_id, run_id)
        if run.state == PLANNING:
            run = self._plan(run)
        if run.state in (RUNNING, CANCELLING) and not run.dispatched:
            if run.chunk_count:
                self._dispatcher.chunks(run.site_id, run.run_id, dispatch_order(run.chunk_count))
            self._runs.mark_dispatched(run.site_id, run.run_id)
            run = self._load(run.site_id, run.run_id)
            if run.chunk_count == 0:
                run = self._finalize(run)
        return run

    def _plan(self, run: RunRecord) -> RunRecord:
        selector = run.selector
        site, not_found = self._candidates(run.site_id, selector)
        doors = site.doors
        columns = planner.KeyColumns.build(site.keys, doors)
        now = self._engine.clock.now()
        plan = planner.plan(
            columns,
            now,
            door_ids=selector.ids if selector.target == "door_ids" else None,
            holder_ids=selector.ids if selector.target == "holder_ids" else None,
            key_type=selector.key_type,
            statuses=selector.statuses,
            chunk_size=run.chunk_size,
        )
        attempt = uuid.uuid4().hex[:12]
        document = self._plan_document(plan, doors, not_found)
        self._runs.put_plan(run.site_id, run.run_id, attempt, document)
        if not run.dry_run and plan.chunks:
            self._runs.put_chunks(run.site_id, run.run_id, attempt, plan.chunks, site.items)
        counts = zero_counts()
        counts[ALREADY_REVOKED] = plan.already_revoked
        counts[FAILED] = len(plan.cannot_revoke) + len(not_found)
        committed = self._runs.commit_plan(
            run.site_id,
            run.run_id,
            attempt=attempt,
            state=PLANNED if run.dry_run else RUNNING,
            planned_at=now,
            selected=plan.selected + len(not_found),
            chunk_count=0 if run.dry_run else len(plan.chunks),
            keys_total=plan.to_revoke,
            counts={} if run.dry_run else counts,
        )
        # Not committed: cancelled meanwhile, or a duplicate plan job committed first.
        return committed or self._load(run.site_id, run.run_id)

    def _plan_document(
        self, plan: planner.Plan, doors: Mapping[str, Door], not_found: Sequence[str]
    ) -> dict[str, Any]:
        online: list[dict[str, Any]] = []
        offline: list[dict[str, Any]] = []
        for work in plan.doors:
            door = doors[work.door_id]
            (online if door.online else offline).append(_door_entry(door, work.keys, work.changes))
        return {
            "selected": plan.selected + len(not_found),
            "by_status": {code: n for code, n in plan.status_counts.items() if n},
            "by_status_after": {code: n for code, n in plan.status_after_counts.items() if n},
            "to_revoke": plan.to_revoke,
            "already_revoked": plan.already_revoked,
            "cannot_revoke": list(plan.cannot_revoke[:MAX_LISTED]),
            "not_found": list(not_found[:MAX_LISTED]),
            "complete_at_once": plan.complete_at_once,
            "digital_keys_waiting_for_app": plan.app_reload_waits,
            "chunks": len(plan.chunks),
            "online_doors_total": len(online),
            "online_doors": _listed(online),
            "doors_to_visit_total": len(offline),
            "door_changes_to_visit": sum(e["changes"] for e in offline),
            "doors_to_visit": _listed(offline),
        }

    # --------------------------------------------------------------------------- chunks

    def execute_chunk(self, site_id: str, run_id: str, number: int) -> ChunkResult:
        """The chunk job: revoke the chunk's keys (unless the run is being cancelled), record
        the outcome once, count it once; the chunk that completes the count finishes the
        run. Safe to run again, concurrently or after a crash."""
        run = self._load(site_id, run_id)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise InvalidInput("chunk must be a non-negative integer", field="chunk")
        if run.attempt is None or number >= run.chunk_count:
            raise InvalidInput(f"run {run_id} has no chunk {number}", field="chunk")
        chunk = self._runs.get_chunk(run.site_id, run.run_id, run.attempt, number)
        if chunk is None:
            raise StoreError(f"chunk {number} of run {run_id} is missing")
        outcome = chunk.outcome
        if outcome is None:
            if run.state in (CANCELLING, CANCELLED):
                counts = zero_counts()
                counts[CANCELLED_KEYS] = len(chunk.key_ids)
                outcome = ChunkOutcome(counts=counts, finished_at=self._engine.clock.now())
            else:
                outcome = self.executor.run_chunk(run, chunk)
            if not self._runs.finish_chunk(run.site_id, run.run_id, run.attempt, number, outcome):
                # A duplicate delivery finished first: its outcome is the one that counts.
                stored = self._runs.get_chunk(run.site_id, run.run_id, run.attempt, number)
                if stored is None or stored.outcome is None:
                    raise StoreError(f"chunk {number} of run {run_id} lost its outcome")
                outcome = stored.outcome
        run, counted = self._runs.tally(run.site_id, run.run_id, number, outcome)
        if run.all_chunks_counted and not run.finished:
            run = self._finalize(run)
        return ChunkResult(number=number, outcome=outcome, counted=counted, run=run)

    # ------------------------------------------------------------------------- finish

    def _finalize(self, run: RunRecord) -> RunRecord:
        """Writes the report from the chunks' outcomes and ends the run (done, or cancelled
        when it was being cancelled). Repeatable: the outcomes no longer change."""
        assert run.attempt is not None
        chunks = self._runs.get_chunks(run.site_id, run.run_id, run.attempt, range(run.chunk_count))
        plan = self._runs.get_plan(run.site_id, run.run_id, run.attempt) or {}
        failures: list[Failure] = [
            Failure(key_id, "the key does not exist at this site")
            for key_id in plan.get("not_found", [])
        ]
        failures += [
            Failure(key_id, "illegal transition: its door rows do not allow revoke")
            for key_id in plan.get("cannot_revoke", [])
        ]
        door_keys: dict[str, int] = {}
        door_changes: dict[str, int] = {}
        waiting = 0
        for number in range(run.chunk_count):
            chunk = chunks.get(number)
            if chunk is None or chunk.outcome is None:
                raise StoreError(f"chunk {number} of run {run.run_id} has no outcome")
            failures.extend(chunk.outcome.failures)
            waiting += chunk.outcome.revoked_digital_keys
            for door_id, made in chunk.outcome.doors.items():
                door_keys[door_id] = door_keys.get(door_id, 0) + made.keys
                door_changes[door_id] = door_changes.get(door_id, 0) + made.changes
        doors = self._store.get_doors(run.site_id, door_keys)
        online: list[dict[str, Any]] = []
        offline: list[dict[str, Any]] = []
        for door_id, keys in door_keys.items():
            door = doors.get(door_id)
            if door is None:
                continue
            entry = _door_entry(door, keys, door_changes[door_id])
            (online if door.online else offline).append(entry)
        report = {
            "counts": dict(run.counts),
            "failures_total": len(failures),
            "failures": [f.as_api() for f in failures[:MAX_LISTED]],
            "digital_keys_waiting_for_app": waiting,
            "online_doors_total": len(online),
            "online_doors": _listed(online),
            "doors_to_visit_total": len(offline),
            "doors_to_visit": _listed(offline),
        }
        self._runs.put_report(run.site_id, run.run_id, report)
        for _ in range(3):
            finished = self._runs.finish(run, self._engine.clock.now())
            if finished is not None:
                return finished
            # Cancelled (or finished by a duplicate) meanwhile: finish from the new state.
            run = self._load(run.site_id, run.run_id)
            if run.finished:
                return run
        raise StoreError(f"revocation run {run.run_id} kept changing state")

    # ------------------------------------------------------------------------- cancel

    def cancel(self, site_id: str, run_id: str) -> RunRecord:
        """Stops a run: a planning run is cancelled at once; a running one becomes
        ``cancelling`` (chunks not started yet revoke nothing and count their keys as
        cancelled; a chunk in progress finishes) and ``cancelled`` once every chunk is
        counted. Cancelling a cancelling or cancelled run changes nothing; a finished run
        (done, or a dry run) cannot be cancelled (``RunStateConflict``)."""
        run = self._load(site_id, run_id)
        for _ in range(3):
            if run.state in (CANCELLING, CANCELLED):
                return run
            if run.state in (DONE, PLANNED):
                raise RunStateConflict(f"revocation run {run_id} is {run.state}: nothing to cancel")
            moved = self._runs.request_cancel(run.site_id, run.run_id, self._engine.clock.now())
            if moved is not None:
                if moved.state == CANCELLING and moved.all_chunks_counted and moved.dispatched:
                    return self._finalize(moved)
                return moved
            run = self._load(run.site_id, run.run_id)
        raise StoreError(f"revocation run {run_id} kept changing state")

    # ---------------------------------------------------------------------------- read

    def get(self, site_id: str, run_id: str) -> dict[str, Any]:
        """The run's progress, its plan once planned, and its report once finished (doors to
        visit with their pending door versions as they are now)."""
        run = self._load(site_id, run_id)
        view = run.progress_api()
        view["plan"] = (
            None
            if run.attempt is None
            else self._runs.get_plan(run.site_id, run.run_id, run.attempt)
        )
        report = None
        if run.state in (DONE, CANCELLED) and run.attempt is not None:
            report = self._runs.get_report(run.site_id, run.run_id)
        if report is not None:
            listed = [e["door_id"] for e in report.get("doors_to_visit", [])]
            doors = self._store.get_doors(run.site_id, listed)
            for entry in report.get("doors_to_visit", []):
                door = doors.get(entry["door_id"])
                if door is not None:
                    entry["pending_changes"] = door.pending_changes
                    entry["desired_version"] = door.desired_version
                    entry["confirmed_version"] = door.confirmed_version
        view["report"] = report
        return view

    def get_run(self, site_id: str, run_id: str) -> RunRecord:
        return self._load(site_id, run_id)


def build_revocation_service(
    ports: Ports, dynamodb: Any, table_name: str, dispatcher: RunDispatcher, **options: Any
) -> RevocationService:
    """The service over the same ports as the other services (composition roots call this)."""
    return RevocationService(Engine(ports), RunStore(dynamodb, table_name), dispatcher, **options)
