"""Doors: create/update, read with pending work, the encoded update, a door's confirmation,
and the technician's worklist (``GET /doors?visit=needed``)."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from keyworker.api._routing import IdInPath, json_response, new_router, responses
from keyworker.api.deps import actor, deps
from keyworker.api.models import (
    DoorIn,
    DoorOut,
    DoorSyncIn,
    DoorSyncOut,
    DoorUpdateOut,
    WorklistOut,
)
from keyworker.api.wire import door_out, worklist_entry_out

router = new_router()
TAGS = ["doors"]


def _door_out(site_id: str, door_id: str) -> DoorOut:
    work = deps(router).services.doors.pending_work(site_id, door_id)
    return door_out(work)


@router.put(
    "/doors/<door_id>",
    summary="Create or update a door",
    tags=TAGS,
    responses=responses(200, DoorOut, "The door as stored."),
)
def put_door(site_id: str, door_id: IdInPath, door: Annotated[DoorIn, Body()]) -> Response[str]:
    deps(router).services.doors.put_door(
        site_id,
        door_id,
        name=door.name,
        kind=door.kind,
        connectivity=door.connectivity,
        actor=actor(router),
    )
    return json_response(200, _door_out(site_id, door_id))


@router.get(
    "/doors/<door_id>",
    summary="A door with its versions and pending changes",
    tags=TAGS,
    responses=responses(200, DoorOut, "The door."),
)
def get_door(site_id: str, door_id: IdInPath) -> Response[str]:
    return json_response(200, _door_out(site_id, door_id))


@router.get(
    "/doors/<door_id>/update",
    summary="The encoded update the door must apply now",
    tags=TAGS,
    responses=responses(200, DoorUpdateOut, "The update from the confirmed version on."),
)
def get_door_update(site_id: str, door_id: IdInPath) -> Response[str]:
    update = deps(router).services.doors.door_update(site_id, door_id)
    return json_response(
        200,
        DoorUpdateOut(
            door_id=update.door_id,
            version=update.version,
            from_version=update.confirmed_version,
            entries=len(update.entries),
            payload=base64.urlsafe_b64encode(update.payload).decode().rstrip("="),
        ),
    )


@router.post(
    "/doors/<door_id>/sync",
    summary="A door or technician reports the version it applied",
    tags=TAGS,
    responses=responses(200, DoorSyncOut, "Pending work up to that version is complete."),
)
def sync_door(
    site_id: str, door_id: IdInPath, sync: Annotated[DoorSyncIn, Body()]
) -> Response[str]:
    result = deps(router).services.doors.door_synced(
        site_id, door_id, sync.version, actor=actor(router)
    )
    return json_response(
        200,
        DoorSyncOut(
            door_id=door_id,
            confirmed_version=result.door.confirmed_version,
            desired_version=result.door.desired_version,
            completed_key_ids=list(result.completed_key_ids),
            stale=result.stale,
        ),
    )


@router.get(
    "/doors",
    summary="The technician's worklist: offline doors to visit, oldest work first",
    tags=TAGS,
    responses=responses(200, WorklistOut, "Doors that need a visit."),
)
def worklist(
    site_id: str,
    visit: Annotated[
        Literal["needed"], Query(description="Only `needed` (doors to visit) is supported.")
    ],
) -> Response[str]:
    entries = deps(router).services.doors.worklist(site_id)
    return json_response(200, WorklistOut(doors=[worklist_entry_out(e) for e in entries]))
