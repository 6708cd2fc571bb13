"""Jobs for the worker Lambda: the message schema, the queue port and its SQS adapter, and the
registry of what each kind of job does (see docs/lambdas.md)."""

from keyworker.jobs.queue import JobQueue, QueuedGateways, SqsJobQueue
from keyworker.jobs.schema import Job

__all__ = ["Job", "JobQueue", "QueuedGateways", "SqsJobQueue"]
