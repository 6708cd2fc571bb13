"""Phone numbers: block and unblock (the door-side remedy for digital keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import Response

from keyworker.api._routing import json_response, new_router, responses
from keyworker.api.deps import actor, deps
from keyworker.api.models import PhoneOut

if TYPE_CHECKING:
    from keyworker.domain.phone_blocking import PhoneResult

router = new_router()
TAGS = ["phones"]


def _out(result: PhoneResult) -> Response[str]:
    return json_response(
        202,
        PhoneOut(
            phone=result.phone_masked,
            blocked=result.blocked,
            key_ids=list(result.key_ids),
            changed=result.changed,
        ),
    )


@router.post(
    "/phones/<phone>/block",
    summary="Block a phone number: every door its keys open gets it on the blocklist",
    tags=TAGS,
    responses=responses(202, PhoneOut, "Accepted: doors are updated (blocking pending)."),
)
def block_phone(site_id: str, phone: str) -> Response[str]:
    # A number sent percent-encoded (%2B41...) arrives decoded (api._routing.decoded_path).
    return _out(deps(router).services.phones.block(site_id, phone, actor=actor(router)))


@router.post(
    "/phones/<phone>/unblock",
    summary="Unblock a phone number",
    tags=TAGS,
    responses=responses(202, PhoneOut, "Accepted: doors are updated (unblocking pending)."),
)
def unblock_phone(site_id: str, phone: str) -> Response[str]:
    return _out(deps(router).services.phones.unblock(site_id, phone, actor=actor(router)))
