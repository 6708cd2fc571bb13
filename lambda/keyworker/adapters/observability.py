"""Logs, metrics and traces of the four Lambdas (Powertools), in one place.

- **Logs**: one Powertools JSON logger (service ``keyworker``); the domain's standard-library
  loggers (``keyworker.*``) are its children, so their lines are JSON too. Each line carries
  the correlation id: the API Gateway request id, or the job's / event's own id on a queue.
  Phone numbers appear only masked and credentials never: nothing here logs a request or
  message body, and callers pass ids, not payloads.
- **Metrics** (CloudWatch EMF, namespace ``keyworker``), each written when it happens (one
  EMF document per metric, with its own dimensions): ``KeysIssued`` and ``KeysRevoked``
  (dimension ``key_type``), ``PendingDoorUpdates`` (door rows a command left pending,
  dimension ``mode``: manual/automated), ``MessagesFailed`` and ``MessagesDeadLettered``
  (dimension ``queue``), ``StaleDoorSyncsRequested``, ``KeysRefreshed``.
- **Traces**: Powertools Tracer (X-Ray), built on the first invocation rather than at import:
  importing the X-Ray SDK creates two botocore clients (~250 ms here), which would more than
  double a handler module's import time. Where tracing is off (outside Lambda, or
  ``POWERTOOLS_TRACE_DISABLED``) the SDK is not loaded at all.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit

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
