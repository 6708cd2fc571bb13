"""Wire shapes from domain values: the API's response models are built here, from what the
services return (the domain never builds a response)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyworker.api.models import (
    AuditEventOut,
    ChangeKeyOut,
    CountOut,
    DoorChangeOut,
    DoorOut,
    DoorStatusCountOut,
    DoorStatusOut,
    ExposureItemOut,
    ExposureOut,
    HomeStatusOut,
    KeyDoorOut,
    KeyOut,
    OldestPendingOut,
    PendingStateOut,
    RunProgressOut,
    StatusOut,
    SummaryDoorOut,
    SummaryKeysOut,
    SummaryOut,
    WorklistEntryOut,
)
from keyworker.domain.models import (
    NOT_PENDING,
    AuditEvent,
    DoorChange,
    DoorWork,
    KeyView,
    Pending,
    WorklistEntry,
    iso,
)

if TYPE_CHECKING:
    from keyworker.domain.site_views import Exposure, Summary


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
                **_pending_fields(pending),
            )
            for row, shown, pending in zip(
                record.rows, view.status.doors, _rows_pending(view), strict=True
            )
        ],
        version=record.version,
        **_pending_fields(view.pending),
    )


def _rows_pending(view: KeyView) -> tuple[Pending, ...]:
    return view.doors_pending or tuple(NOT_PENDING for _ in view.record.rows)


def _pending_fields(pending: Pending) -> dict[str, Any]:
    return {
        "pending_since": iso(pending.since),
        "waiting_for": pending.waiting_for,
        "last_error": pending.last_error,
    }


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
        last_seen=iso(door.last_seen),
        unreachable_since=iso(work.unreachable_since),
    )


def worklist_entry_out(entry: WorklistEntry) -> WorklistEntryOut:
    return WorklistEntryOut(
        door_id=entry.door.door_id,
        name=entry.door.name,
        kind=entry.door.kind,  # type: ignore[arg-type]
        connectivity=entry.door.connectivity,  # type: ignore[arg-type]
        unreachable_since=iso(entry.unreachable_since),
        pending_changes=entry.pending_changes,
        oldest_pending_age_seconds=entry.oldest_pending_age,
        desired_version=entry.door.desired_version,
        confirmed_version=entry.door.confirmed_version,
    )


def summary_out(summary: Summary) -> SummaryOut:
    now = summary.as_of
    return SummaryOut(
        site_id=summary.site_id,
        as_of=iso(now) or "",
        keys=SummaryKeysOut(
            total=summary.total,
            by_status=[
                CountOut(code=c.code, label=c.label, count=c.count) for c in summary.by_status
            ],
            by_home_status=[
                CountOut(code=c.code, label=c.label, count=c.count) for c in summary.by_home_status
            ],
            by_door_status=[
                DoorStatusCountOut(code=c.code, mode=c.mode, label=c.label, count=c.count)  # type: ignore[arg-type]
                for c in summary.by_door_status
            ],
        ),
        doors=[
            SummaryDoorOut(
                door_id=d.door.door_id,
                name=d.door.name,
                kind=d.door.kind,  # type: ignore[arg-type]
                connectivity=d.door.connectivity,  # type: ignore[arg-type]
                desired_version=d.door.desired_version,
                confirmed_version=d.door.confirmed_version,
                pending_count=d.pending_count,
                oldest_pending_since=iso(d.oldest_pending_since),
                oldest_pending_age_seconds=None
                if d.oldest_pending_since is None
                else max(0, now - d.oldest_pending_since),
                last_seen=iso(d.door.last_seen),
                unreachable_since=iso(d.unreachable_since),
            )
            for d in summary.doors
        ],
        oldest_pending=[
            OldestPendingOut(
                key_id=p.key_id,
                key_type=p.key_type,  # type: ignore[arg-type]
                door_id=p.door_id,
                state=PendingStateOut(code=p.state.code, label=p.state.label, mode=p.state.mode),  # type: ignore[arg-type]
                pending_since=iso(p.pending.since) or "",
                waiting_for=p.pending.waiting_for,  # type: ignore[arg-type]
            )
            for p in summary.oldest_pending
        ],
        revocation_runs=[
            RunProgressOut(run_id=r.run_id, state=r.state, total=r.total, done=r.done)
            for r in summary.revocation_runs
        ],
    )


def exposure_out(exposure: Exposure) -> ExposureOut:
    return ExposureOut(
        site_id=exposure.site_id,
        as_of=iso(exposure.as_of) or "",
        count=len(exposure.items),
        items=[
            ExposureItemOut(
                key_id=e.key_id,
                key_type=e.key_type,  # type: ignore[arg-type]
                reason=e.reason,  # type: ignore[arg-type]
                door_id=e.door.door_id,
                door_name=e.door.name,
                connectivity=e.door.connectivity,  # type: ignore[arg-type]
                since=iso(e.since) or "",
                technician_required=e.waiting_for == "technician",
                waiting_for=e.waiting_for,  # type: ignore[arg-type]
            )
            for e in exposure.items
        ],
    )
