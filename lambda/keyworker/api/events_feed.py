"""``GET /events``: a site's outbound events as a pull feed, oldest first, resumable (for
integrators that cannot receive webhooks). The same CloudEvents envelopes the bus and the
webhooks get (``docs/events.md``); only the path's site's events."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from keyworker.api._routing import json_response, new_router, responses
from keyworker.api.deps import deps
from keyworker.api.models import ApiModel
from keyworker.domain.models import iso
from keyworker.errors import InvalidInput, StoreUnavailable
from keyworker.limits import DEFAULT_PAGE, MAX_CURSOR_LEN, MAX_PAGE
from keyworker.outbound.envelope import EVENT_TYPES

router = new_router()
TAGS = ["events"]
_TYPE = "(" + "|".join(t.replace(".", r"\.") for t in EVENT_TYPES) + ")"
TYPES_PATTERN = f"^{_TYPE}(,{_TYPE})*$"


class OutboundEventOut(ApiModel):
    """A CloudEvents 1.0 envelope (JSON structured mode) with keyworker's extensions."""

    specversion: str
    id: str = Field(description="<subject>/<sequence>: the same for a replayed change.")
    source: str
    type: str = Field(description="One of: " + ", ".join(EVENT_TYPES))
    subject: str
    time: str
    datacontenttype: str
    sequence: str = Field(description="Per subject, 20 digits: order a subject's events by it.")
    siteid: str
    data: dict[str, Any]


class EventFeedOut(ApiModel):
    site_id: str
    events: list[OutboundEventOut]
    next_cursor: str = Field(
        description="Pass as `after` to read on; given even when no event was returned."
    )
    settled_until: str = Field(
        description="Events stored before this instant are in the feed; later ones appear "
        "once older than the settle window (docs/events.md)."
    )


def _types(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown or not names:
        raise InvalidInput(
            f"types must be a comma-separated list of: {', '.join(EVENT_TYPES)}", field="types"
        )
    return names


@router.get(
    "/events",
    summary="Read the site's outbound events (oldest first, from a cursor)",
    tags=TAGS,
    responses=responses(200, EventFeedOut, "A page of events and the cursor to resume from."),
)
def list_events(
    site_id: str,
    after: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LEN, description="The next_cursor of an earlier page."),
    ] = None,
    types: Annotated[
        str | None,
        Query(
            max_length=400,
            pattern=TYPES_PATTERN,
            description="Only these types, comma-separated.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> Response[str]:
    feed = deps(router).event_feed
    if feed is None:
        raise StoreUnavailable("the event feed is not configured (EVENTS_TABLE_NAME)")
    page = feed.page(site_id, after=after, types=_types(types), limit=limit)
    return json_response(
        200,
        EventFeedOut(
            site_id=site_id,
            events=[OutboundEventOut.model_validate(e) for e in page.events],
            next_cursor=page.cursor,
            settled_until=iso(page.settled_until_ms // 1000) or "",
        ),
    )
