"""A site's outbound events as a pull feed (``GET /v1/sites/{site}/events``), in the events
table (``KeyworkerEventsTable``: apart from the state, so the stream function's own writes do
not come back through the state table's stream).

Feed item: ``pk = SITE#<site>#FEED``, ``sk = EVT#<event id>`` (one item per event id, so a
redelivered stream record stores nothing twice), with ``feed_pk = <site>`` and ``feed_at =
<stored at, ms, 13 digits>#<place in its batch, 6 digits>#<event id>`` for the sparse
``site_events`` index that orders them.

Late arrivals: events of one site come from many items, hence many stream shards processed
in parallel, so an event can be stored after another one that a reader has already passed.
A reader therefore sees only events stored more than ``SETTLE_SECONDS`` ago (``feed_at``
below its own clock minus the window), and a writer whose write took longer than
``WRITE_BUDGET_SECONDS`` stores the event again with a fresh ``feed_at`` (it may then appear
twice to a reader who saw its first position — never zero times; readers dedupe by ``id``).
A cursor is the last ``feed_at`` a reader consumed: no event can be stored below it later
while the writers' and readers' clocks differ by less than the window minus the budget minus
the index's propagation delay (docs/events.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keyworker.adapters.dynamodb.client import TableClient
from keyworker.adapters.dynamodb.key_store import to_item
from keyworker.errors import InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

SITE_EVENTS = "site_events"
SETTLE_SECONDS = 10.0
WRITE_BUDGET_SECONDS = 2.0
#: Feed items expire by the table's time to live (``expiration``) after this long.
RETENTION_SECONDS = 30 * 24 * 3600
_CURSOR_VERSION = "f1"
# "0" is the feed's start (a cursor given before any event).
_FEED_AT = re.compile(r"^(0|\d{13}#\d{6}#[A-Za-z0-9._:@+/-]{1,400})$")


def feed_pk(site_id: str) -> str:
    return f"SITE#{site_id}#FEED"


def feed_sk(event_id: str) -> str:
    return f"EVT#{event_id}"


def encode_cursor(site_id: str, feed_at: str) -> str:
    raw = f"{_CURSOR_VERSION}|{site_id}|{feed_at}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(site_id: str, cursor: str) -> str:
    """The ``feed_at`` a cursor stands for; ``InvalidInput`` (field ``after``) if it is not
    one this site's feed gave out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("after is not a cursor of this feed", field="after") from None
    version, _, rest = raw.partition("|")
    cursor_site, _, feed_at = rest.partition("|")
    if version != _CURSOR_VERSION or cursor_site != site_id or not _FEED_AT.match(feed_at):
        raise InvalidInput("after is not a cursor of this feed", field="after")
    return feed_at


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[dict[str, Any]]
    #: Where to resume (``after``); given even when no event is there yet.
    cursor: str
    #: Events stored before this instant (epoch ms) are in the feed; later ones not yet.
    settled_until_ms: int


class DynamoEventFeed:
    """The feed in the state table: appended by the stream function, read by the API."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        clock_ms: Callable[[], int] | None = None,
        settle_seconds: float | None = None,
        write_budget_seconds: float | None = None,
    ) -> None:
        self._table = TableClient(client, table_name)
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        settle = SETTLE_SECONDS if settle_seconds is None else settle_seconds
        budget = WRITE_BUDGET_SECONDS if write_budget_seconds is None else write_budget_seconds
        self.settle_ms = int(settle * 1000)
        self.write_budget_ms = int(budget * 1000)

    # ------------------------------------------------------------------------------ write

    def append(self, events: Sequence[Mapping[str, Any]]) -> int:
        """Stores the events not stored yet (by id); returns how many were new.

        Safe to call again with the same events (a redelivered stream batch): an event
        already in the feed keeps its place."""
        by_id = {str(e["id"]): e for e in events}
        if not by_id:
            return 0
        stored = {
            item["sk"]["S"][len("EVT#") :]
            for site, ids in _ids_by_site(by_id.values()).items()
            for item in self._table.batch_get(
                [(feed_pk(site), feed_sk(i)) for i in ids],
                {"ProjectionExpression": "sk"},
            )
        }
        new = [e for i, e in by_id.items() if i not in stored]
        while new:
            started = self._clock_ms()
            self._table.batch_put(self._item(e, started, n) for n, e in enumerate(new))
            if self._clock_ms() - started <= self.write_budget_ms:
                break
            # The write took so long that a reader may have passed its place: store it again
            # at a fresh place (a duplicate to that reader, never a gap).
        return len(new)

    def _item(self, event: Mapping[str, Any], stored_ms: int, n: int) -> dict[str, Any]:
        site, event_id = str(event["siteid"]), str(event["id"])
        return to_item(
            {
                "pk": feed_pk(site),
                "sk": feed_sk(event_id),
                "item_type": "outbound_event",
                "feed_pk": site,
                # Stored at, then the place in the batch: the stream's order within a batch.
                "feed_at": f"{stored_ms:013d}#{n:06d}#{event_id}",
                "type": event["type"],
                "envelope": json.dumps(event, separators=(",", ":"), sort_keys=True),
                "expiration": stored_ms // 1000 + RETENTION_SECONDS,
            }
        )

    # ------------------------------------------------------------------------------- read

    def page(
        self,
        site_id: str,
        *,
        after: str | None,
        types: Iterable[str] | None = None,
        limit: int = 50,
    ) -> FeedPage:
        """Up to ``limit`` settled events after the cursor, oldest first (``types``: only
        those types; the cursor still moves past the others)."""
        position = "0" if after is None else decode_cursor(site_id, after)
        wanted = None if types is None else frozenset(types)
        cutoff = self._clock_ms() - self.settle_ms
        cutoff_at = f"{cutoff:013d}#"
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "IndexName": SITE_EVENTS,
            "KeyConditionExpression": "feed_pk = :site AND feed_at BETWEEN :after AND :cutoff",
            "ExpressionAttributeValues": {
                ":site": {"S": site_id},
                ":after": {"S": position},
                ":cutoff": {"S": cutoff_at},
            },
            "ProjectionExpression": "feed_at, #type, envelope",
            "ExpressionAttributeNames": {"#type": "type"},
            "ScanIndexForward": True,
            "Limit": max(limit, 25),
        }
        while len(events) < limit:
            response = self._table.call(
                self._table.client.query, TableName=self._table.table, **request
            )
            for item in response.get("Items", []):
                at = item["feed_at"]["S"]
                if at == position:  # BETWEEN is inclusive: the cursor's own event was read
                    continue
                position = at
                if wanted is None or item["type"]["S"] in wanted:
                    events.append(json.loads(item["envelope"]["S"]))
                    if len(events) == limit:
                        break
            last = response.get("LastEvaluatedKey")
            if not last or len(events) == limit:
                break
            request["ExclusiveStartKey"] = last
        return FeedPage(
            events=events, cursor=encode_cursor(site_id, position), settled_until_ms=cutoff
        )


def _ids_by_site(events: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    by_site: dict[str, list[str]] = {}
    for event in events:
        by_site.setdefault(str(event["siteid"]), []).append(str(event["id"]))
    return by_site
