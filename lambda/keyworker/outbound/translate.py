"""DynamoDB stream records (the outbox) → outbound CloudEvents (``docs/events.md``).

Every state change keyworker makes is already one write of one item of the table: a key write
carries its audit event (``last_event``, one PutItem), a door version is a change item, a
confirmation raises the door's ``confirmed_version``, a phone's block state and a revocation
run's counters are items too. The stream delivers each write with its old and new image, so
the events are derived here, after the fact, and a crash anywhere after the write loses
nothing: the stream delivers the record again and the same record gives the same events (ids
and sequences come from the items, never from a clock).

Per-subject ``sequence``:

- key: its ``event_seq`` (one audit event per key write);
- door: ``2·v`` for ``door.update_requested`` of version ``v``, ``2·v + 1`` for
  ``door.confirmed`` up to ``v`` (a door confirms only versions whose change exists, so the
  request of ``v`` always happens before the confirmation of ``v``; the two orders of
  "confirmed ``v``" and "requested ``v + 1``" are both possible and independent: this
  sequence picks one);
- phone: ``blocked_rev`` (the revision at which its block state last changed);
- revocation run: ``chunks_done`` for progress (each counted chunk adds exactly one), and
  ``chunk_count + 1`` for completion (after every chunk; a dry run completes when planned).

Statuses are labelled by the Rust core's words (``keyworker.status``); the mode of a pending
door row comes from the door's current connectivity, as the API shows it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keyworker import _core, status
from keyworker.adapters.dynamodb.key_store import (
    change_from_item,
    door_from_item,
    from_item,
    key_from_item,
    phone_from_item,
)
from keyworker.domain.models import AuditEvent, Door, KeyRecord, StatusSnapshot
from keyworker.domain.ports import KeyStore
from keyworker.outbound import envelope as ev
from keyworker.revocation.models import CANCELLED, DONE, PLANNED

logger = logging.getLogger(__name__)

#: Item types whose changes are outbound events; every other item (audit trail copies,
#: dedupe records, the feed itself, plans, chunks) is skipped.
KEY, DOOR, CHANGE, PHONE, RUN = "key", "door", "door_change", "phone", "revocation_run"
# A dry run ends planned; a run ends done or cancelled.
_FINISHED = (DONE, CANCELLED, PLANNED)

_KEY_TYPES = {
    "created": ev.KEY_CREATED,
    "revoked": ev.KEY_REVOKED,
    "modified": ev.KEY_MODIFIED,
    "pending_too_long": ev.KEY_PENDING_TOO_LONG,
}


class UntranslatableRecord(ValueError):
    """A stream record of an outbound item that cannot be read (reported, never skipped)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One stream record, decoded: its images as DynamoDB JSON, and when it was written."""

    sequence_number: str
    event_name: str
    new: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    written_at: float

    @property
    def item_type(self) -> str | None:
        image = self.new if self.new is not None else self.old
        if image is None:
            return None
        value = image.get("item_type", {}).get("S")
        return None if value is None else str(value)

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> Change:
        """A record as the DynamoDB Streams event source gives it to a function."""
        stream = record["dynamodb"]
        written = stream.get("ApproximateCreationDateTime", 0)
        if isinstance(written, dt.datetime):  # boto3's GetRecords parses it; Lambda does not
            written = written.timestamp()
        return cls(
            sequence_number=str(stream["SequenceNumber"]),
            event_name=str(record["eventName"]),
            new=stream.get("NewImage"),
            old=stream.get("OldImage"),
            written_at=float(written),
        )


def _int(image: Mapping[str, Any] | None, name: str) -> int:
    if image is None or name not in image:
        return 0
    return int(image[name]["N"])


def _bool(image: Mapping[str, Any] | None, name: str) -> bool:
    return bool(image is not None and image.get(name, {}).get("BOOL", False))


class Translator:
    """Stream records → CloudEvents; reads the table only off the write path (door
    connectivity for labels, the change items a confirmation covers)."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store

    def doors_needed(self, changes: Iterable[Change]) -> dict[str, set[str]]:
        """Site → door ids whose connectivity labels the key events of ``changes``."""
        needed: dict[str, set[str]] = {}
        for change in changes:
            if change.item_type == KEY and change.new is not None:
                for image in (change.new, change.old):
                    if image is not None:
                        site = image["site_id"]["S"]
                        needed.setdefault(site, set()).update(
                            v["S"] for v in image.get("door_ids", {}).get("L", [])
                        )
        return needed

    def read_doors(self, needed: Mapping[str, set[str]]) -> dict[tuple[str, str], Door]:
        doors: dict[tuple[str, str], Door] = {}
        for site, door_ids in needed.items():
            for door_id, door in self._store.get_doors(site, sorted(door_ids)).items():
                doors[(site, door_id)] = door
        return doors

    def translate(
        self, change: Change, doors: Mapping[tuple[str, str], Door]
    ) -> list[dict[str, Any]]:
        """The events of one record (often none). Raises ``UntranslatableRecord``."""
        try:
            kind = change.item_type
            if kind == KEY:
                return self._key(change, doors)
            if kind == CHANGE:
                return self._door_change(change)
            if kind == DOOR:
                return self._door(change)
            if kind == PHONE:
                return self._phone(change)
            if kind == RUN:
                return self._run(change)
            return []
        except (KeyError, ValueError, TypeError) as error:
            raise UntranslatableRecord(
                f"stream record {change.sequence_number} ({change.item_type}): "
                f"{type(error).__name__}"
            ) from error

    # ------------------------------------------------------------------------------ keys

    def _key(self, change: Change, doors: Mapping[tuple[str, str], Door]) -> list[dict[str, Any]]:
        if change.new is None:
            return []
        old_seq, new_seq = _int(change.old, "event_seq"), _int(change.new, "event_seq")
        if new_seq <= old_seq:
            return []
        record = key_from_item(change.new)
        before = None if change.old is None else key_from_item(change.old)
        audit: list[AuditEvent] = []
        if new_seq - old_seq > 1:
            # Not made by today's writers (one audit event per key write); the trail has them.
            audit.extend(
                e
                for e in self._store.list_events(record.site_id, record.key_id)
                if old_seq < e.seq < new_seq
            )
        if record.last_event is not None and record.last_event.seq == new_seq:
            audit.append(record.last_event)
        return [self._key_event(record, before, event, doors) for event in audit]

    def _key_event(
        self,
        record: KeyRecord,
        before: KeyRecord | None,
        event: AuditEvent,
        doors: Mapping[tuple[str, str], Door],
    ) -> dict[str, Any]:
        data = {
            "key_id": record.key_id,
            "key_type": record.key_type,
            "action": event.action,
            "actor": event.actor,
            "reason": event.reason,
            "before": None
            if event.before is None
            else _statuses(event.before, before or record, doors),
            "after": _statuses(event.after, record, doors),
            "details": {k: v for k, v in event.details.items() if k != "request_fingerprint"},
        }
        return ev.cloud_event(
            site_id=record.site_id,
            event_type=_KEY_TYPES.get(event.action, ev.KEY_STATUS_CHANGED),
            subject=f"keys/{record.key_id}",
            sequence=event.seq,
            time=event.at,
            data=data,
        )

    # ----------------------------------------------------------------------------- doors

    def _door_change(self, change: Change) -> list[dict[str, Any]]:
        if change.event_name != "INSERT" or change.new is None:
            return []
        door_change = change_from_item(change.new)
        if door_change.void:
            return []
        return [
            ev.cloud_event(
                site_id=door_change.site_id,
                event_type=ev.DOOR_UPDATE_REQUESTED,
                subject=f"doors/{door_change.door_id}",
                sequence=2 * door_change.version,
                time=door_change.created_at,
                data={
                    "door_id": door_change.door_id,
                    "version": door_change.version,
                    "action": door_change.action,
                    "key_ids": _unique(ref.key_id for ref in door_change.refs),
                },
            )
        ]

    def _door(self, change: Change) -> list[dict[str, Any]]:
        old, new = _int(change.old, "confirmed_version"), _int(change.new, "confirmed_version")
        if change.new is None or new <= old:
            return []
        door = door_from_item(change.new)
        carried = self._store.get_changes(door.site_id, door.door_id, range(old + 1, new + 1))
        key_ids = _unique(
            ref.key_id for version in sorted(carried) for ref in carried[version].refs
        )
        return [
            ev.cloud_event(
                site_id=door.site_id,
                event_type=ev.DOOR_CONFIRMED,
                subject=f"doors/{door.door_id}",
                sequence=2 * new + 1,
                time=change.written_at,
                data={
                    "door_id": door.door_id,
                    "version": new,
                    "previous_version": old,
                    "key_ids": key_ids,
                },
            )
        ]

    # ---------------------------------------------------------------------------- phones

    def _phone(self, change: Change) -> list[dict[str, Any]]:
        if change.new is None:
            return []
        was, now = _bool(change.old, "blocked"), _bool(change.new, "blocked")
        if was == now:
            return []
        phone = phone_from_item(change.new)
        ref = ev.phone_ref(phone.phone_hash)
        return [
            ev.cloud_event(
                site_id=phone.site_id,
                event_type=ev.PHONE_BLOCKED if now else ev.PHONE_UNBLOCKED,
                subject=f"phones/{ref}",
                sequence=phone.blocked_rev,
                time=change.written_at,
                data={"phone_ref": ref, "blocked": now, "key_ids": sorted(phone.key_ids)},
            )
        ]

    # -------------------------------------------------------------------- revocation runs

    def _run(self, change: Change) -> list[dict[str, Any]]:
        if change.new is None:
            return []
        run = from_item(change.new)
        events: list[dict[str, Any]] = []
        site_id, run_id = str(run["site_id"]), str(run["run_id"])
        data = _run_data(run)
        done_before, done_now = _int(change.old, "chunks_done"), _int(change.new, "chunks_done")
        if done_now > done_before:
            events.append(
                ev.cloud_event(
                    site_id=site_id,
                    event_type=ev.RUN_PROGRESS,
                    subject=f"revocation_runs/{run_id}",
                    sequence=done_now,
                    time=change.written_at,
                    data=data,
                )
            )
        old_state = None if change.old is None else change.old.get("state", {}).get("S")
        if run["state"] in _FINISHED and old_state != run["state"]:
            events.append(
                ev.cloud_event(
                    site_id=site_id,
                    event_type=ev.RUN_COMPLETED,
                    subject=f"revocation_runs/{run_id}",
                    sequence=int(run.get("chunk_count", 0)) + 1,
                    time=float(run.get("finished_at") or change.written_at),
                    data=data,
                )
            )
        return events


