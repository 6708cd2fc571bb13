"""The jobs of revocation runs on the jobs queue: their kinds, params, the worker's side (run
by ``keyworker.jobs.registry``) and the dispatcher that puts them on SQS.

- ``revocation_plan`` ``{site_id, run_id}``: plan the run, write its chunks, fan them out.
- ``revocation_chunk`` ``{site_id, run_id, chunk}``: execute one chunk.

Both are safe to run twice (see ``keyworker.revocation.service``), so they need no dedupe
record; the job ids name what they are for, so a job queued twice is the same job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, StrictInt

from keyworker.errors import ConfigurationError, JobQueueUnavailable
from keyworker.jobs.schema import JOB_MODEL_CONFIG, Id, Job

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

    from keyworker.jobs.context import JobContext

    # Typing only: the service pulls in boto3, which the worker imports on its first job (in
    # its composition root), not at import (cold start).
    from keyworker.revocation.service import RevocationService

logger = logging.getLogger(__name__)

REVOCATION_PLAN = "revocation_plan"
REVOCATION_CHUNK = "revocation_chunk"
# The key of the revocation service in the worker's JobContext.extras.
EXTRAS_KEY = "revocations"
SEND_BATCH_LIMIT = 10


class RunRef(BaseModel):
    model_config = JOB_MODEL_CONFIG

    site_id: Id
    run_id: Id


class ChunkRef(RunRef):
    chunk: StrictInt = Field(ge=0)


def plan_job(site_id: str, run_id: str) -> Job:
    return Job(
        job_id=f"revocation-plan:{run_id}",
        kind=REVOCATION_PLAN,
        params={"site_id": site_id, "run_id": run_id},
    )


def chunk_job(site_id: str, run_id: str, number: int) -> Job:
    return Job(
        job_id=f"revocation-chunk:{run_id}:{number}",
        kind=REVOCATION_CHUNK,
        params={"site_id": site_id, "run_id": run_id, "chunk": number},
    )


# ----------------------------------------------------------------------- worker side


def _service(ctx: JobContext) -> RevocationService:
    service = ctx.extras.get(EXTRAS_KEY)
    if service is None or not hasattr(service, "execute_chunk"):
        raise ConfigurationError("the worker has no revocation service (JobContext.extras)")
    return cast("RevocationService", service)


def run_plan(ctx: JobContext, params: RunRef, job: Job) -> Mapping[str, Any]:
    run = _service(ctx).plan_run(params.site_id, params.run_id)
    return {"run_id": run.run_id, "state": run.state, "chunks": run.chunk_count}


def run_chunk(ctx: JobContext, params: ChunkRef, job: Job) -> Mapping[str, Any]:
    result = _service(ctx).execute_chunk(params.site_id, params.run_id, params.chunk)
    return {
        "run_id": params.run_id,
        "chunk": params.chunk,
        "counted": result.counted,
        "state": result.run.state,
        **{f"keys_{name}": count for name, count in result.outcome.counts.items()},
    }


# The registry's entries: kind -> (params model, function); ``keyworker.jobs.registry``
# builds its JobKind from each.
KINDS: dict[str, tuple[type[BaseModel], Callable[..., Mapping[str, Any]]]] = {
    REVOCATION_PLAN: (RunRef, run_plan),
    REVOCATION_CHUNK: (ChunkRef, run_chunk),
}


# ------------------------------------------------------------------ dispatcher (SQS)


class SqsRunDispatcher:
    """Puts a run's jobs on the jobs queue; chunk jobs go ten per SendMessageBatch call."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    @staticmethod
    def _attributes(job: Job) -> dict[str, Any]:
        return {"kind": {"DataType": "String", "StringValue": job.kind}}

    def plan(self, site_id: str, run_id: str) -> None:
        job = plan_job(site_id, run_id)
        try:
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=job.model_dump_json(),
                MessageAttributes=self._attributes(job),
            )
        except (ClientError, BotoCoreError) as error:
            raise JobQueueUnavailable(f"could not queue job {job.kind}") from error

    def chunks(self, site_id: str, run_id: str, numbers: Sequence[int]) -> None:
        numbers = list(numbers)
        for start in range(0, len(numbers), SEND_BATCH_LIMIT):
            jobs = {
                str(i): chunk_job(site_id, run_id, n)
                for i, n in enumerate(numbers[start : start + SEND_BATCH_LIMIT])
            }
            entries = [
                {
                    "Id": entry_id,
                    "MessageBody": job.model_dump_json(),
                    "MessageAttributes": self._attributes(job),
                }
                for entry_id, job in jobs.items()
            ]
            for _ in range(5):
                try:
                    response = self._client.send_message_batch(
                        QueueUrl=self._queue_url,
                        Entries=entries,  # type: ignore[arg-type]
                    )
                except (ClientError, BotoCoreError) as error:
                    raise JobQueueUnavailable("could not queue revocation chunks") from error
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            else:
                raise JobQueueUnavailable("SQS kept refusing revocation chunk jobs")
