"""Helpers the routers share: JSON responses, instants, the response documentation, the
``Idempotency-Key`` header of creates."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from keyworker import limits
from keyworker.api.problems import COMMON_RESPONSES
from keyworker.errors import InvalidInput

IDEMPOTENCY_HEADER = "Idempotency-Key"

# A door, key or run id in a path: the document states the id rule (limits.ID_PATTERN).
IdInPath = Annotated[
    str, Path(min_length=1, max_length=limits.MAX_ID_LEN, pattern=limits.ID_PATTERN)
]


def new_router() -> APIGatewayHttpRouter:
    """A router for one area of the API (Powertools leaves its constructor unannotated)."""
    return APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


def epoch(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def request_id(idempotency_key: str | None) -> str | None:
    """The services' request id from the ``Idempotency-Key`` header (absent: none)."""
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInput("Idempotency-Key must not be empty", field=IDEMPOTENCY_HEADER)
    return idempotency_key


def header_named(error: InvalidInput) -> InvalidInput:
    """The services call it ``request_id``; the caller sent a header: name that."""
    if error.field == "request_id":
        return type(error)(str(error).replace("request_id", IDEMPOTENCY_HEADER), IDEMPOTENCY_HEADER)
    return error


def json_response(
    status: int, model: BaseModel, headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=model.model_dump_json(),
        headers=headers or {},
    )


def responses(status: int, model: type[BaseModel], description: str) -> dict[int, Any]:
    """OpenAPI responses of a route: its success and the problems every route may answer."""
    documented: dict[int, Any] = {
        status: {
            "description": description,
            "content": {content_types.APPLICATION_JSON: {"model": model}},
        }
    }
    documented.update(COMMON_RESPONSES)
    return documented


def decoded_path(raw_path: str) -> str:
    """The request path with each segment percent-decoded: API Gateway passes the path as
    sent and Powertools matches routes on it undecoded, so ``/doors/a%2Bb`` must name door
    ``a+b`` as ``/doors/a+b`` does. A segment that decodes to a ``/`` stays as sent (it is
    no route's and no id's)."""
    if "%" not in raw_path:
        return raw_path
    segments = []
    for segment in raw_path.split("/"):
        decoded = unquote(segment)
        segments.append(segment if "/" in decoded else decoded)
    return "/".join(segments)
