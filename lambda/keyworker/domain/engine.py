"""What every key lifecycle service shares: evaluating a key through the core, applying door
events through the core's transition function, writing a key under optimistic locking, handing
pending rows to their doors as versioned door changes, and the audit trail.

The write protocol (documented in ``docs/data-model.md``):

1. **Intent first.** A command writes the key item (new facts, rows moved by
   ``next_door_state``, a new ``seq`` per moved row, the audit event embedded as
   ``last_event``) with a condition on the version it read. A lost race re-reads and
   re-decides; an illegal transition raises before anything is written.
2. **Then the doors.** Each door with pending rows without a ``change_version`` gets its next
   version by one atomic increment of ``desired_version`` (no read-modify-write: concurrent
   writers of a hot door never conflict), then the change item for that version (only if
   absent). A version whose change is still missing after ``CHANGE_GRACE_SECONDS`` (its writer
   crashed in between) is voided by the next reader with a marker item; a writer that loses
   that race allocates again. A door is only ever given, and only ever confirms, versions up to
   the last one whose change (or void marker) is there.
3. **Then the key records the versions** (again conditional), and the audit event is appended
   with a deterministic id. A retried command finds the intent already written and finishes
   steps 2 and 3 instead of repeating step 1.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from keyworker import status
from keyworker.domain.models import (
    NOT_PENDING,
    AuditEvent,
    ChangeRef,
    Door,
    DoorChange,
    IndexedStatus,
    KeyRecord,
    KeyView,
    Pending,
    StatusSnapshot,
)
from keyworker.domain.ports import Ports
from keyworker.errors import ConcurrentUpdate, IllegalTransition, KeyNotFound, StoreError

logger = logging.getLogger("keyworker.domain")

# A conditional write that loses is retried with fresh state this many times before the command
# gives up with ConcurrentUpdate (a client or SQS retry then starts it again).
MAX_ATTEMPTS = 40
# A door version whose change item is missing is in flight for this long after its allocation
# (its writer is between the two writes); after that a reader voids it with a marker, so a
# writer that stopped there cannot hold the door back for longer (docs/data-model.md).
CHANGE_GRACE_SECONDS = 60
# A batch's new keys are written after their door changes (docs/data-model.md, "A batch's new
# keys"): readers take a change naming a key not there yet as in flight for the grace period,
# so the batch's writer trusts its early versions only if its key writes end within half of it
# (the other half covers clock skew between functions); later, it hands the rows again.
CARRY_WITHIN_SECONDS = CHANGE_GRACE_SECONDS // 2

# How long the writer of a key's intent is trusted to hand its rows to their doors (longer than
# any function's timeout, 30 s in infra/template.yaml). Within it, a replay of the same command
# leaves the door work to that writer (no second door change); after it, the replay — or the
# time service, which the index copy's ``next_boundary_at`` points at the lease's end — does it.
SETTLE_LEASE_SECONDS = 60

KeyChange = Callable[[KeyRecord, Mapping[str, Door], int], KeyRecord | None]


@functools.cache
def is_pending(state: str) -> bool:
    """A pending state is one the core gives a mode (manual/automated): work for its door."""
    shown = status.door_status(state, False)
    return shown is not None and shown.mode is not None


def doors_awaiting(records: Iterable[KeyRecord]) -> set[str]:
    """The doors holding a recorded change of these keys that they have not confirmed."""
    return {
        row.door_id
        for record in records
        for row in record.rows
        if row.change_version is not None and is_pending(row.state)
    }


def unsettled(record: KeyRecord) -> bool:
    """Whether the key has pending rows not yet handed to their doors (no door version)."""
    return any(row.change_version is None and is_pending(row.state) for row in record.rows)


def next_boundary(record: KeyRecord, now: int) -> int | None:
    """When the key's stored index copy must be looked at again: the next of ``valid_from``
    and ``valid_until`` still ahead (the evaluation depends on the clock only through them),
    or the end of its writer's lease while it has unsettled rows (the time service then
    finishes a crashed writer's door work)."""
    ahead = [t for t in (record.valid_from, record.valid_until) if t is not None and t > now]
    if unsettled(record):
        ahead.append(record.updated_at + SETTLE_LEASE_SECONDS)
    if record.overdue_at is not None:
        # Kept even when passed: the key stays due until its stuck work is reported.
        ahead.append(record.overdue_at)
    return min(ahead) if ahead else None


