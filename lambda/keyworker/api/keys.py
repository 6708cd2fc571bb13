"""Keys: create access media and digital keys (202: the doors and the mobile-access cloud
are updated by the worker), read one, list by status and type, its audit trail, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from keyworker import limits
from keyworker.adapters import observability
from keyworker.api._routing import (
    IDEMPOTENCY_HEADER,
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
    DoorPlanOut,
    DoorStatusOut,
    KeyBatchIn,
    KeyBatchOut,
    KeyHistoryOut,
    KeyModificationIn,
    KeyOut,
    KeyPageOut,
    ModificationPlanOut,
    RevokeIn,
)
from keyworker.api.wire import audit_event_out, key_out
from keyworker.domain.commands import CreateAccessMedium, CreateDigitalKey
from keyworker.errors import InvalidInput
from keyworker.limits import DEFAULT_PAGE, MAX_CURSOR_LEN, MAX_PAGE
from keyworker.status import GENERAL_STATUSES, door_status

if TYPE_CHECKING:
    from keyworker.domain.commands import NewKeyCommand
    from keyworker.domain.models import KeyView
    from keyworker.domain.pipeline import ModificationPlan

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
    body = key_out(view)
    observability.pending_by_mode(d.status.model_dump() if d.status else None for d in body.doors)
    location = f"/v1/sites/{site_id}/keys/{body.key_id}"
    return json_response(202, body, headers={"Location": location})


def _command(
    site_id: str, body: AccessMediumIn | DigitalKeyIn, request: str | None
) -> NewKeyCommand:
    """A create's wire model as its command."""
    common: dict[str, Any] = {
        "site_id": site_id,
        "holder_id": body.holder_id,
        "door_ids": body.door_ids,
        "valid_from": int(body.valid_from.timestamp()),
        "valid_until": epoch(body.valid_until),
        "schedule": None if body.schedule is None else body.schedule.model_dump(),
        "actor": actor(router),
        "request_id": request,
    }
    if isinstance(body, AccessMediumIn):
        return CreateAccessMedium(card_uid=body.card_uid, **common)
    return CreateDigitalKey(phone=body.phone, **common)


def _issue(
    site_id: str, body: AccessMediumIn | DigitalKeyIn, idempotency_key: str | None
) -> Response[str]:
    """Both creates: the wire model as a command, run through the pipeline."""
    try:
        command = _command(site_id, body, request_id(idempotency_key))
        view = deps(router).services.keys.run(command)
    except InvalidInput as error:
        raise header_named(error) from error
    observability.key_issued(view.record.key_type)
    return _accepted(site_id, view)


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
    return _issue(site_id, medium, idempotency_key)


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
    return _issue(site_id, key, idempotency_key)


@router.post(
    "/keys/batch",
    summary="Issue many keys at once (an import): access media and digital keys",
    tags=TAGS,
    responses=responses(
        202,
        KeyBatchOut,
        "Accepted: every key of the batch, in order. All or nothing for refusals: an item "
        "with bad input, an unknown door or a reused idempotency key is answered with a "
        "problem naming `items[i].<field>`, and no key of the batch is written.",
    ),
)
def create_keys(
    site_id: str,
    batch: Annotated[KeyBatchIn, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[str]:
    """Item ``i`` of a batch sent with ``Idempotency-Key: K`` has its own idempotency key
    ``K.i``: the same batch sent again returns the same keys (and finishes leftover work)."""
    base = request_id(idempotency_key)
    try:
        commands = [
            _command(site_id, item, None if base is None else f"{base}.{index}")
            for index, item in enumerate(batch.items)
        ]
        views = deps(router).services.keys.create_many(commands)
    except InvalidInput as error:
        raise _batch_header_named(error) from error
    for view in views:
        observability.key_issued(view.record.key_type)
    return json_response(202, KeyBatchOut(items=[key_out(view) for view in views]))


def _batch_header_named(error: InvalidInput) -> InvalidInput:
    """An item's request id is the header's value with ``.i``: name the header."""
    if (error.field or "").endswith("].request_id"):
        return type(error)(
            f"Idempotency-Key must leave room for the item index ('.N') in "
            f"{limits.MAX_ID_LEN} characters of {limits.ID_RULE}",
            IDEMPOTENCY_HEADER,
        )
    return header_named(error)


@router.get(
    "/keys/<key_id>",
    summary="A key with its general, home-app and per-door status",
    tags=TAGS,
    responses=responses(200, KeyOut, "The key, evaluated now."),
)
def get_key(site_id: str, key_id: IdInPath) -> Response[str]:
    view = deps(router).services.queries.get_key(site_id, key_id)
    return json_response(200, key_out(view))


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
        KeyPageOut(items=[key_out(v) for v in page.items], cursor=page.cursor),
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
        KeyHistoryOut(key_id=key_id, events=[audit_event_out(e) for e in events]),
    )


def _door_status(state: str | None, online: bool) -> DoorStatusOut | None:
    shown = None if state is None else door_status(state, online)
    if shown is None:
        return None
    return DoorStatusOut(code=shown.code, mode=shown.mode, label=shown.label)  # type: ignore[arg-type]


def _plan_out(plan: ModificationPlan) -> ModificationPlanOut:
    return ModificationPlanOut(
        key_id=plan.key_id,
        doors=[
            DoorPlanOut(
                door_id=door.door_id,
                action=door.action,  # type: ignore[arg-type]
                status_before=_door_status(door.state_before, door.online),
                status_after=_door_status(door.state_after, door.online),
                needs_technician=door.needs_technician,
            )
            for door in plan.doors
        ],
        redelivery=plan.redelivery,
    )


@router.patch(
    "/keys/<key_id>",
    summary="Change a key: its doors, validity or schedule",
    tags=TAGS,
    responses={
        **responses(202, KeyOut, "Accepted: the doors / the phone get the changed key."),
        200: {
            "description": "A dry run: what the change would do at each door.",
            "content": {"application/json": {"model": ModificationPlanOut}},
        },
    },
)
def modify_key(
    site_id: str,
    key_id: IdInPath,
    change: Annotated[KeyModificationIn, Body()],
    dry_run: Annotated[bool, Query(description="Answer the plan; write nothing.")] = False,
    idempotency_key: IdempotencyKey = None,
) -> Response[str]:
    given = change.model_fields_set
    fields: dict[str, Any] = {}
    if "door_ids" in given:
        fields["door_ids"] = [] if change.door_ids is None else change.door_ids
    if "valid_from" in given:
        if change.valid_from is None:
            raise InvalidInput("valid_from cannot be removed", field="valid_from")
        fields["valid_from"] = int(change.valid_from.timestamp())
    if "valid_until" in given:
        fields["valid_until"] = epoch(change.valid_until)
    if "schedule" in given:
        fields["schedule"] = None if change.schedule is None else change.schedule.model_dump()
    keys = deps(router).services.keys
    if dry_run or change.dry_run:
        return json_response(200, _plan_out(keys.plan_modification(site_id, key_id, **fields)))
    try:
        view = keys.modify(
            site_id, key_id, actor=actor(router), request_id=request_id(idempotency_key), **fields
        )
    except InvalidInput as error:
        raise header_named(error) from error
    return _accepted(site_id, view)


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
