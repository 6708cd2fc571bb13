"""The jobs queue's message: one job, as JSON, validated by pydantic.

A job says what to do (``kind``), with what (``params``, validated by the kind's own model),
and under which identity (``job_id``): producers derive ``job_id`` from what the job is for, so
a job sent twice is the same job. Phone numbers may appear in ``params`` (block/unblock); the
message body is therefore never logged, only its ``job_id`` and ``kind``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

Id = Annotated[StrictStr, Field(min_length=1, max_length=128)]

# Kinds the worker runs (see keyworker.jobs.registry and docs/lambdas.md).
DELIVER_DIGITAL_KEY = "deliver_digital_key"
TAKE_BACK_DIGITAL_KEY = "take_back_digital_key"
SYNC_DOOR = "sync_door"
DEPLOY_ACCESS_MEDIUM = "deploy_access_medium"
DEPLOY_DIGITAL_KEY = "deploy_digital_key"
REVOKE_KEY = "revoke_key"
BLOCK_PHONE = "block_phone"
UNBLOCK_PHONE = "unblock_phone"


# Job models build their validator and serializer on first use, not at import (cold start):
# a worker's message needs the job model and its own kind's params, not every kind's.
JOB_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Job(BaseModel):
    """The body of a jobs-queue message."""

    model_config = JOB_MODEL_CONFIG

    job_id: Id
    kind: Id
    params: dict[str, Any]
    # The request or message this job came from, so its log lines can be followed across.
    correlation_id: Annotated[StrictStr, Field(max_length=256)] | None = None


class _Params(BaseModel):
    model_config = JOB_MODEL_CONFIG

    site_id: Id


class KeyRef(_Params):
    """A key of a site (delivery and take-back of a digital key, revocation)."""

    key_id: Id


class SyncDoor(_Params):
    """Send an online door the update that takes it to ``version`` (or later)."""

    door_id: Id
    version: StrictInt = Field(ge=1)


class RevokeKey(KeyRef):
    actor: Id
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None


class _NewKey(_Params):
    holder_id: Id
    door_ids: list[Id] = Field(min_length=1, max_length=100)
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    schedule: dict[str, Any] | None = None
    actor: Id


class DeployAccessMedium(_NewKey):
    card_uid: Id


class DeployDigitalKey(_NewKey):
    phone: Annotated[StrictStr, Field(min_length=3, max_length=32)]


class PhoneCommand(_Params):
    phone: Annotated[StrictStr, Field(min_length=3, max_length=32)]
    actor: Id
