"""Logs, metrics and traces of the four Lambdas (Powertools), in one place.

- **Logs**: one Powertools JSON logger (service ``keyworker``); the domain's standard-library
  loggers (``keyworker.*``) are its children, so their lines are JSON too. Each line carries
  the correlation id: the API Gateway request id, or the job's / event's own id on a queue.
  An invocation's keys (the Lambda context, the correlation id, a job's id) are the calling
  thread's and are dropped when the invocation ends (:func:`lambda_handler`): functions that
  share a process — the local stack runs them in threads of one — never log each other's.
  Phone numbers appear only masked and credentials never: nothing here logs a request or
  message body, and callers pass ids, not payloads.
- **Metrics** (CloudWatch EMF, namespace ``keyworker``), each written when it happens (one
  EMF document per metric, with its own dimensions): ``KeysIssued`` and ``KeysRevoked``
  (dimension ``key_type``), ``PendingDoorUpdates`` (door rows a command left pending,
  dimension ``mode``: manual/automated), ``MessagesFailed`` and ``MessagesDeadLettered``
  (dimension ``queue``), ``StaleDoorSyncsRequested``, ``KeysRefreshed``, ``PendingTooLong``
  (pending states reported as too long: ``PendingTooLongAlarm``).
- **Traces**: Powertools Tracer (X-Ray), built on the first invocation rather than at import:
  importing the X-Ray SDK creates two botocore clients (~250 ms here), which would more than
  double a handler module's import time. Where tracing is off (outside Lambda, or
  ``POWERTOOLS_TRACE_DISABLED``) the SDK is not loaded at all.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import jmespath_utils

from keyworker.errors import KeyworkerError

SERVICE = "keyworker"
NAMESPACE = "keyworker"


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is when a line is logged, as ``print`` (and so the
    EMF metrics) does, rather than to the stream found at import."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


logger = Logger(service=SERVICE, logger_handler=logging.StreamHandler(_CurrentStdout()))

Handler = TypeVar("Handler", bound=Callable[..., Any])


_started: set[str] = set()
_started_lock = threading.Lock()


def _cold_start(function_name: str) -> bool:
    """The first invocation of a function in this process (its container)."""
    with _started_lock:
        if function_name in _started:
            return False
        _started.add(function_name)
        return True


def lambda_handler(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """``Logger.inject_lambda_context``'s keys (the Lambda context, ``cold_start``, the
    correlation id at ``correlation_id_path`` of the event), kept per thread and dropped when
    the invocation returns. Powertools' own decorator appends them to the logger shared by
    every thread, where they stay after the invocation."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            lambda_context = build_lambda_context_model(context)
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(
                cold_start=_cold_start(lambda_context.function_name),
                **lambda_context.__dict__,
            )
            if correlation_id_path:
                set_correlation_id(jmespath_utils.query(envelope=correlation_id_path, data=event))
            try:
                return handler(event, context)
            finally:
                logger.thread_safe_clear_keys()

        return invoke  # type: ignore[return-value]

    return decorate


def set_correlation_id(value: str | None) -> None:
    """The correlation id of this thread's invocation (None: none)."""
    logger.thread_safe_append_keys(correlation_id=value)


def correlation_id() -> str | None:
    value = logger.thread_safe_get_current_keys().get("correlation_id")
    return None if value is None else str(value)


@contextlib.contextmanager
def log_keys(**keys: Any) -> Iterator[None]:
    """Keys on this thread's log lines while the block runs (a job's id, say)."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys)


def _tracing_on() -> bool:
    # Powertools' own rule: only inside Lambda, unless disabled by the environment.
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in ("1", "true")
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and not disabled


def traced(handler: Handler) -> Handler:
    """``Tracer.capture_lambda_handler``, with the tracer built on the first invocation."""
    wrapped: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        if not wrapped:
            if _tracing_on():
                from aws_lambda_powertools import Tracer  # noqa: PLC0415 (see module doc)

                wrapped.append(Tracer(service=SERVICE).capture_lambda_handler(handler))
            else:
                wrapped.append(handler)
        return wrapped[0](event, context)

    return invoke  # type: ignore[return-value]


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """One EMF metric with its own dimensions, written at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as m:
        for dimension, dimension_value in dimensions.items():
            m.add_dimension(name=dimension, value=dimension_value)


def key_issued(key_type: str) -> None:
    count("KeysIssued", key_type=key_type)


def key_revoked(key_type: str) -> None:
    count("KeysRevoked", key_type=key_type)


def pending_by_mode(door_statuses: Iterable[Mapping[str, Any] | None]) -> None:
    """``PendingDoorUpdates`` by mode, from a key's door statuses as the API returns them."""
    modes: dict[str, int] = {}
    for status in door_statuses:
        mode = None if status is None else status.get("mode")
        if mode:
            modes[mode] = modes.get(mode, 0) + 1
    for mode, n in sorted(modes.items()):
        count("PendingDoorUpdates", n, mode=mode)


def error_fields(error: BaseException) -> dict[str, Any]:
    """What a log line may say about an error: its type, field and (for keyworker's own
    errors, whose messages carry no personal data) its message."""
    fields: dict[str, Any] = {"error": type(error).__name__}
    field = getattr(error, "field", None)
    if field is not None:
        fields["field"] = field
    if isinstance(error, KeyworkerError):
        fields["detail"] = str(error)
    return fields
