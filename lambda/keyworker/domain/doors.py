"""Doors: create/update, their versions, what a door must apply now, a door's confirmation
(``door.synced``), its pending work and the technician's worklist of a site.

A door's pending work is the door changes with versions in (confirmed, desired]. They are
addressed by key (site, door, version), so reading them or confirming a version costs calls
in proportion to the changes concerned, never to the size of the table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from keyworker.domain import validation
from keyworker.domain.commands import ConfirmDoor, RefreshStatus
from keyworker.domain.engine import CHANGE_GRACE_SECONDS, MAX_ATTEMPTS, Engine
from keyworker.domain.models import (
    ACCESS_MEDIUM,
    VOID_CHANGE,
    Door,
    DoorChange,
    DoorEntry,
    DoorUpdate,
    DoorWork,
    KeyRecord,
    WorklistEntry,
)
from keyworker.domain.pipeline import KeyPipeline
from keyworker.errors import ConcurrentUpdate, DoorNotFound, InvalidInput, StoreError

logger = logging.getLogger("keyworker.domain.doors")


@dataclass(frozen=True, slots=True)
class SyncResult:
    """Outcome of a door confirmation: the door afterwards, the keys whose rows it completed,
    and whether it was stale (a version the door had already confirmed: nothing changed)."""

    door: Door
    completed_key_ids: tuple[str, ...]
    stale: bool


def door_entry(record: KeyRecord, door_id: str) -> DoorEntry:
    """What ``door_id`` must hold for a key, from the key's intent: an access medium's card
    unless it is revoked or the door was removed from it (its row there is on its way out, or
    gone); a digital key's phone on the blocklist while blocked."""
    if record.key_type == ACCESS_MEDIUM:
        row = record.row(door_id)
        leaving = row is None or row.state in ("revocation_pending", "removed")
        return DoorEntry(
            op="remove_credential" if record.revoked or leaving else "add_credential",
            key_id=record.key_id,
            key_type=record.key_type,
            card_uid=record.card_uid,
            phone_hash=None,
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            schedule=record.schedule,
        )
    return DoorEntry(
        op="block_phone" if record.phone_blocked else "unblock_phone",
        key_id=record.key_id,
        key_type=record.key_type,
        card_uid=None,
        phone_hash=record.phone_hash,
        valid_from=record.valid_from,
        valid_until=record.valid_until,
        schedule=record.schedule,
    )


