"""The HTTP API of ``docs/http-api.md`` on Powertools' event handler (validation on, pydantic
v2 models, OpenAPI generated from the code into ``docs/openapi.json``).

Routers are one per area; :data:`ROUTERS` lists them (add a router with one line). Every
route is under ``/v1/sites/{site_id}``; the site is authorized before routing and validation
(:mod:`keyworker.api.auth`). Errors become problem details by exception type
(:mod:`keyworker.api.problems`).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from keyworker.api import (
    auth,
    body,
    doors,
    events,
    events_feed,
    keys,
    phones,
    problems,
    revocations,
    sites,
    webhooks,
)
from keyworker.api._routing import decoded_path
from keyworker.api.deps import ApiDeps
from keyworker.errors import (
    BlocklistFull,
    ConcurrentUpdate,
    DuplicateInProgress,
    GatewayError,
    IdempotencyConflict,
    IllegalTransition,
    InvalidInput,
    KeyRevoked,
    NotAuthenticated,
    NotFound,
    SiteForbidden,
    SiteTooLarge,
    StoreUnavailable,
)

logger = logging.getLogger(__name__)

ErrorHandler = Callable[[Any], Response[str]]

SITE_PREFIX = "/v1/sites/<site_id>"
TITLE = "keyworker HTTP API"
VERSION = "1.0.0"

# One line per area. Bulk revocation runs add theirs here.
ROUTERS: tuple[APIGatewayHttpRouter, ...] = (
    doors.router,
    keys.router,
    phones.router,
    events.router,
    revocations.router,
    # Outbound events: the site's feed (docs/events.md).
    events_feed.router,
    webhooks.router,
    # Site summary and exposure (issue 14).
    sites.router,
)


class KeyworkerApi(APIGatewayHttpResolver):
    """The resolver with the site check first: a refused caller gets 401/403 before routing
    and validation, so a request's validity reveals nothing about a site it may not use.
    Then the body gate (:mod:`keyworker.api.body`): a body no route can read is answered
    413/415/400 here, once for every route."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        # One view of the path for the site check and the routes: decoded.
        raw_path = event.get("rawPath")
        if isinstance(raw_path, str):
            event = {**event, "rawPath": decoded_path(raw_path)}
        try:
            caller = auth.authorize(event)
        except NotAuthenticated as error:
            self.clear_context()  # type: ignore[no-untyped-call]
            return problems.proxy_response(problems.not_authenticated(error))
        except SiteForbidden as error:
            self.clear_context()  # type: ignore[no-untyped-call]
            return problems.proxy_response(problems.forbidden(error))
        refused = body.refusal(event)
        if refused is not None:
            self.clear_context()  # type: ignore[no-untyped-call]
            return problems.proxy_response(refused)
        self.append_context(actor=caller or "anonymous")  # type: ignore[no-untyped-call]
        return super().resolve(body.as_read(event), context)

    def with_deps(self, deps: ApiDeps) -> None:
        """Hand the routes their dependencies for the next request."""
        self.append_context(deps=deps)  # type: ignore[no-untyped-call]

    def on(self, errors: type[Exception] | list[type[Exception]], handle: ErrorHandler) -> None:
        """Answer ``errors`` (by type, subclasses included) with ``handle``."""
        self.exception_handler(errors)(handle)


@functools.cache
def build_app() -> KeyworkerApi:
    """The API (one per process: the routers share the context of the app they are in)."""
    app = KeyworkerApi(enable_validation=True)
    for router in ROUTERS:
        app.include_router(router, prefix=SITE_PREFIX)

    def _validation(error: RequestValidationError) -> Response[str]:
        return problems.validation_problem(error.errors())

    def _invalid(error: InvalidInput) -> Response[str]:
        return problems.invalid_input(error)

    def _forbidden(error: SiteForbidden) -> Response[str]:
        return problems.forbidden(error)

    def _not_found(error: NotFound) -> Response[str]:
        return problems.not_found(error)

    def _conflict(error: Exception) -> Response[str]:
        return problems.conflict(error)

    def _unavailable(error: StoreUnavailable | GatewayError) -> Response[str]:
        logger.warning("backing service unavailable", extra={"error": type(error).__name__})
        return problems.unavailable(error)

    def _internal(error: Exception) -> Response[str]:
        # The traceback goes to the log (no request body in it); the caller gets no internals.
        logger.exception("unhandled error", extra={"error": type(error).__name__})
        return problems.internal()

    def _no_route(_error: Exception) -> Response[str]:
        return problems.route_not_found()

    app.on(RequestValidationError, _validation)
    app.on(InvalidInput, _invalid)
    app.on(SiteForbidden, _forbidden)
    app.on(NotFound, _not_found)
    app.on(
        [
            IllegalTransition,
            IdempotencyConflict,
            ConcurrentUpdate,
            BlocklistFull,
            DuplicateInProgress,
            KeyRevoked,
            SiteTooLarge,
        ],
        _conflict,
    )
    app.on([StoreUnavailable, GatewayError], _unavailable)
    app.on(Exception, _internal)
    app.not_found(_no_route)
    return app


def openapi_json(app: APIGatewayHttpResolver | None = None) -> str:
    """The OpenAPI document of the API, as committed in ``docs/openapi.json``."""
    app = app or build_app()
    document = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            summary="Deploys and revokes door keys (access media, digital keys) for buildings.",
            description="All paths need `Authorization: Bearer <token>` granting the site "
            "(`sites` claim). Errors are `application/problem+json` (RFC 9457).",
        )
    )
    # Powertools documents request validation as 422 with its own body; this API answers 400
    # with a problem document (documented on every route), so its 422 would be untrue.
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    document["security"] = [{"bearer": []}]
    return json.dumps(document, indent=2, sort_keys=False)


__all__ = ["ROUTERS", "KeyworkerApi", "build_app", "openapi_json"]
