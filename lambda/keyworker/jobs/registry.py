"""What the worker does with each kind of job: ``kind -> JobKind`` in :data:`JOB_KINDS`.

To add kinds (e.g. the bulk revocation run's), put one line in :data:`JOB_KINDS` that names
the params model and the function; the function gets the :class:`JobContext` and the validated
params. A kind whose repeat could undo a newer command (block after unblock) sets
``dedupe=True``: the worker then runs each ``job_id`` at most once (a dedupe record in the
table); the others are safe to repeat because the services re-read the state and finish or
skip (see docs/lambdas.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from keyworker.adapters.door_commands import sync_door
from keyworker.domain.commands import (
    CreateAccessMedium,
    CreateDigitalKey,
    KeyCommand,
    NewKeyCommand,
    RevokeKey,
)
from keyworker.errors import InvalidJob, UnknownJobKind
from keyworker.jobs import schema
from keyworker.jobs.context import JobContext
from keyworker.jobs.schema import Job
from keyworker.revocation import jobs as revocation_jobs

JobOutcome = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JobKind:
    params: type[BaseModel]
    run: Callable[[JobContext, Any, Job], JobOutcome]
    dedupe: bool = False


def _epoch(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def _deliver(ctx: JobContext, p: schema.KeyRef, job: Job) -> JobOutcome:
    return {"delivered": ctx.services.keys.deliver_now(p.site_id, p.key_id)}


def _take_back(ctx: JobContext, p: schema.KeyRef, job: Job) -> JobOutcome:
    return {"taken_back": ctx.services.keys.take_back_now(p.site_id, p.key_id)}


def _sync_door(ctx: JobContext, p: schema.SyncDoor, job: Job) -> JobOutcome:
    sent = sync_door(ctx.services.doors, ctx.door_commands, p.site_id, p.door_id, p.version)
    return {"sent_version": sent}


def _run_command(ctx: JobContext, command: KeyCommand) -> JobOutcome:
    view = ctx.services.keys.run(command)
    return {"key_id": view.record.key_id, "type": view.record.key_type}


def _new_key(p: schema.DeployAccessMedium | schema.DeployDigitalKey, job: Job) -> NewKeyCommand:
    fields = p.model_dump(exclude={"valid_from", "valid_until"})
    fields.update(valid_from=int(p.valid_from.timestamp()), valid_until=_epoch(p.valid_until))
    # The job id is the idempotency key: a redelivered job finds the key it created.
    fields["request_id"] = job.job_id
    if isinstance(p, schema.DeployAccessMedium):
        return CreateAccessMedium(**fields)
    return CreateDigitalKey(**fields)


def _deploy(
    ctx: JobContext, p: schema.DeployAccessMedium | schema.DeployDigitalKey, job: Job
) -> JobOutcome:
    return _run_command(ctx, _new_key(p, job))


def _revoke(ctx: JobContext, p: schema.RevokeKey, job: Job) -> JobOutcome:
    return _run_command(ctx, RevokeKey(p.site_id, p.key_id, p.actor, p.reason))


def _block(ctx: JobContext, p: schema.PhoneCommand, job: Job) -> JobOutcome:
    result = ctx.services.phones.block(p.site_id, p.phone, actor=p.actor)
    return {"phone": result.phone_masked, "keys": len(result.key_ids)}


def _unblock(ctx: JobContext, p: schema.PhoneCommand, job: Job) -> JobOutcome:
    result = ctx.services.phones.unblock(p.site_id, p.phone, actor=p.actor)
    return {"phone": result.phone_masked, "keys": len(result.key_ids)}


JOB_KINDS: dict[str, JobKind] = {
    schema.DELIVER_DIGITAL_KEY: JobKind(schema.KeyRef, _deliver),
    schema.TAKE_BACK_DIGITAL_KEY: JobKind(schema.KeyRef, _take_back),
    schema.SYNC_DOOR: JobKind(schema.SyncDoor, _sync_door),
    schema.DEPLOY_ACCESS_MEDIUM: JobKind(schema.DeployAccessMedium, _deploy),
    schema.DEPLOY_DIGITAL_KEY: JobKind(schema.DeployDigitalKey, _deploy),
    schema.REVOKE_KEY: JobKind(schema.RevokeKey, _revoke),
    schema.BLOCK_PHONE: JobKind(schema.PhoneCommand, _block, dedupe=True),
    schema.UNBLOCK_PHONE: JobKind(schema.PhoneCommand, _unblock, dedupe=True),
    **{kind: JobKind(*entry) for kind, entry in revocation_jobs.KINDS.items()},
}


def _field_of(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    return f"{prefix}.{path}" if prefix and path else (path or prefix or "body")


def parse_job(body: str) -> tuple[Job, JobKind, BaseModel]:
    """The job in a message body, its kind and its validated params; :class:`InvalidJob` (or
    :class:`UnknownJobKind`) naming the field for anything else."""
    try:
        decoded = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidJob(f"job is not JSON: {error}", field="body") from None
    try:
        job = Job.model_validate(decoded)
    except ValidationError as error:
        field_name = _field_of(error, "")
        raise InvalidJob(f"malformed job: {field_name}", field=field_name) from None
    kind = JOB_KINDS.get(job.kind)
    if kind is None:
        raise UnknownJobKind(f"unknown job kind {job.kind!r}", field="kind")
    try:
        params = kind.params.model_validate(job.params)
    except ValidationError as error:
        field_name = _field_of(error, "params")
        raise InvalidJob(f"malformed {job.kind} job: {field_name}", field=field_name) from None
    return job, kind, params
