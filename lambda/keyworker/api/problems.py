"""Errors as RFC 9457 problem details (``application/problem+json``), chosen by exception
type — never by message text.

- a request body the API does not read (:mod:`keyworker.api.body`): 413
  ``/problems/payload-too-large``, 415 ``/problems/unsupported-media-type``, 400
  ``/problems/invalid-request`` (not UTF-8, nested too deeply);
- request validation (pydantic) and ``InvalidInput`` with its kinds: 400
  ``/problems/invalid-request`` (or the kind's own: ``invalid-phone-number``,
  ``invalid-schedule``, ``unknown-event-type``), naming the field;
- ``NotAuthenticated``: 401 ``/problems/unauthenticated``;
- ``SiteForbidden``: 403 ``/problems/forbidden``, one body for every site;
- ``NotFound`` (key, door) and unknown routes: 404 ``/problems/not-found``;
- ``IllegalTransition``, ``IdempotencyConflict``, ``ConcurrentUpdate``, ``BlocklistFull``, a
  duplicate event still in progress: 409 ``/problems/<kind>``;
- ``StoreUnavailable``, ``GatewayError`` (e.g. the jobs queue): 503
  ``/problems/unavailable`` with ``Retry-After``;
- anything else: 500 ``/problems/internal``, without internals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import ConfigDict, Field

from keyworker.api.models import ApiModel
from keyworker.domain.models import ACCESS_MEDIUM, DIGITAL_KEY
from keyworker.errors import (
    BlocklistFull,
    ConcurrentUpdate,
    GatewayError,
    IdempotencyConflict,
    IllegalTransition,
    InvalidInput,
    InvalidPhoneNumber,
    InvalidSchedule,
    KeyRevoked,
    NotAuthenticated,
    NotFound,
    SiteForbidden,
    SiteTooLarge,
    StoreUnavailable,
    UnknownEventType,
)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = "2"

#: Input a problem echoes (a value in a message, a field name the caller chose) is cut to this
#: many characters: a 1 MB value must not come back as a 2 MB answer.
ECHO_LIMIT = 100
#: A whole ``detail`` or message is cut to this many characters (values with spaces in them).
TEXT_LIMIT = 1000
_LONG_RUN = re.compile(rf"\S{{{ECHO_LIMIT + 1},}}")
_INDEX = re.compile(r"\[(\d+)\]")


class FieldError(ApiModel):
    field: str
    message: str


class Problem(ApiModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="A URI reference naming the kind of problem.")
    title: str
    status: int
    detail: str
    field: str | None = Field(default=None, description="The request field at fault.")
    errors: list[FieldError] | None = Field(
        default=None, description="Every field at fault (validation)."
    )


def clip(text: str) -> str:
    """``text`` with every run of more than ``ECHO_LIMIT`` non-blank characters cut to that
    many (and ``…``), and at most ``TEXT_LIMIT`` characters in all."""
    # Cut first: what lies past the limit is dropped anyway, and the search stays short.
    head = text[: 2 * TEXT_LIMIT]
    clipped = _LONG_RUN.sub(lambda run: run.group()[:ECHO_LIMIT] + "…", head)
    if len(clipped) > TEXT_LIMIT or len(head) < len(text):
        clipped = clipped[:TEXT_LIMIT].removesuffix("…") + "…"
    return clipped


def field_path(name: str) -> str:
    """A field in the API's one spelling: a dotted path, list positions as segments
    (``schedule.windows.0.start``). The core and the services say ``windows[0]``; pydantic's
    locations already come dotted."""
    return _INDEX.sub(r".\1", name)


def _named(text: str, raw_field: str | None) -> str:
    """``text`` with the field it names spelled as the API spells it, then clipped."""
    if raw_field:
        text = text.replace(raw_field, field_path(raw_field))
    return clip(text)


def problem(
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    """The one way a problem is written: field names dotted, echoed input clipped."""
    body: dict[str, Any] = {
        "type": f"/problems/{kind}",
        "title": title,
        "status": status,
        "detail": _named(detail, field),
    }
    if field is not None:
        body["field"] = clip(field_path(field))
    if errors:
        body["errors"] = [
            {"field": clip(field_path(e.field)), "message": _named(e.message, e.field)}
            for e in errors
        ]
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body),
        headers=dict(headers or {}),
    )


def proxy_response(response: Response[str]) -> dict[str, Any]:
    """A problem as an API Gateway proxy result (for refusals made before routing)."""
    headers = {k: v if isinstance(v, str) else ",".join(v) for k, v in response.headers.items()}
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }


_KIND = re.compile(r"(?<!^)(?=[A-Z])")


def _kind_of(error: BaseException) -> str:
    return _KIND.sub("-", type(error).__name__).lower()


# ------------------------------------------------------------------------- by exception type


#: The ``type`` tags of the request models' tagged unions (``KeyBatchIn``'s items): the key
#: types.
_UNION_TAGS = frozenset((ACCESS_MEDIUM, DIGITAL_KEY))


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> Response[str]:
    """Request validation (Powertools + pydantic): every field at fault, the first as ``field``.

    Locations are ``body.<path>``, ``query.<name>``, ``path.<name>`` or ``header.<name>``;
    the request body's own fields are named without the ``body.`` prefix, as the API
    documents them."""
    field_errors = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] == "body":
            # A body that is not JSON is reported at the parser's position: name the body.
            loc = ["body"] if error.get("type") == "json_invalid" else loc[1:] or ["body"]
        elif loc and loc[0] == "header" and len(loc) > 1:
            # Headers are named as the API documents them (``Idempotency-Key``).
            loc = ["-".join(part.capitalize() for part in loc[1].split("-")), *loc[2:]]
        elif loc and loc[0] in ("query", "path"):
            loc = loc[1:] or loc
        # pydantic names a member of a tagged union by its tag (``items.2.access_medium.
        # card_uid``); the API names the item, as it does for every other refusal.
        loc = [p for i, p in enumerate(loc) if not (p in _UNION_TAGS and loc[i - 1].isdigit())]
        # Messages only: pydantic's echo of the input may hold a phone number.
        field_errors.append(
            FieldError(field=".".join(loc) or "body", message=str(error.get("msg", "invalid")))
        )
    first = field_errors[0] if field_errors else FieldError(field="body", message="invalid")
    return problem(
        400,
        "invalid-request",
        "Invalid request",
        f"{first.field}: {first.message}",
        field=first.field,
        errors=field_errors,
    )


def invalid_input(error: InvalidInput) -> Response[str]:
    kind = "invalid-request"
    title = "Invalid request"
    if isinstance(error, UnknownEventType):
        kind, title = "unknown-event-type", "Unknown event type"
    elif isinstance(error, InvalidPhoneNumber):
        kind, title = "invalid-phone-number", "Invalid phone number"
    elif isinstance(error, InvalidSchedule):
        kind, title = "invalid-schedule", "Invalid schedule"
    field = error.field
    errors = None if field is None else [FieldError(field=field, message=str(error))]
    return problem(400, kind, title, str(error), field=field, errors=errors)


def payload_too_large(limit: int) -> Response[str]:
    return problem(
        413,
        "payload-too-large",
        "Request body too large",
        f"The request body is larger than {limit} bytes.",
        field="body",
    )


def unsupported_media_type(content_type: str) -> Response[str]:
    return problem(
        415,
        "unsupported-media-type",
        "Unsupported media type",
        f"The request body must be application/json (UTF-8), not {content_type}.",
        field="Content-Type",
    )


def invalid_body(detail: str) -> Response[str]:
    return problem(400, "invalid-request", "Invalid request", detail, field="body")


def not_authenticated(_error: NotAuthenticated | None = None) -> Response[str]:
    return problem(
        401,
        "unauthenticated",
        "Unauthenticated",
        "A valid bearer token is required.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(_error: SiteForbidden) -> Response[str]:
    # The same body for every site: existing or not, the caller learns nothing about it.
    return problem(403, "forbidden", "Forbidden", "The token does not grant access to this site.")


def not_found(error: NotFound) -> Response[str]:
    return problem(404, "not-found", "Not found", str(error), field=error.field)


def route_not_found() -> Response[str]:
    return problem(404, "not-found", "Not found", "No such resource.")


def conflict(error: Exception) -> Response[str]:
    if isinstance(error, IllegalTransition):
        title = "Illegal transition"
    elif isinstance(error, IdempotencyConflict):
        title = "Idempotency key reused for a different request"
    elif isinstance(error, ConcurrentUpdate):
        title = "Concurrent update, try again"
    elif isinstance(error, BlocklistFull):
        title = "Door blocklist full"
    elif isinstance(error, KeyRevoked):
        title = "Key is revoked"
    elif isinstance(error, SiteTooLarge):
        title = "Site too large for one view"
    else:
        title = "Request already in progress"
    return problem(409, _kind_of(error), title, title if not str(error) else str(error))


def unavailable(error: StoreUnavailable | GatewayError) -> Response[str]:
    return problem(
        503,
        "unavailable",
        "Service unavailable",
        "A backing service did not answer; retry the request with the same idempotency key.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def internal() -> Response[str]:
    return problem(500, "internal", "Internal error", "The request could not be completed.")


# Response documentation for OpenAPI: every route may answer these.
def _doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"model": Problem}}}


COMMON_RESPONSES: dict[int, dict[str, Any]] = {
    400: _doc("Invalid request: the field at fault is named."),
    401: _doc("No valid bearer token."),
    403: _doc("The token does not grant this site."),
    404: _doc("No such key or door at this site."),
    409: _doc("Conflict: illegal transition, reused idempotency key, concurrent update."),
    413: _doc("The request body is larger than the API reads."),
    415: _doc("The request body is not application/json."),
    500: _doc("Internal error (no details)."),
    503: _doc("A backing service is unavailable; retry with the same idempotency key."),
}
