"""The api Lambda: API Gateway HTTP API (payload 2.0) → the routes of ``keyworker.api``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from keyworker.adapters.observability import lambda_handler, traced
from keyworker.api import build_app
from keyworker.handlers import wiring

app = build_app()


@lambda_handler(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = wiring.api()
    deps.feedback.dedupe.register_lambda_context(context)
    app.with_deps(deps)
    return app.resolve(event, context)
