"""Keys: create access media and digital keys (202: the doors and the mobile-access cloud
are updated by the worker), read one, list by status and type, its audit trail, revoke."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from keyworker.adapters import observability
from keyworker.api._routing import (
    IdInPath,
    epoch,
    header_named,
    json_response,
    new_router,
    request_id,
    responses,
)
from keyworker.api.deps import actor, deps
from keyworker.api.models import (
    AccessMediumIn,
    DigitalKeyIn,
    KeyHistoryOut,
    KeyOut,
    KeyPageOut,
    RevokeIn,
)
from keyworker.domain.models import KeyView
from keyworker.errors import InvalidInput
from keyworker.limits import DEFAULT_PAGE, MAX_CURSOR_LEN, MAX_PAGE
from keyworker.status import GENERAL_STATUSES

router = new_router()
TAGS = ["keys"]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        description="Makes the create idempotent: a retry with the same key returns the same "
        "key (and finishes any leftover work); the same key with another body is 409.",
    ),
]


def _accepted(site_id: str, view: KeyView) -> Response[str]:
    body = KeyOut.model_validate(view.as_api())
    observability.pending_by_mode(d.status.model_dump() if d.status else None for d in body.doors)
    location = f"/v1/sites/{site_id}/keys/{body.key_id}"
    return json_response(202, body, headers={"Location": location})


@router.post(
    "/access-media",
    summary="Issue an access medium (card, fob)",
    tags=TAGS,
    responses=responses(202, KeyOut, "Accepted: every door of it gets deployment work."),
)
def create_access_medium(
    site_id: str,
    medium: Annotated[AccessMediumIn, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[str]:
    try:
        view = deps(router).services.keys.create_access_medium(
            site_id,
            holder_id=medium.holder_id,
            card_uid=medium.card_uid,
            door_ids=medium.door_ids,
            valid_from=int(medium.valid_from.timestamp()),
            valid_until=epoch(medium.valid_until),
            schedule=None if medium.schedule is None else medium.schedule.model_dump(),
            actor=actor(router),
            request_id=request_id(idempotency_key),
        )
    except InvalidInput as error:
        raise header_named(error) from error
    observability.key_issued(view.record.key_type)
    return _accepted(site_id, view)


@router.post(
    "/digital-keys",
    summary="Issue a digital key (mobile key) to a phone number",
    tags=TAGS,
    responses=responses(202, KeyOut, "Accepted: the worker signs and delivers it."),
)
def create_digital_key(
    site_id: str,
    key: Annotated[DigitalKeyIn, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[str]:
    try:
        view = deps(router).services.keys.create_digital_key(
            site_id,
            holder_id=key.holder_id,
            phone=key.phone,
            door_ids=key.door_ids,
            valid_from=int(key.valid_from.timestamp()),
            valid_until=epoch(key.valid_until),
            schedule=None if key.schedule is None else key.schedule.model_dump(),
            actor=actor(router),
            request_id=request_id(idempotency_key),
        )
    except InvalidInput as error:
        raise header_named(error) from error
    observability.key_issued(view.record.key_type)
    return _accepted(site_id, view)


@router.get(
    "/keys/<key_id>",
    summary="A key with its general, home-app and per-door status",
    tags=TAGS,
    responses=responses(200, KeyOut, "The key, evaluated now."),
)
def get_key(site_id: str, key_id: IdInPath) -> Response[str]:
    view = deps(router).services.queries.get_key(site_id, key_id)
    return json_response(200, KeyOut.model_validate(view.as_api()))


@router.get(
    "/keys",
    summary="A page of the site's keys, optionally by general status and type",
    tags=TAGS,
    responses=responses(200, KeyPageOut, "A page; follow `cursor` for the next."),
)
def list_keys(
    site_id: str,
    status: Annotated[
        str | None,
        Query(description="A general status code: " + ", ".join(GENERAL_STATUSES)),
    ] = None,
    type: Annotated[Literal["access_medium", "digital_key"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LEN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> Response[str]:
    page = deps(router).services.queries.list_keys(
        site_id, status=status, key_type=type, cursor=cursor, limit=limit
    )
    return json_response(
        200,
        KeyPageOut.model_validate(
            {"items": [v.as_api() for v in page.items], "cursor": page.cursor}
        ),
    )


@router.get(
    "/keys/<key_id>/history",
    summary="A key's audit trail, oldest first",
    tags=TAGS,
    responses=responses(200, KeyHistoryOut, "Every change of the key."),
)
def key_history(site_id: str, key_id: IdInPath) -> Response[str]:
    events = deps(router).services.queries.history(site_id, key_id)
    return json_response(
        200,
        KeyHistoryOut.model_validate({"key_id": key_id, "events": [e.as_api() for e in events]}),
    )


@router.post(
    "/keys/<key_id>/revoke",
    summary="Revoke a key",
    tags=TAGS,
    responses=responses(202, KeyOut, "Accepted: the doors / the app complete the revocation."),
)
def revoke_key(
    site_id: str, key_id: IdInPath, revoke: Annotated[RevokeIn | None, Body()] = None
) -> Response[str]:
    view = deps(router).services.keys.revoke(
        site_id, key_id, actor=actor(router), reason=None if revoke is None else revoke.reason
    )
    observability.key_revoked(view.record.key_type)
    return _accepted(site_id, view)
