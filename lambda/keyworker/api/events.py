"""``POST /events``: field feedback as CloudEvents, the same envelope, parser and dedupe as
the events queue (``keyworker.feedback``)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from keyworker.api._routing import json_response, new_router, responses
from keyworker.api.deps import deps
from keyworker.api.models import EventAcceptedOut
from keyworker.errors import SiteForbidden

router = new_router()
TAGS = ["events"]


@router.post(
    "/events",
    summary="Report field feedback (door.synced, key.delivered, app.key_list_reloaded)",
    tags=TAGS,
    responses=responses(200, EventAcceptedOut, "Applied, or a duplicate id (no effect)."),
)
def post_event(
    site_id: str,
    event: Annotated[
        dict[str, Any],
        Body(
            description='CloudEvents 1.0 JSON: {"specversion": "1.0", "id", "source", "type", '
            '"time", "data"}; data.site_id must be the site of the path.'
        ),
    ],
) -> Response[str]:
    data = event.get("data")
    # The token grants the path's site; an event may only speak about that site.
    if isinstance(data, dict) and "site_id" in data and data["site_id"] != site_id:
        raise SiteForbidden("the event's site is not the path's site")
    applied = deps(router).feedback.apply(event)
    return json_response(
        200,
        EventAcceptedOut(
            event_id=applied.event_id,
            type=applied.type,
            duplicate=applied.duplicate,
            outcome=dict(applied.outcome),
        ),
    )
