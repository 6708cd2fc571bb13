"""Executes one chunk of a revocation run: the write protocol of ``docs/data-model.md``
(intent, door versions, record), batched over the chunk's keys.

Per chunk:

1. **Read**: the chunk's keys (BatchGetItem) and their doors (BatchGetItem).
2. **Decide** (the core, without the interpreter): per key revoke / already revoked / cannot
   revoke, its door states and statuses after, and per door the keys whose row there becomes
   work for it.
3. **Intent**: each key to revoke is written whole, conditional on the version read (parallel
   writers). A key someone else changed meanwhile loses that race and is decided again on its
   own, by the same single-key path as ``KeyService.revoke``.
4. **Audit events**: appended with BatchWriteItem (their ids are the keys' event sequence).
5. **Door versions**: one door change per door for the whole chunk (not one per key), then
   the door's version bump — the saving that makes bulk runs cheap at shared doors.
6. **Record**: each key records the versions carrying its rows (conditional PutItem).
7. Online doors are asked to sync; revoked digital keys are taken back from their phones.

A chunk that crashes anywhere is run again from the start (SQS redelivers it). Keys it already
revoked are recognised by their audit trail (this run as the actor) and counted as revoked,
not as already revoked; their leftover work (door versions, record, event, take-back) is
finished. Nothing is counted until the chunk's outcome is recorded, once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

from keyworker.domain.engine import Engine, doors_awaiting, is_pending, with_change_versions
from keyworker.domain.models import (
    ACCESS_MEDIUM,
    DIGITAL_KEY,
    AuditEvent,
    ChangeRef,
    Door,
    DoorRow,
    IndexedStatus,
    KeyRecord,
    StatusSnapshot,
)
from keyworker.errors import ConcurrentUpdate, IllegalTransition
from keyworker.revocation import planner
from keyworker.revocation.models import (
    ALREADY_REVOKED,
    FAILED,
    REVOKED,
    ChunkOutcome,
    ChunkRecord,
    DoorChangeMade,
    Failure,
    RunRecord,
    zero_counts,
)
from keyworker.revocation.store import Backoff, RunStore, unpack_snapshot
from keyworker.status import HomeStatus as HomeStatusView
from keyworker.status import KeyStatus, Status
from keyworker.store.dynamodb import key_from_item

logger = logging.getLogger("keyworker.revocation")

T = TypeVar("T")
R = TypeVar("R")

# Writers per chunk: DynamoDB calls are I/O, so a few threads overlap their latency.
DEFAULT_PARALLEL_WRITES = 8


def _code_status(general: str, home: str | None) -> KeyStatus:
    """A status holding only codes: what the index copy of a key stores (no labels)."""
    home_view = None if home is None else HomeStatusView(home, home, "")
    return KeyStatus(status=Status(general, general), home_status=home_view, doors=())


@dataclass(frozen=True, slots=True)
class _Intent:
    """A key to write: the record as read and the revoked record to write."""

    before: KeyRecord
    after: KeyRecord


class ChunkExecutor:
    """Runs the keys of one chunk through the write protocol."""

    def __init__(
        self,
        engine: Engine,
        runs: RunStore,
        *,
        parallel_writes: int = DEFAULT_PARALLEL_WRITES,
        backoff: Backoff | None = None,
    ) -> None:
        self._engine = engine
        self._store = engine.store
        self._runs = runs
        self._parallel = max(1, parallel_writes)
        self._backoff = backoff or runs.backoff

    # ------------------------------------------------------------------------- helpers

    def _retry(self, operation: Callable[[], T]) -> T:
        return self._backoff.call(operation)

    def _map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self._parallel == 1 or len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._parallel, len(items))) as pool:
            return list(pool.map(function, items))

    def revoked_record(
        self, record: KeyRecord, result: planner.KeyRevocation, now: int, run: RunRecord
    ) -> KeyRecord:
        """The key after revocation, from the core's computation: moved rows get a new
        ``seq`` and no door version yet; the audit event and the index copy carry the
        statuses the core computed. The same record ``KeyService.revoke`` writes (a test
        compares the two)."""
        rows = tuple(
            row if state == row.state else DoorRow(row.door_id, state, row.seq + 1, None)
            for row, state in zip(record.rows, result.states_after, strict=True)
        )
        after = replace(record, revoked=True, rows=rows)
        event = AuditEvent(
            site_id=record.site_id,
            key_id=record.key_id,
            seq=record.event_seq + 1,
            at=now,
            action="revoked",
            actor=run.actor,
            reason=run.reason,
            before=StatusSnapshot(
                result.status_before, result.home_before, {r.door_id: r.state for r in record.rows}
            ),
            after=StatusSnapshot(
                result.status_after, result.home_after, {r.door_id: r.state for r in rows}
            ),
            details={"run_id": run.run_id, "started_by": run.started_by},
        )
        indexed: IndexedStatus = Engine.index(
            after, _code_status(result.status_after, result.home_after), now
        )
        return replace(
            after,
            version=record.version + 1,
            updated_at=now,
            event_seq=event.seq,
            last_event=event,
            indexed=indexed,
        )

    def _revoked_by(self, record: KeyRecord, run: RunRecord) -> bool:
        """Whether this run revoked the key (an earlier, crashed delivery of a chunk)."""
        last = record.last_event
        if last is not None and last.action == "revoked":
            return last.actor == run.actor
        # The key changed after it was revoked (a door confirmed, the app reloaded): ask its
        # audit trail. Rare: only keys revoked during the run reach this.
        events = self._retry(lambda: self._store.list_events(record.site_id, record.key_id))
        return any(e.action == "revoked" and e.actor == run.actor for e in events)

    # ------------------------------------------------------------------------ the chunk

    def _chunk_records(self, site_id: str, chunk: ChunkRecord) -> dict[str, KeyRecord]:
        """The chunk's keys: from its snapshot (as the plan read them) where it has one,
        the others read now."""
        records: dict[str, KeyRecord] = {}
        if chunk.snapshot is not None:
            for item in unpack_snapshot(chunk.snapshot):
                record = key_from_item(item)
                records[record.key_id] = record
        unread = [k for k in chunk.key_ids if k not in records]
        if unread:
            records.update(self._retry(lambda: self._store.get_keys(site_id, unread)))
        return records

    def run_chunk(self, run: RunRecord, chunk: ChunkRecord) -> ChunkOutcome:
        engine = self._engine
        site_id = run.site_id
        records = self._chunk_records(site_id, chunk)
        failures: list[Failure] = []
        for key_id in chunk.key_ids:
            if key_id not in records:
                failures.append(Failure(key_id, "the key does not exist at this site"))
        outcome_of: dict[str, str] = {}
        made: dict[str, DoorChangeMade] = {}
        digital = {r.key_id for r in records.values() if r.key_type == DIGITAL_KEY}
        pending = [records[k] for k in chunk.key_ids if k in records]
        raced: list[str] = []
        # Keys whose write lost to a change since they were read (since the plan, for the
        # snapshot; or a crashed earlier delivery of this chunk) are read again and decided
        # again; a key that keeps changing goes the single-key way.
        for attempt in range(2):
            raced = self._pass(run, pending, outcome_of, made, failures)
            if not raced or attempt == 1:
                break
            fresh = self._retry(functools.partial(self._store.get_keys, site_id, raced))
            pending = [fresh[k] for k in raced if k in fresh]
        for key_id in raced:
            alone = self._revoke_alone(run, key_id, failures)
            if alone is not None:
                outcome_of[key_id] = alone
        counts = zero_counts()
        for outcome in outcome_of.values():
            counts[outcome] += 1
        counts[FAILED] += len(failures)
        return ChunkOutcome(
            counts=counts,
            failures=tuple(failures),
            doors=made,
            finished_at=engine.clock.now(),
            revoked_digital_keys=sum(
                1 for key_id, done in outcome_of.items() if done == REVOKED and key_id in digital
            ),
        )

    def _pass(
        self,
        run: RunRecord,
        present: Sequence[KeyRecord],
        outcome_of: dict[str, str],
        made: dict[str, DoorChangeMade],
        failures: list[Failure],
    ) -> list[str]:
        """The write protocol over ``present`` as read; returns the keys whose intent write
        lost a race (nothing else of theirs was written)."""
        engine = self._engine
        site_id = run.site_id
        doors = self._retry(lambda: engine.doors_of(present))
        now = engine.clock.now()
        computed = planner.revoke_chunk(present, doors, now)
        intents, leftovers, decided = self._decide(run, present, computed, now, failures)
        outcome_of.update(decided)

        # 1. Intent, in parallel (conditional on the version read).
        def write_intent(intent: _Intent) -> bool:
            try:
                self._retry(lambda: self._store.save_key(intent.after))
            except ConcurrentUpdate:
                return False
            return True

        written: list[KeyRecord] = []
        raced: list[str] = []
        for intent, ok in zip(intents, self._map(write_intent, intents), strict=True):
            if ok:
                written.append(intent.after)
                outcome_of[intent.after.key_id] = REVOKED
            else:
                raced.append(intent.after.key_id)

        # 2. Audit events, batched; a leftover's own event is put again only if it is ours
        # (the crash may have come before the events were).
        events = [r.last_event for r in written if r.last_event is not None]
        events += [
            r.last_event
            for r in leftovers
            if r.last_event is not None and r.last_event.actor == run.actor
        ]
        if events:
            self._runs.put_events(events)

        # 3. Door versions: one change per door for every row of the chunk that needs one.
        finishing = written + leftovers
        door_changes = self._hand_to_doors(site_id, finishing, doors)

        # 4. Record the versions on each key.
        self._map(lambda r: self._record(r, door_changes), finishing)

        # 5. The outside world: online doors sync, phones drop revoked digital keys. A
        # redelivered chunk also asks again the online doors holding its earlier work (the
        # crashed delivery may have died before asking; a door asked twice applies once).
        resync = doors_awaiting(leftovers)
        self._notify(site_id, finishing, door_changes, doors, resync)
        for door_id, (version, refs, _) in door_changes.items():
            before = made.get(door_id)
            made[door_id] = DoorChangeMade(
                version,
                len(refs) + (0 if before is None else before.keys),
                1 + (0 if before is None else before.changes),
            )
        return raced

    def _decide(
        self,
        run: RunRecord,
        present: Sequence[KeyRecord],
        computed: planner.ChunkRevocation,
        now: int,
        failures: list[Failure],
    ) -> tuple[list[_Intent], list[KeyRecord], dict[str, str]]:
        """Per key, from the core's decision: the record to write, or a key this run revoked
        before (its leftover work is finished), or an outcome already known."""
        intents: list[_Intent] = []
        leftovers: list[KeyRecord] = []
        outcome_of: dict[str, str] = {}
        for record, result in zip(present, computed.keys, strict=True):
            if result.decision == planner.REVOKE:
                intents.append(_Intent(record, self.revoked_record(record, result, now, run)))
            elif result.decision == planner.ALREADY_REVOKED:
                if self._revoked_by(record, run):
                    outcome_of[record.key_id] = REVOKED
                    leftovers.append(record)
                else:
                    outcome_of[record.key_id] = ALREADY_REVOKED
            else:
                states = ", ".join(f"{r.door_id}: {r.state}" for r in record.rows)
                failures.append(
                    Failure(record.key_id, f"illegal transition: revoke from door rows ({states})")
                )
        return intents, leftovers, outcome_of

    def _hand_to_doors(
        self, site_id: str, records: Iterable[KeyRecord], doors: Mapping[str, Door]
    ) -> dict[str, tuple[int, tuple[ChangeRef, ...], Door]]:
        """A door change per door for the pending rows without a door version, and the
        door's version bump (``Engine.allocate``); doors in parallel."""
        work: dict[str, list[ChangeRef]] = {}
        for record in records:
            for row in record.rows:
                if row.change_version is None and is_pending(row.state):
                    work.setdefault(row.door_id, []).append(
                        ChangeRef(record.key_id, row.seq, row.state)
                    )
        engine = self._engine

        def allocate(door_id: str) -> tuple[str, tuple[int, tuple[ChangeRef, ...], Door]]:
            refs = tuple(work[door_id])
            version, door = self._retry(
                lambda: engine.allocate(site_id, door_id, refs, "revoke", doors.get(door_id))
            )
            return door_id, (version, refs, door)

        return dict(self._map(allocate, sorted(work)))

    def _record(
        self,
        record: KeyRecord,
        door_changes: Mapping[str, tuple[int, tuple[ChangeRef, ...], Door]],
    ) -> None:
        """Step 3 for one key: its rows record the door versions that carry them, written
        whole and conditional on the version of the intent write (as ``Engine.settle`` does).
        A whole-item PutItem rather than an UpdateItem of the rows: the same write units on
        DynamoDB, and faster in the emulator (docs/revocation-runs.md)."""
        carried = {
            door_id: (ref.seq, version)
            for door_id, (version, refs, _) in door_changes.items()
            for ref in refs
            if ref.key_id == record.key_id
        }
        recorded = with_change_versions(record, carried)
        if recorded is None:
            return
        try:
            self._retry(lambda: self._store.save_key(recorded))
        except ConcurrentUpdate:
            # Changed since the intent write (e.g. a fast online door already confirmed):
            # re-read, and record only on rows still carrying the intent the change was for.
            self._engine.mutate_key(
                record.site_id,
                record.key_id,
                lambda current, _doors, _now: with_change_versions(current, carried),
            )

    def _notify(
        self,
        site_id: str,
        records: Sequence[KeyRecord],
        door_changes: Mapping[str, tuple[int, tuple[ChangeRef, ...], Door]],
        doors: Mapping[str, Door],
        resync: Iterable[str],
    ) -> None:
        ports = self._engine.ports
        latest = dict(doors)
        latest.update({door_id: door for door_id, (_, _, door) in door_changes.items()})
        self._engine.request_syncs(site_id, set(door_changes) | set(resync), latest)
        digital = [r for r in records if r.key_type == DIGITAL_KEY and r.phone_e164 is not None]

        def take_back(record: KeyRecord) -> None:
            assert record.phone_e164 is not None
            ports.mobile_gateway.revoke(site_id, record.key_id, record.phone_e164)

        self._map(take_back, digital)

    def _revoke_alone(self, run: RunRecord, key_id: str, failures: list[Failure]) -> str | None:
        """A key that changed while the run held it: read again and decide again, the way a
        single revoke does (``KeyService.revoke``): still revoked unless revoked already."""
        engine = self._engine

        def revoke(record: KeyRecord, doors: Mapping[str, Door], now: int) -> KeyRecord | None:
            if record.revoked:
                return None
            revoked = replace(record, revoked=True)
            if record.key_type == ACCESS_MEDIUM:
                revoked = engine.transition(revoked, "revoke")
            return engine.finalize(
                record,
                revoked,
                doors,
                now,
                action="revoked",
                actor=run.actor,
                reason=run.reason,
                details={"run_id": run.run_id, "started_by": run.started_by},
            )

        try:
            record, changed = self._retry(
                lambda: engine.mutate_key(run.site_id, key_id, revoke, ensure_event=True)
            )
        except IllegalTransition as error:
            failures.append(Failure(key_id, f"illegal transition: {error}"))
            return None
        except ConcurrentUpdate:
            failures.append(Failure(key_id, "the key kept changing while the run revoked it"))
            return None
        if not changed and not self._revoked_by(record, run):
            return ALREADY_REVOKED
        [record] = self._retry(lambda: engine.settle([record], action="revoke"))
        if record.key_type == DIGITAL_KEY and record.phone_e164 is not None:
            engine.ports.mobile_gateway.revoke(run.site_id, key_id, record.phone_e164)
        return REVOKED


__all__ = ["DEFAULT_PARALLEL_WRITES", "ChunkExecutor"]
