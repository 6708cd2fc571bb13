"""Executes one chunk of a revocation run: one :class:`~keyworker.commands.RevokeKey` per key,
run through the key pipeline (``keyworker.domain.pipeline``) all at once — the same decision,
write protocol, audit events and door work as a single revoke, batched: one read of the
chunk's keys and doors, parallel conditional key writes, audit events in batches, one door
change per door for the whole chunk (the saving that makes bulk runs cheap at shared doors).

A chunk that crashes anywhere is run again from the start (SQS redelivers it). Keys it already
revoked are recognised by their audit trail (this run as the actor) and counted as revoked, not
as already revoked; the pipeline finishes their leftover work (event, door versions, syncs,
take-back). Nothing is counted until the chunk's outcome is recorded, once.

The outcome's doors are read off the revoked keys' rows (each row a revoke handed to its door
carries that change's version), not off the door changes this try made: two deliveries of one
chunk running at once (SQS is at-least-once) each write some of its keys and leave the door
work of the others to the writer holding them, so either try's own changes are only part of
the chunk's. A try that finds keys whose door work another writer still holds stops with
:class:`~keyworker.errors.DuplicateInProgress`; its redelivery reads the outcome that writer
recorded (or, after the writer's lease, finishes the work itself).
"""

from __future__ import annotations

import itertools
import logging

from keyworker.adapters.dynamodb.key_store import key_from_item
from keyworker.adapters.dynamodb.run_store import Backoff, RunStore, unpack_snapshot
from keyworker.domain.commands import RevokeKey
from keyworker.domain.engine import unsettled
from keyworker.domain.models import DIGITAL_KEY, KeyRecord
from keyworker.domain.pipeline import KeyPipeline, Result
from keyworker.errors import ConcurrentUpdate, DuplicateInProgress, IllegalTransition
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

logger = logging.getLogger("keyworker.revocation")

# Writers per chunk: DynamoDB calls are I/O, so a few threads overlap their latency.
DEFAULT_PARALLEL_WRITES = 8


class ChunkExecutor:
    """Runs the keys of one chunk through the key pipeline."""

    def __init__(
        self, pipeline: KeyPipeline, runs: RunStore, *, backoff: Backoff | None = None
    ) -> None:
        self._pipeline = pipeline
        self._runs = runs
        self._backoff = backoff or runs.backoff

    def _chunk_records(self, site_id: str, chunk: ChunkRecord) -> dict[str, KeyRecord]:
        """The chunk's keys: from its snapshot (as the plan read them) where it has one,
        the others read now (a stale one only costs a retry of its write)."""
        records: dict[str, KeyRecord] = {}
        if chunk.snapshot is not None:
            for item in unpack_snapshot(chunk.snapshot):
                record = key_from_item(item)
                records[record.key_id] = record
        unread = [k for k in chunk.key_ids if k not in records]
        if unread:
            store = self._pipeline.engine.store
            records.update(self._backoff.call(lambda: store.get_keys(site_id, unread)))
        return records

    def _revoked_by(self, record: KeyRecord, run: RunRecord) -> bool:
        """Whether this run revoked the key (an earlier, crashed delivery of a chunk)."""
        last = record.last_event
        if last is not None and last.action == "revoked":
            return last.actor == run.actor
        # The key changed after it was revoked (a door confirmed, the app reloaded): ask its
        # audit trail. Rare: only keys revoked during the run reach this.
        store = self._pipeline.engine.store
        events = self._backoff.call(lambda: store.list_events(record.site_id, record.key_id))
        return any(e.action == "revoked" and e.actor == run.actor for e in events)

    def run_chunk(self, run: RunRecord, chunk: ChunkRecord) -> ChunkOutcome:
        site_id = run.site_id
        records = self._chunk_records(site_id, chunk)
        failures = [
            Failure(key_id, "the key does not exist at this site")
            for key_id in chunk.key_ids
            if key_id not in records
        ]
        details = {"run_id": run.run_id, "started_by": run.started_by}
        commands = [
            RevokeKey(site_id, key_id, run.actor, run.reason, details)
            for key_id in chunk.key_ids
            if key_id in records
        ]
        tries = itertools.count()

        def revoke_all() -> Result:
            # A try after this worker's own failed one takes its door work over at once (the
            # failed try is dead, not running beside it: no need to wait out its lease).
            return self._pipeline.run(
                commands,
                records=records,
                errors_as_outcomes=True,
                action="revoke",
                takeover=next(tries) > 0,
            )

        result = self._backoff.call(revoke_all)
        counts = zero_counts()
        revoked_digital = 0
        revoked: list[KeyRecord] = []
        for outcome in result.outcomes:
            assert isinstance(outcome.command, RevokeKey)
            key_id = outcome.command.key_id
            error = outcome.error
            if isinstance(error, IllegalTransition):
                failures.append(Failure(key_id, f"illegal transition: {error}"))
                continue
            if isinstance(error, ConcurrentUpdate):
                failures.append(Failure(key_id, "the key kept changing while the run revoked it"))
                continue
            if error is not None:
                failures.append(Failure(key_id, str(error)))
                continue
            record = outcome.record
            assert record is not None
            if outcome.changed or self._revoked_by(record, run):
                counts[REVOKED] += 1
                revoked_digital += record.key_type == DIGITAL_KEY
                revoked.append(record)
            else:
                counts[ALREADY_REVOKED] += 1
        counts[FAILED] += len(failures)
        held = [record.key_id for record in revoked if unsettled(record)]
        if held:
            raise DuplicateInProgress(
                f"chunk {chunk.number} of run {run.run_id}: another delivery is handing "
                f"{len(held)} of its keys to their doors"
            )
        return ChunkOutcome(
            counts=counts,
            failures=tuple(failures),
            doors=_doors_of(revoked),
            finished_at=self._pipeline.engine.clock.now(),
            revoked_digital_keys=revoked_digital,
        )


def _doors_of(revoked: list[KeyRecord]) -> dict[str, DoorChangeMade]:
    """Per door, the revoked keys' rows its removal changes carry: a revoke leaves a row
    without a door version only where the door needs no change (a confirmation keeps it)."""
    versions: dict[str, set[int]] = {}
    keys: dict[str, int] = {}
    for record in revoked:
        for row in record.rows:
            if row.change_version is not None:
                versions.setdefault(row.door_id, set()).add(row.change_version)
                keys[row.door_id] = keys.get(row.door_id, 0) + 1
    return {
        door_id: DoorChangeMade(max(found), keys[door_id], len(found))
        for door_id, found in sorted(versions.items())
    }


__all__ = ["DEFAULT_PARALLEL_WRITES", "ChunkExecutor"]
