"""Webhook subscriptions of a site: create (the signing secret is shown once), list, read,
delete, rotate the secret, the delivery log, a test event, and a delivery retried by hand
(``docs/webhooks.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import ConfigDict, Field, StrictStr

from keyworker.api._routing import IdInPath, json_response, new_router, responses
from keyworker.api.deps import deps
from keyworker.api.models import ApiModel
from keyworker.api.problems import COMMON_RESPONSES
from keyworker.errors import ConfigurationError, InvalidInput, NotFound
from keyworker.limits import MAX_CURSOR_LEN

if TYPE_CHECKING:
    from keyworker.outbound.webhooks.model import Subscription
    from keyworker.outbound.webhooks.service import WebhookService

router = new_router()
TAGS = ["webhooks"]

# The filters a subscription may ask for: an outbound event type or a family's ``.*``
# (keyworker.outbound.envelope.EVENT_TYPES; a test keeps the two lists equal).
EventFilter = Literal[
    "key.created",
    "key.modified",
    "key.status_changed",
    "key.revoked",
    "key.pending_too_long",
    "door.update_requested",
    "door.confirmed",
    "phone.blocked",
    "phone.unblocked",
    "revocation_run.progress",
    "revocation_run.completed",
    "key.*",
    "door.*",
    "phone.*",
    "revocation_run.*",
]


class _Model(ApiModel):
    model_config = ConfigDict(extra="forbid")


class WebhookIn(_Model):
    url: Annotated[
        StrictStr,
        Field(
            max_length=2048,
            pattern=r"^https?://",
            description="Where deliveries go: https on AWS, to a public address only; the "
            "local stack allows http(s) to 127.0.0.1, ::1 or localhost only.",
        ),
    ]
    event_types: Annotated[list[EventFilter], Field(max_length=15)] | None = Field(
        default=None, description="Types to deliver (none: all). `webhook.test` always is."
    )
    description: Annotated[StrictStr, Field(max_length=200)] | None = None


class WebhookOut(_Model):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: str


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The signing secret (`whsec_…`). Shown only here.")


class WebhookListOut(_Model):
    items: list[WebhookOut]


class SecretRotatedOut(_Model):
    secret: str = Field(description="The new signing secret. Shown only here.")
    previous_valid_until: str = Field(description="Until then deliveries carry both signatures.")


class DeliveryEntryOut(_Model):
    delivery_id: str
    webhook_id: str = Field(description="The `webhook-id` header: receivers dedupe by it.")
    event_id: str
    event_type: str
    attempt: int
    at: str
    outcome: Literal["delivered", "retrying", "failed", "cancelled"]
    status_code: int | None
    error: str | None
    latency_ms: float | None
    next_attempt_at: str | None


class DeliveryPageOut(_Model):
    items: list[DeliveryEntryOut]
    cursor: str | None = Field(description="Continue with it for older entries; null: no more.")


class DeliveryQueuedOut(_Model):
    delivery_id: str
    webhook_id: str
    event_id: str


_DELETED: dict[int, Any] = {204: {"description": "Deleted."}}
_DELETED.update(COMMON_RESPONSES)


def _service() -> WebhookService:
    service = deps(router).webhooks
    if service is None:
        raise ConfigurationError("webhooks are not wired into this API")
    return service


def _out(subscription: Subscription) -> WebhookOut:
    return WebhookOut.model_validate(subscription.view())


@router.post(
    "/webhooks",
    summary="Subscribe a URL to the site's events (the signing secret is in this answer only)",
    tags=TAGS,
    responses=responses(201, WebhookCreatedOut, "Created."),
)
def create_webhook(site_id: str, webhook: Annotated[WebhookIn, Body()]) -> Response[str]:
    created = _service().create(
        site_id, webhook.url, list(webhook.event_types or ()), webhook.description
    )
    body = WebhookCreatedOut.model_validate(
        {**created.subscription.view(), "secret": created.secret}
    )
    location = f"/v1/sites/{site_id}/webhooks/{created.subscription.subscription_id}"
    return json_response(201, body, headers={"Location": location})


@router.get(
    "/webhooks",
    summary="The site's webhook subscriptions",
    tags=TAGS,
    responses=responses(200, WebhookListOut, "Every subscription of the site."),
)
def list_webhooks(site_id: str) -> Response[str]:
    items = [_out(s) for s in _service().subscriptions(site_id)]
    return json_response(200, WebhookListOut(items=items))


@router.get(
    "/webhooks/<webhook_id>",
    summary="A webhook subscription",
    tags=TAGS,
    responses=responses(200, WebhookOut, "The subscription."),
)
def get_webhook(site_id: str, webhook_id: IdInPath) -> Response[str]:
    return json_response(200, _out(_service().get(site_id, webhook_id)))


@router.delete(
    "/webhooks/<webhook_id>",
    summary="Delete a webhook subscription (its pending deliveries stop)",
    tags=TAGS,
    responses=_DELETED,
)
def delete_webhook(site_id: str, webhook_id: IdInPath) -> Response[str]:
    _service().delete(site_id, webhook_id)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@router.post(
    "/webhooks/<webhook_id>/rotate-secret",
    summary="A new signing secret; the old one keeps signing for a grace period",
    tags=TAGS,
    responses=responses(200, SecretRotatedOut, "The new secret."),
)
def rotate_webhook_secret(site_id: str, webhook_id: IdInPath) -> Response[str]:
    secret, until = _service().rotate(site_id, webhook_id)
    return json_response(200, SecretRotatedOut(secret=secret, previous_valid_until=until))


@router.get(
    "/webhooks/<webhook_id>/deliveries",
    summary="The subscription's delivery log, newest first",
    tags=TAGS,
    responses=responses(200, DeliveryPageOut, "A page; follow `cursor` for older entries."),
)
def webhook_deliveries(
    site_id: str,
    webhook_id: IdInPath,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LEN)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> Response[str]:
    items, next_cursor = _service().deliveries(site_id, webhook_id, limit, cursor)
    page = DeliveryPageOut.model_validate({"items": items, "cursor": next_cursor})
    return json_response(200, page)


@router.post(
    "/webhooks/<webhook_id>/test",
    summary="Send a `webhook.test` event to the subscription now",
    tags=TAGS,
    responses=responses(202, DeliveryQueuedOut, "Queued for delivery."),
)
def test_webhook(site_id: str, webhook_id: IdInPath) -> Response[str]:
    queued = _service().send_test(site_id, webhook_id)
    return json_response(202, DeliveryQueuedOut.model_validate(queued))


@router.post(
    "/deliveries/<delivery_id>/retry",
    summary="Deliver an event to a subscription again, from its first attempt",
    tags=TAGS,
    responses=responses(202, DeliveryQueuedOut, "Queued for delivery."),
)
def retry_delivery(site_id: str, delivery_id: IdInPath) -> Response[str]:
    try:
        queued = _service().retry(site_id, delivery_id)
    except InvalidInput:
        raise NotFound(f"no delivery {delivery_id} at this site", field="delivery_id") from None
    return json_response(202, DeliveryQueuedOut.model_validate(queued))