def with_change_versions(
    record: KeyRecord,
    carried: Mapping[str, tuple[int, int | None]],
    now: int | None = None,
    *,
    replacing: Mapping[str, int] | None = None,
    bump: bool = True,
) -> KeyRecord | None:
    """The record with its rows recording the door versions that carry them (``carried``:
    door -> (the row's seq the change was made for, the door version)), one version up; None
    when no row still waits for its version. Only the intent a change was made for records
    it: a newer intent makes its own change. ``replacing``: per door, the version a row may
    record instead of none (a batch's early version its writer no longer trusts); the new
    version may be None then (the row waits for a change again). ``bump``: False for a new
    key's draft (written for the first time, it keeps its version)."""
    rows = []
    changed = False
    for row in record.rows:
        seq_version = carried.get(row.door_id)
        expected = None if replacing is None else replacing.get(row.door_id)
        if seq_version and row.seq == seq_version[0] and row.change_version == expected:
            rows.append(replace(row, change_version=seq_version[1]))
            changed = True
        else:
            rows.append(row)
    if not changed:
        return None
    recorded = replace(record, rows=tuple(rows), version=record.version + int(bump))
    if recorded.indexed is not None and now is not None:
        indexed = replace(recorded.indexed, next_boundary_at=next_boundary(recorded, now))
        recorded = replace(recorded, indexed=indexed)
    return recorded


def stamped(before: KeyRecord | None, after: KeyRecord, now: int) -> KeyRecord:
    """``after`` with each row's ``since`` (when it entered its state), failure reason and
    overdue mark carried over from ``before`` while its state stays, reset when it moves. Every
    decided write goes through here (:meth:`Engine.finalize`), so ``since`` rides on the key
    write that moves the row and costs no call of its own. A new intent in the same state (a
    new ``seq``) clears the failure reason: it is about work that is no longer asked for."""
    old = {} if before is None else {row.door_id: row for row in before.rows}
    rows = []
    for row in after.rows:
        prev = old.get(row.door_id)
        if prev is None or prev.state != row.state:
            rows.append(replace(row, since=now, last_error=None, overdue_noted=False))
        else:
            last_error = prev.last_error if prev.seq == row.seq else None
            rows.append(
                replace(
                    row,
                    since=prev.since,
                    last_error=last_error,
                    overdue_noted=row.overdue_noted or prev.overdue_noted,
                )
            )
    return replace(after, rows=tuple(rows))


@dataclass(frozen=True, slots=True)
class Overdue:
    """A pending state of a key and when it counts as pending too long."""

    door_id: str | None
    state: str
    pending: Pending
    threshold: int

    @property
    def due_at(self) -> int:
        return (self.pending.since or 0) + self.threshold


def backoff(attempt: int) -> None:
    # Full jitter keeps concurrent writers of the same item from colliding in lock step.
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))


