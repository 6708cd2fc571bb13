"""The api Lambda: API Gateway HTTP API (payload 2.0) → the routes of ``keyworker.api``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from keyworker.adapters.observability import logger, metrics, traced
from keyworker.api import build_app
from keyworker.handlers import wiring

app = build_app()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app.with_deps(wiring.api())
    return app.resolve(event, context)
