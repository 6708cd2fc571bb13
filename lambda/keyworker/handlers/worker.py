"""The worker Lambda: jobs-queue batches (SQS, partial batch failures) → the job registry.

A message that is not a runnable job, or whose job fails, is a batch item failure: SQS
retries it and, after ``maxReceiveCount`` receives, moves it to the jobs DLQ; the rest of the
batch succeeds. Jobs whose kind asks for it run at most once per ``job_id`` (dedupe record).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from keyworker.adapters import observability
from keyworker.adapters.observability import lambda_handler, log_keys, logger, traced
from keyworker.adapters.sqs_batch import ObservedSqsBatch
from keyworker.handlers import wiring
from keyworker.jobs.registry import parse_job
from keyworker.jobs.schema import Job

QUEUE = "jobs"
# A batch's jobs side by side (docs/lambdas.md): they spend their time waiting on DynamoDB and
# the mobile-access cloud, and each is safe beside any other, a duplicate of itself included.
RECORDS_AT_ONCE = 4


def _count_outcome(job: Job, outcome: Any) -> None:
    if "issued" in outcome:
        observability.key_issued(str(outcome["issued"]))
    if "revoked" in outcome:
        observability.key_revoked(str(outcome["revoked"]))


def _run(record: SQSRecord) -> None:
    deps = wiring.worker()
    # The message's id until the job's own is known: a message that is not a job is logged
    # under it, not under whatever this thread logged before.
    observability.set_correlation_id(record.message_id)
    job, kind, params = parse_job(record.body)
    observability.set_correlation_id(job.correlation_id or record.message_id)
    with log_keys(job_id=job.job_id, job_kind=job.kind, message_id=record.message_id):
        if kind.dedupe:
            outcome, ran = deps.dedupe.run(job.job_id, lambda: kind.run(deps.context, params, job))
        else:
            outcome, ran = kind.run(deps.context, params, job), True
        if ran:
            _count_outcome(job, outcome)
        logger.info("job done" if ran else "job already done", extra={"outcome": dict(outcome)})


@lambda_handler()
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = wiring.worker()
    deps.dedupe.register_lambda_context(context)
    processor = ObservedSqsBatch(QUEUE, deps.max_receive_count, records_at_once=RECORDS_AT_ONCE)
    return dict(
        process_partial_response(
            event=event, record_handler=_run, processor=processor, context=context
        )
    )
