"""Wire shapes from domain values: the API's response models are built here, from what the
services return (the domain never builds a response)."""

from __future__ import annotations

from keyworker.api.models import (
    AuditEventOut,
    ChangeKeyOut,
    DoorChangeOut,
    DoorOut,
    DoorStatusOut,
    HomeStatusOut,
    KeyDoorOut,
    KeyOut,
    StatusOut,
    WorklistEntryOut,
)
from keyworker.domain.models import (
    AuditEvent,
    DoorChange,
    DoorWork,
    KeyView,
    WorklistEntry,
    iso,
)


def key_out(view: KeyView) -> KeyOut:
    record = view.record
    home = view.status.home_status
    return KeyOut(
        key_id=record.key_id,
        type=record.key_type,  # type: ignore[arg-type]
        holder_id=record.holder_id,
        door_ids=list(record.door_ids),
        valid_from=iso(record.valid_from) or "",
        valid_until=iso(record.valid_until),
        schedule=None if record.schedule is None else dict(record.schedule),
        status=StatusOut(code=view.status.status.code, label=view.status.status.label),
        home_status=None
        if home is None
        else HomeStatusOut(code=home.code, label=home.label, category=home.category),  # type: ignore[arg-type]
        doors=[
            KeyDoorOut(
                door_id=row.door_id,
                status=None
                if shown is None
                else DoorStatusOut(code=shown.code, mode=shown.mode, label=shown.label),  # type: ignore[arg-type]
            )
            for row, shown in zip(record.rows, view.status.doors, strict=True)
        ],
        version=record.version,
    )


def audit_event_out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        seq=event.seq,
        at=iso(event.at) or "",
        action=event.action,
        actor=event.actor,
        reason=event.reason,
        before=None if event.before is None else event.before.as_dict(),
        after=event.after.as_dict(),
        details=dict(event.details),
    )


def door_change_out(change: DoorChange) -> DoorChangeOut:
    return DoorChangeOut(
        version=change.version,
        created_at=iso(change.created_at) or "",
        action=change.action,
        keys=[ChangeKeyOut(key_id=ref.key_id, state=ref.state) for ref in change.refs],
    )


def door_out(work: DoorWork) -> DoorOut:
    door = work.door
    return DoorOut(
        door_id=door.door_id,
        name=door.name,
        kind=door.kind,  # type: ignore[arg-type]
        connectivity=door.connectivity,  # type: ignore[arg-type]
        desired_version=door.desired_version,
        confirmed_version=door.confirmed_version,
        pending_changes=[door_change_out(change) for change in work.changes],
    )


def worklist_entry_out(entry: WorklistEntry) -> WorklistEntryOut:
    return WorklistEntryOut(
        door_id=entry.door.door_id,
        name=entry.door.name,
        kind=entry.door.kind,  # type: ignore[arg-type]
        pending_changes=entry.pending_changes,
        oldest_pending_age_seconds=entry.oldest_pending_age,
        desired_version=entry.door.desired_version,
        confirmed_version=entry.door.confirmed_version,
    )