_RUN_FIELDS = (
    "state",
    "dry_run",
    "chunk_count",
    "chunks_done",
    "keys_total",
    "keys_done",
    "revoked",
    "already_revoked",
    "failed",
    "cancelled",
)


def _run_data(run: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"run_id": run["run_id"]}
    data.update({name: run.get(name) for name in _RUN_FIELDS})
    return data


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _home_label(code: str, record: KeyRecord) -> str | None:
    if code == "time_day" and record.schedule is not None:
        return status.Schedule.from_json(record.schedule).label()
    return _core.home_status_label(code)


def _statuses(
    snapshot: StatusSnapshot, record: KeyRecord, doors: Mapping[tuple[str, str], Door]
) -> dict[str, Any]:
    """A snapshot of codes in the seed's words: each status with its label (doors with mode)."""
    rows: dict[str, Any] = {}
    for door_id, state in snapshot.doors.items():
        door = doors.get((record.site_id, door_id))
        shown = status.door_status(state, door is not None and door.online)
        rows[door_id] = {
            "code": state if shown is None else shown.code,
            "mode": None if shown is None else shown.mode,
            "label": None if shown is None else shown.label,
        }
    home = snapshot.home_status
    return {
        "status": {"code": snapshot.status, "label": _core.general_status_label(snapshot.status)},
        "home_status": None if home is None else {"code": home, "label": _home_label(home, record)},
        "doors": rows,
    }


def changes_of(records: Sequence[Mapping[str, Any]]) -> list[Change]:
    return [Change.of_record(record) for record in records]


__all__ = ["Change", "Translator", "UntranslatableRecord", "changes_of"]