class Engine:
    """Shared machinery of the services (one instance per composition root)."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        self.store = ports.store
        self.clock = ports.clock

    # ----------------------------------------------------------------- evaluation (the core)

    def unreachable_since(self, door: Door, now: int) -> int | None:
        """When the online ``door`` became unreachable (its site's threshold after it was
        last heard from), or None."""
        threshold = self.ports.site_settings.for_site(door.site_id).unreachable_after
        # The door owes an answer from when its work began, or from when it came online
        # if that is later (before, its work was a technician's).
        expected = door.pending_since
        if expected is not None and door.online_since is not None:
            expected = max(expected, door.online_since)
        return status.unreachable_since(door.online, door.last_seen, expected, threshold, now)

    def works_online(self, door: Door, now: int | None) -> bool:
        """Whether the door's pending work is automated: an unreachable online door's is
        manual (docs/status-rules.md, "Who must act")."""
        if now is None or not door.online:
            return door.online
        return status.works_online(door.online, self.unreachable_since(door, now) is not None)

    def facts(
        self, record: KeyRecord, doors: Mapping[str, Door], now: int | None = None
    ) -> status.KeyFacts:
        door_facts = []
        for row in record.rows:
            door = doors.get(row.door_id)
            if door is None:
                raise StoreError(f"door {row.door_id} of key {record.key_id} is missing")
            online = self.works_online(door, now)
            door_facts.append(status.DoorFacts(state=row.state, online=online, kind=door.kind))
        schedule = None if record.schedule is None else status.Schedule.from_json(record.schedule)
        return status.KeyFacts(
            key_type=record.key_type,
            revoked=record.revoked,
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            doors=tuple(door_facts),
            schedule=schedule,
            phone_blocked=record.phone_blocked,
            delivered=record.delivered,
            app_reloaded=record.app_reloaded,
        )

    def evaluate(self, record: KeyRecord, doors: Mapping[str, Door], now: int) -> status.KeyStatus:
        return status.evaluate(self.facts(record, doors, now), now)

    def view(self, record: KeyRecord, doors: Mapping[str, Door], now: int) -> KeyView:
        rows, own = self.pending(record, doors, now)
        return KeyView(
            record=record,
            status=self.evaluate(record, doors, now),
            evaluated_at=now,
            doors_pending=rows,
            pending=own,
        )

    def pending(
        self, record: KeyRecord, doors: Mapping[str, Door], now: int
    ) -> tuple[tuple[Pending, ...], Pending]:
        """Who each row waits for and since when, and the key's own: the longest waiting of
        its pending rows and its own delivery/revocation state (``status.key_waiting_for``).
        Rows and keys written before ``since`` was recorded count from ``updated_at``."""
        rows = []
        for row in record.rows:
            door = doors.get(row.door_id)
            online = door is not None and door.online
            unreachable = door is not None and self.unreachable_since(door, now) is not None
            waiting = status.row_waiting_for(row.state, online, unreachable)
            if waiting is None:
                rows.append(NOT_PENDING)
            else:
                since = record.updated_at if row.since is None else row.since
                # A failed send to the door concerns every row waiting there.
                last_error = row.last_error or (None if door is None else door.last_error)
                rows.append(Pending(since, waiting, last_error))
        candidates = [p for p in rows if p.waiting_for is not None]
        own = status.key_waiting_for(
            record.key_type, record.revoked, record.delivered, record.app_reloaded
        )
        if own is not None:
            since = record.updated_at if record.status_since is None else record.status_since
            candidates.append(Pending(since, own, record.last_error))
        oldest = min(candidates, key=lambda p: p.since or 0, default=NOT_PENDING)
        return tuple(rows), oldest

    def overdue(self, record: KeyRecord, doors: Mapping[str, Door], now: int) -> list[Overdue]:
        """The key's pending states not yet reported as too long, each with the instant it
        becomes too long (its site's threshold for whom it waits after it began), soonest
        first. The key's own state has ``door_id`` None."""
        thresholds = self.ports.site_settings.for_site(record.site_id)
        rows, _ = self.pending(record, doors, now)
        found = []
        for row, pending in zip(record.rows, rows, strict=True):
            if pending.waiting_for is None or pending.since is None or row.overdue_noted:
                continue
            threshold = thresholds.for_waiting(pending.waiting_for)
            if threshold is not None:
                found.append(Overdue(row.door_id, row.state, pending, threshold))
        own = status.key_waiting_for(
            record.key_type, record.revoked, record.delivered, record.app_reloaded
        )
        if own is not None and not record.overdue_noted:
            threshold = thresholds.for_waiting(own)
            if threshold is not None:
                since = record.updated_at if record.status_since is None else record.status_since
                state = "revocation_pending" if record.revoked else "deployment_pending"
                found.append(Overdue(None, state, Pending(since, own, None), threshold))
        found.sort(key=lambda o: (o.due_at, o.door_id or ""))
        return found

    def with_overdue_at(self, record: KeyRecord, doors: Mapping[str, Door], now: int) -> KeyRecord:
        found = self.overdue(record, doors, now)
        return replace(record, overdue_at=found[0].due_at if found else None)

    @staticmethod
    def snapshot(record: KeyRecord, evaluated: status.KeyStatus) -> StatusSnapshot:
        home = evaluated.home_status
        return StatusSnapshot(
            status=evaluated.status.code,
            home_status=None if home is None else home.code,
            doors={row.door_id: row.state for row in record.rows},
        )

    @staticmethod
    def index(record: KeyRecord, evaluated: status.KeyStatus, now: int) -> IndexedStatus:
        home = evaluated.home_status
        return IndexedStatus(
            status=evaluated.status.code,
            home_status=None if home is None else home.code,
            evaluated_at=now,
            next_boundary_at=next_boundary(replace(record, updated_at=now), now),
        )

    def doors_of(self, records: Iterable[KeyRecord]) -> dict[str, Door]:
        """The doors of the given keys (one site), read together."""
        records = list(records)
        if not records:
            return {}
        door_ids = {door_id for record in records for door_id in record.door_ids}
        return self.store.get_doors(records[0].site_id, door_ids)

    # ------------------------------------------------------------- transitions (the core)

    @staticmethod
    def transition(record: KeyRecord, event: str, *, only_legal: bool = False) -> KeyRecord:
        """Every row of ``record`` moved by ``event`` through the core's transition function.

        An illegal transition raises :class:`IllegalTransition` (nothing is written by the
        caller) unless ``only_legal``: then rows for which the core refuses the event stay as
        they are (e.g. blocking a phone leaves the rows of an undelivered key at ``none``).
        """
        rows = []
        for row in record.rows:
            try:
                state = status.next_door_state(record.key_type, row.state, event)
            except IllegalTransition:
                if only_legal:
                    rows.append(row)
                    continue
                raise
            # A confirmation completes the row's change; any other event is new door work
            # whose version is not known yet.
            change_version = row.change_version if event == "confirm" else None
            rows.append(replace(row, state=state, seq=row.seq + 1, change_version=change_version))
        return replace(record, rows=tuple(rows))

    def finalize(
        self,
        before: KeyRecord | None,
        after: KeyRecord,
        doors: Mapping[str, Door],
        now: int,
        *,
        action: str,
        actor: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> KeyRecord:
        """``after`` ready to write: next version, refreshed index, its audit event embedded."""
        evaluated_after = self.evaluate(after, doors, now)
        snapshot_before = (
            None if before is None else self.snapshot(before, self.evaluate(before, doors, now))
        )
        event_seq = (0 if before is None else before.event_seq) + 1
        event = AuditEvent(
            site_id=after.site_id,
            key_id=after.key_id,
            seq=event_seq,
            at=now,
            action=action,
            actor=actor,
            reason=reason,
            before=snapshot_before,
            after=self.snapshot(after, evaluated_after),
            details=dict(details or {}),
        )
        after = stamped(before, after, now)
        if snapshot_before is None or snapshot_before.status != evaluated_after.status.code:
            after = replace(after, status_since=now, last_error=None, overdue_noted=False)
        after = self.with_overdue_at(after, doors, now)
        return replace(
            after,
            version=(0 if before is None else before.version) + 1,
            updated_at=now,
            event_seq=event_seq,
            last_event=event,
            indexed=self.index(after, evaluated_after, now),
        )

    # ------------------------------------------------------------------ optimistic writes

    def load_key(self, site_id: str, key_id: str) -> KeyRecord:
        record = self.store.get_key(site_id, key_id)
        if record is None:
            raise KeyNotFound(f"key {key_id} does not exist at site {site_id}", field="key_id")
        return record

    def mutate_key(
        self,
        site_id: str,
        key_id: str,
        change: KeyChange,
        *,
        record: KeyRecord | None = None,
        doors: Mapping[str, Door] | None = None,
        ensure_event: bool = False,
    ) -> tuple[KeyRecord, bool]:
        """Apply ``change`` to the key and write it conditionally, re-reading on a lost race.

        ``change`` returns None when there is nothing to change (a replay). With
        ``ensure_event`` a replay re-appends the key's last audit event (a no-op when it is
        there), so a command retried after a crash between its two writes finishes the job.
        """
        for attempt in range(MAX_ATTEMPTS):
            current = record if record is not None else self.load_key(site_id, key_id)
            record = None
            current_doors = doors
            if current_doors is None or any(d not in current_doors for d in current.door_ids):
                current_doors = self.doors_of([current])
            new = change(current, current_doors, self.clock.now())
            if new is None:
                if ensure_event and current.last_event is not None:
                    self.store.put_event(current.last_event)
                return current, False
            try:
                self.store.save_key(new)
            except ConcurrentUpdate as lost:
                backoff(attempt)
                # The key as the write found it, when the store brought it back (else read).
                if isinstance(lost.current, KeyRecord):
                    record = lost.current
                continue
            if new.last_event is not None and new.event_seq != current.event_seq:
                self.store.put_event(new.last_event)
            return new, True
        raise ConcurrentUpdate(f"key {key_id} kept changing; try again")

    # --------------------------------------------------------------- door work (versions)

    def request_syncs(
        self, site_id: str, door_ids: Iterable[str], doors: Mapping[str, Door]
    ) -> None:
        """Ask those of ``door_ids`` that are online and have unconfirmed work (as ``doors``
        knows them) to sync up to their desired version."""
        for door_id in sorted(door_ids):
            door = doors.get(door_id)
            if door is not None and door.online and door.pending_changes > 0:
                self.ports.door_gateway.request_sync(site_id, door_id, door.desired_version)

    def allocate(
        self,
        site_id: str,
        door_id: str,
        refs: tuple[ChangeRef, ...],
        action: str,
        door: Door | None = None,
    ) -> tuple[int, Door]:
        """The door's next version, carrying ``refs``: the version is allocated atomically
        (concurrent writers of one door each get their own, nobody retries), then its change
        item is written (only if absent). Returns the version and the door as the allocation
        left it. ``door``, when the caller has just read it, is only asked for its
        connectivity (the index partition of a pending door depends on it).

        A writer slower than :data:`CHANGE_GRACE_SECONDS` between the two writes may find its
        version voided by a reader (docs/data-model.md, the write protocol): it allocates again.
        """
        for _ in range(MAX_ATTEMPTS):
            if door is None:
                door = self.store.get_door(site_id, door_id)
                if door is None:
                    raise StoreError(f"door {door_id} is missing")
            try:
                allocated = self.store.allocate_door_version(
                    site_id, door_id, connectivity=door.connectivity, now=self.clock.now()
                )
            except ConcurrentUpdate:
                # The door's connectivity changed since it was read: read it again.
                door = None
                continue
            version = allocated.desired_version
            change = DoorChange(site_id, door_id, version, self.clock.now(), action, refs)
            if self.store.put_change(change):
                return version, allocated
            logger.warning(
                "door version voided before its change was written; allocating again",
                extra={"site_id": site_id, "door_id": door_id, "version": version},
            )
            door = allocated
        raise ConcurrentUpdate(f"door {door_id} kept changing; try again")