class DoorService:
    def __init__(self, engine: Engine, pipeline: KeyPipeline) -> None:
        self._engine = engine
        self._store = engine.store
        self._ports = engine.ports
        self._pipeline = pipeline

    def _load(self, site_id: str, door_id: str) -> Door:
        site_id = validation.check_id(site_id, "site_id")
        door_id = validation.check_id(door_id, "door_id")
        door = self._store.get_door(site_id, door_id)
        if door is None:
            raise DoorNotFound(f"door {door_id} does not exist at site {site_id}", field="door_id")
        return door

    def get_door(self, site_id: str, door_id: str) -> Door:
        return self._load(site_id, door_id)

    # ---------------------------------------------------------------------- create/update

    def put_door(
        self, site_id: str, door_id: str, *, name: str, kind: str, connectivity: str, actor: str
    ) -> Door:
        """Create the door, or update its name, kind and connectivity. A change of
        connectivity changes the mode of the door's pending work (read from the door when a key
        is evaluated); the stored status copies of the keys waiting at it are refreshed, and a
        door that came online is asked to sync."""
        site_id = validation.check_id(site_id, "site_id")
        door_id = validation.check_id(door_id, "door_id")
        name = validation.check_text(name, "name")
        kind = validation.check_kind(kind)
        connectivity = validation.check_connectivity(connectivity)
        for _ in range(MAX_ATTEMPTS):
            current = self._store.get_door(site_id, door_id)
            now = self._engine.clock.now()
            if current is None:
                door = Door(site_id, door_id, name, kind, connectivity, rev=1)
                door = replace(door, online_since=now if door.online else None)
            elif (current.name, current.kind, current.connectivity) == (name, kind, connectivity):
                return current
            else:
                door = replace(current, name=name, kind=kind, connectivity=connectivity)
                door = replace(door, rev=current.rev + 1)
                if door.online and not current.online:
                    door = replace(door, online_since=now)
            try:
                self._store.save_door(door)
            except ConcurrentUpdate:
                continue
            if current is not None and current.connectivity != connectivity:
                self._refresh_waiting_keys(door, actor)
                if door.online and door.pending_changes > 0:
                    self._ports.door_gateway.request_sync(site_id, door_id, door.desired_version)
            return door
        raise ConcurrentUpdate(f"door {door_id} kept changing; try again")

    def _pending_changes(
        self, door: Door, upto: int | None = None
    ) -> tuple[dict[int, DoorChange], int]:
        """The door's changes in (confirmed, ``upto`` or desired] that are there, and the last
        version up to which every version is accounted for (its change or a void marker): the
        door is given, and confirms, nothing beyond it.

        A version whose change is missing is in flight while it may be younger than
        ``CHANGE_GRACE_SECONDS`` (its writer is between allocating it and writing the change);
        older, it is voided here: a void marker is put in its place (only if absent, so a slow
        writer's change and the marker cannot both be there; the loser of that race is read
        back, and a writer that lost allocates again)."""
        last = door.desired_version if upto is None else upto
        versions = range(door.confirmed_version + 1, last + 1)
        changes = self._store.get_changes(door.site_id, door.door_id, versions)
        missing = [v for v in versions if v not in changes]
        if missing:
            now = self._engine.clock.now()
            overdue = [v for v in missing if self._overdue(door, v, changes, now)]
            lost = []
            for version in overdue:
                marker = DoorChange(door.site_id, door.door_id, version, now, VOID_CHANGE, ())
                if self._store.put_change(marker):
                    logger.warning(
                        "door version voided: its change was never written",
                        extra={"site_id": door.site_id, "door_id": door.door_id, "v": version},
                    )
                    changes[version] = marker
                else:
                    lost.append(version)
            if lost:
                changes.update(self._store.get_changes(door.site_id, door.door_id, lost))
        accounted = door.confirmed_version
        for version in versions:
            if version not in changes:
                break
            accounted = version
        return changes, accounted

    @staticmethod
    def _overdue(door: Door, version: int, changes: Mapping[int, DoorChange], now: int) -> bool:
        """Whether ``version`` (whose change is missing) was surely allocated more than the
        grace period ago. Versions are allocated in order, so the creation of any later
        version's change, and the door's latest allocation, are at or after its allocation."""
        bounds = [c.created_at for v, c in changes.items() if v > version]
        if door.allocated_at is not None:
            bounds.append(door.allocated_at)
        # Every allocation sets allocated_at, so bounds is never empty here; without any, the
        # version stays in flight rather than being voided on a guess.
        return bool(bounds) and min(bounds) <= now - CHANGE_GRACE_SECONDS

    def _refresh_waiting_keys(self, door: Door, actor: str) -> None:
        changes, _ = self._pending_changes(door)
        key_ids = sorted({ref.key_id for change in changes.values() for ref in change.refs})
        # A change may name a key not written (yet, or ever: "A batch's new keys").
        records = self._store.get_keys(door.site_id, key_ids) if key_ids else {}
        details = {"door_id": door.door_id, "connectivity": door.connectivity}
        self._pipeline.run(
            [
                RefreshStatus(door.site_id, k, actor, "door_mode_changed", details)
                for k in key_ids
                if k in records
            ],
            records=records,
        )

    # ------------------------------------------------------------------ pending and update

    def pending_work(self, site_id: str, door_id: str) -> DoorWork:
        door = self._load(site_id, door_id)
        changes, _ = self._pending_changes(door)
        return DoorWork(
            door=door,
            changes=tuple(changes[v] for v in sorted(changes)),
            unreachable_since=self._engine.unreachable_since(door, self._engine.clock.now()),
        )

    def _written_through(
        self,
        door: Door,
        changes: Mapping[int, DoorChange],
        accounted: int,
    ) -> tuple[dict[str, KeyRecord], int]:
        """The keys the changes up to ``accounted`` name (one read), and the last version up
        to there before one naming a key that is not written yet: a batch's change is made
        before its new keys (docs/data-model.md, "A batch's new keys"), so such a version is
        in flight while younger than ``CHANGE_GRACE_SECONDS``. Older, the key's create never
        completed: its ref is dead, and skipped."""
        records = self._store.get_keys(
            door.site_id,
            list({ref.key_id for v in changes if v <= accounted for ref in changes[v].refs}),
        )
        now = self._engine.clock.now()
        for version in sorted(changes):
            if version > accounted:
                break
            change = changes[version]
            waiting = [r.key_id for r in change.refs if r.key_id not in records]
            if not waiting:
                continue
            if now - change.created_at < CHANGE_GRACE_SECONDS:
                return records, version - 1
            logger.warning(
                "door change names keys never written; skipping them",
                extra={"site_id": door.site_id, "door_id": door.door_id, "v": version},
            )
        return records, accounted

    def door_update(self, site_id: str, door_id: str, *, door: Door | None = None) -> DoorUpdate:
        """What the door must apply now: one entry per key with pending work at the door,
        reflecting the key's latest intent, encoded to take the door from its confirmed
        version to its desired version (of ``door`` as the caller just read it, if given) —
        or to the last version before one still in flight (docs/data-model.md): a door never
        gets, so never confirms, a version whose change it did not get."""
        if door is None or (door.site_id, door.door_id) != (site_id, door_id):
            door = self._load(site_id, door_id)
        changes, accounted = self._pending_changes(door)
        records, accounted = self._written_through(door, changes, accounted)
        key_ids = list(
            dict.fromkeys(
                ref.key_id
                for v in sorted(changes)
                if v <= accounted
                for ref in changes[v].refs
                if ref.key_id in records
            )
        )
        entries: list[DoorEntry] = []
        seen: set[tuple[str, str | None]] = set()
        for key_id in key_ids:
            entry = door_entry(records[key_id], door_id)
            # Several keys of one phone share one blocklist entry.
            subject = entry.phone_hash if entry.card_uid is None else entry.key_id
            if (entry.op, subject) in seen:
                continue
            seen.add((entry.op, subject))
            entries.append(entry)
        payload = self._ports.encoder.encode(
            door.site_id, door.door_id, door.confirmed_version, accounted, entries
        )
        return DoorUpdate(
            site_id=door.site_id,
            door_id=door.door_id,
            version=accounted,
            confirmed_version=door.confirmed_version,
            entries=tuple(entries),
            payload=payload,
        )

    # ---------------------------------------------------------------------- confirmation

    def door_synced(self, site_id: str, door_id: str, version: int, *, actor: str) -> SyncResult:
        """The door applied ``version``: every pending row whose latest intent a change up to
        that version carries is completed through the core's ``confirm``; then the door's
        confirmed version rises. A version already confirmed changes nothing. A version past
        one still in flight is confirmed only up to the version before it: no update the door
        got went further, and the change in flight must still reach the door."""
        door = self._load(site_id, door_id)
        version = validation.check_version(version)
        if version <= door.confirmed_version:
            return SyncResult(door=door, completed_key_ids=(), stale=True)
        if version > door.desired_version:
            raise InvalidInput(
                f"door {door_id} has no version {version} (its latest is {door.desired_version})",
                field="version",
            )
        upto = min(version + 1, door.desired_version)
        changes, accounted = self._pending_changes(door, upto=upto)
        accounted = min(version, accounted)
        records, accounted = self._written_through(door, changes, accounted)
        if accounted < version:
            logger.warning(
                "door confirmed a version past one in flight; confirming up to before it",
                extra={"site_id": site_id, "door_id": door_id, "v": version, "upto": accounted},
            )
            version = accounted
            if version <= door.confirmed_version:
                return SyncResult(door=door, completed_key_ids=(), stale=True)
        seqs_by_key: dict[str, set[int]] = {}
        for number, change in changes.items():
            if number <= version:
                for ref in change.refs:
                    seqs_by_key.setdefault(ref.key_id, set()).add(ref.seq)
        commands = [
            ConfirmDoor(door.site_id, key_id, door.door_id, version, frozenset(seqs), actor)
            for key_id, seqs in sorted(seqs_by_key.items())
        ]
        result = self._pipeline.run(commands, records=records, doors={door.door_id: door})
        completed = [o.record.key_id for o in result.outcomes if o.changed and o.record]
        door = self._confirm_version(door, version, changes)
        return SyncResult(door=door, completed_key_ids=tuple(completed), stale=False)

    def _confirm_version(self, door: Door, version: int, changes: dict[int, DoorChange]) -> Door:
        # Rows are completed before the door's confirmed version rises: a crash in between
        # leaves the confirmation to be repeated, and the repeat finds the rows done. The update
        # names only the versions: allocations racing it never conflict with it unless the door
        # catches up exactly as a version is allocated (then it reads the door again).
        for _ in range(MAX_ATTEMPTS):
            if door.confirmed_version >= version:
                return door
            pending_since: int | None = None
            now = self._engine.clock.now()
            if version < door.desired_version:
                following = changes.get(version + 1) or self._store.get_changes(
                    door.site_id, door.door_id, [version + 1]
                ).get(version + 1)
                # A following version still in flight was allocated just now.
                pending_since = now if following is None else min(following.created_at, now)
            try:
                return self._store.confirm_door_version(
                    door.site_id, door.door_id, version, pending_since=pending_since, seen_at=now
                )
            except ConcurrentUpdate:
                fresh = self._store.get_door(door.site_id, door.door_id)
                if fresh is None:
                    raise StoreError(f"door {door.door_id} is missing") from None
                door = fresh
        raise ConcurrentUpdate(f"door {door.door_id} kept changing; try again")

    def request_stale_syncs(self, *, min_age: int, limit: int = 500) -> list[Door]:
        """Ask again every online door whose oldest unconfirmed change is at least ``min_age``
        seconds old to sync (its first request, or its confirmation, may have been lost).
        Idempotent: a door asked twice for one version applies it once. Returns the doors."""
        pending_before = self._engine.clock.now() - min_age
        doors = [
            door
            for door in self._store.query_doors_to_sync(pending_before, limit=limit)
            # The index is eventually consistent: skip a door that caught up meanwhile.
            if door.online and door.pending_changes > 0
        ]
        for door in doors:
            self._ports.door_gateway.request_sync(door.site_id, door.door_id, door.desired_version)
        return doors

    def note_failure(self, site_id: str, door_id: str, reason: str) -> None:
        """Sending the door its update failed: the reason shows as ``last_error`` on the rows
        waiting at the door until it confirms (one UpdateItem, on the failure path only)."""
        self._store.door_failed(site_id, door_id, reason)

    def clock_now(self) -> int:
        return self._engine.clock.now()

    def heartbeat(self, site_id: str, door_id: str, at: int) -> Door:
        """The door says it is alive (``door.heartbeat``): its ``last_seen`` rises to ``at``
        (never beyond now, never back). One conditional UpdateItem."""
        site_id = validation.check_id(site_id, "site_id")
        door_id = validation.check_id(door_id, "door_id")
        seen = min(at, self._engine.clock.now())
        door = self._store.door_seen(site_id, door_id, seen)
        if door is None:
            raise DoorNotFound(f"door {door_id} does not exist at site {site_id}", field="door_id")
        return door

    # ------------------------------------------------------------------------- worklist

    def worklist(self, site_id: str) -> list[WorklistEntry]:
        """Doors of the site with unconfirmed changes that need a technician, oldest work
        first: offline doors (the sparse index), and online doors that are unreachable (not
        heard from for longer than the site's threshold: their work is manual now)."""
        site_id = validation.check_id(site_id, "site_id")
        now = self._engine.clock.now()
        entries = []
        offline = self._store.query_doors_to_visit(site_id)
        online = [d for d in self._store.query_doors(site_id) if d.online]
        for door in [*offline, *online]:
            unreachable = self._engine.unreachable_since(door, now)
            # The index is eventually consistent: skip a door that no longer needs a visit.
            if door.online and unreachable is None:
                continue
            if door.pending_changes <= 0 or door.pending_since is None:
                continue
            entries.append(
                WorklistEntry(
                    door=door,
                    pending_changes=door.pending_changes,
                    oldest_pending_age=max(0, now - door.pending_since),
                    unreachable_since=unreachable,
                )
            )
        entries.sort(key=lambda e: (-e.oldest_pending_age, e.door.door_id))
        return entries
