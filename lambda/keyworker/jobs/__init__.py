"""Jobs for the worker Lambda: the message schema, the SQS adapter of the queue port
(``keyworker.domain.ports.JobQueue``), and the registry of what each kind of job does (see
docs/lambdas.md)."""

from keyworker.jobs.queue import QueuedGateways, SqsJobQueue
from keyworker.jobs.schema import Job

__all__ = ["Job", "QueuedGateways", "SqsJobQueue"]
