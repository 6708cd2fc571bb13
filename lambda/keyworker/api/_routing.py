"""Helpers the routers share: JSON responses, instants, the response documentation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from keyworker.api.problems import COMMON_RESPONSES


def new_router() -> APIGatewayHttpRouter:
    """A router for one area of the API (Powertools leaves its constructor unannotated)."""
    return APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


def epoch(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


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
