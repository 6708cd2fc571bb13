"""What the routes of the HTTP API use, handed to them per request through the resolver's
context (``app.append_context(deps=...)`` in the handler; built once per container by the
api Lambda's composition root, ``keyworker.handlers.wiring``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

if TYPE_CHECKING:
    from keyworker.domain.services import Services
    from keyworker.feedback import FieldFeedback
    from keyworker.outbound.feed import DynamoEventFeed
    from keyworker.outbound.webhooks.service import WebhookService
    from keyworker.revocation.service import RevocationService


@dataclass(frozen=True, slots=True)
class ApiDeps:
    services: Services
    feedback: FieldFeedback
    # Bulk revocation runs (keyworker.api.revocations); None where runs are not wired.
    revocations: RevocationService | None = None
    # The site's outbound events (keyworker.api.events_feed); None where not wired.
    event_feed: DynamoEventFeed | None = None
    # Webhook subscriptions (keyworker.api.webhooks); None where webhooks are not wired.
    webhooks: WebhookService | None = None


def deps(router: BaseRouter) -> ApiDeps:
    return cast(ApiDeps, router.context["deps"])


def actor(router: BaseRouter) -> str:
    """Who is calling (from the verified token), as the audit trail records it."""
    return cast(str, router.context["actor"])


def request_id(router: BaseRouter) -> Any:
    return router.context.get("request_id")
