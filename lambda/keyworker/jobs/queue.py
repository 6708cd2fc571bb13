"""The jobs queue: the port, its SQS adapter, and the domain's gateway ports implemented by
putting jobs on it.

Functions that answer a caller (the api Lambda) or react to field events must not call
outside systems inline. There the domain's :class:`DoorGateway`, :class:`MobileAccessGateway`
and :class:`DeliveryQueue` ports are :class:`QueuedGateways`: each call becomes a job, and the
worker does the real call. Jobs are derived from the state already written, so a job that is
lost with a failed request is put again by the request's retry (the services finish leftover
work on a replay), and a job that runs twice finds nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from keyworker.domain.ports import JobQueue
from keyworker.errors import JobQueueUnavailable
from keyworker.jobs.schema import (
    DELIVER_DIGITAL_KEY,
    SYNC_DOOR,
    TAKE_BACK_DIGITAL_KEY,
    Job,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

logger = logging.getLogger(__name__)


#: The most messages one SendMessageBatch takes.
SQS_BATCH_LIMIT = 10


def _message(job: Job) -> dict[str, Any]:
    """A job as an SQS message: its JSON, and its kind as an attribute (visible without
    reading the body, which may hold a phone number)."""
    return {
        "MessageBody": job.model_dump_json(),
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": job.kind}},
    }


class SqsJobQueue:
    """:class:`JobQueue` on an SQS queue (standard; the worker is idempotent per job)."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def put(self, job: Job, *, delay_seconds: int = 0) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url, DelaySeconds=delay_seconds, **_message(job)
            )
        except (ClientError, BotoCoreError) as error:
            raise JobQueueUnavailable(f"could not queue job {job.kind}") from error
        logger.debug("queued job", extra={"job_id": job.job_id, "job_kind": job.kind})

    def put_many(self, jobs: Sequence[Job]) -> None:
        """SendMessageBatch, 10 jobs a call (one job: :meth:`put`). An entry SQS did not take
        fails the whole call (``JobQueueUnavailable``): the caller's retry puts them all
        again, and a job that runs twice finds nothing left to do."""
        if len(jobs) == 1:
            self.put(jobs[0])
            return
        for start in range(0, len(jobs), SQS_BATCH_LIMIT):
            part = jobs[start : start + SQS_BATCH_LIMIT]
            entries: list[Any] = [{"Id": str(i), **_message(job)} for i, job in enumerate(part)]
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except (ClientError, BotoCoreError) as error:
                raise JobQueueUnavailable(f"could not queue {len(part)} jobs") from error
            if response.get("Failed"):
                codes = sorted({str(f.get("Code")) for f in response["Failed"]})
                raise JobQueueUnavailable(
                    f"could not queue {len(response['Failed'])} of {len(part)} jobs ({codes})"
                )
        logger.debug("queued jobs", extra={"jobs": len(jobs)})


class QueuedGateways:
    """The outside-world ports of the domain, each call turned into a job for the worker.

    Job ids name what the job is for (key, door and version), so repeated calls make the same
    job. No phone number goes into these jobs: the worker reads it from the key.
    """

    def __init__(
        self, queue: JobQueue, correlation_id: Any = None, *, door_sync_delay_seconds: int = 0
    ) -> None:
        self._queue = queue
        # Held back this long, one door's sync requests made close together find the first
        # one's update (which carries everything pending) confirmed and send nothing: a burst
        # of changes costs the door one update instead of one each.
        self._door_sync_delay = door_sync_delay_seconds
        # A callable giving the current correlation id (request id or message id), or None.
        self._correlation_id = correlation_id

    def _job(self, job_id: str, kind: str, params: dict[str, Any]) -> Job:
        correlation = self._correlation_id() if callable(self._correlation_id) else None
        return Job(job_id=job_id, kind=kind, params=params, correlation_id=correlation)

    def _put(self, job_id: str, kind: str, params: dict[str, Any], delay_seconds: int = 0) -> None:
        self._queue.put(self._job(job_id, kind, params), delay_seconds=delay_seconds)

    # DoorGateway
    def request_sync(self, site_id: str, door_id: str, version: int) -> None:
        self._put(
            f"sync:{site_id}:{door_id}:{version}",
            SYNC_DOOR,
            {"site_id": site_id, "door_id": door_id, "version": version},
            delay_seconds=self._door_sync_delay,
        )

    # DeliveryQueue
    def _delivery(self, site_id: str, key_id: str) -> Job:
        return self._job(
            f"deliver:{site_id}:{key_id}",
            DELIVER_DIGITAL_KEY,
            {"site_id": site_id, "key_id": key_id},
        )

    def request_delivery(self, site_id: str, key_id: str) -> None:
        self._queue.put(self._delivery(site_id, key_id))

    def request_deliveries(self, site_id: str, key_ids: Sequence[str]) -> None:
        self._queue.put_many([self._delivery(site_id, key_id) for key_id in key_ids])

    # MobileAccessGateway
    def deliver(self, site_id: str, key_id: str, phone_e164: str, credential: bytes) -> None:
        # Only reached without a delivery queue port; the worker signs again when it delivers.
        self.request_delivery(site_id, key_id)

    def revoke(self, site_id: str, key_id: str, phone_e164: str) -> None:
        self._put(
            f"take-back:{site_id}:{key_id}",
            TAKE_BACK_DIGITAL_KEY,
            {"site_id": site_id, "key_id": key_id},
        )
