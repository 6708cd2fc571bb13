"""No event lost or doubled across crashes; the feed's pages, cursor, filters, settle window,
bad input and site isolation."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from handlers.handler_harness import OTHER_SITE, SITE
from moto_state import fake_aws_environment, mocked_state_table

from keyworker.adapters.dynamodb import DynamoStore
from keyworker.errors import InvalidInput, StoreUnavailable
from keyworker.outbound.envelope import cloud_event
from keyworker.outbound.eventbridge import EventBridgePublisher
from keyworker.outbound.feed import DynamoEventFeed, encode_cursor
from outbound.conftest import Outbox
from outbound.test_stream_events import medium, site_doors


def _walk(outbox: Outbox) -> str:
    site_doors(outbox)
    key_id = str(outbox.stack.api("POST", "/access-media", medium()).body["key_id"])
    outbox.stack.api("POST", "/doors/flat-1/sync", {"version": 1})
    outbox.stack.api("POST", f"/keys/{key_id}/revoke")
    return key_id


def _crash_once(monkeypatch: pytest.MonkeyPatch, owner: Any, method: str) -> list[int]:
    """``owner.method`` raises on its first call (a crash there), then works."""
    calls: list[int] = []
    real = getattr(owner, method)

    def crashing(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the function died here")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, crashing)
    return calls


def test_crash_between_feed_write_and_publish_loses_nothing(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _walk(outbox)
    calls = _crash_once(monkeypatch, EventBridgePublisher, "publish")
    outbox.process()
    assert outbox.poller.stats.handler_errors == 1  # the first delivery crashed after the feed
    assert len(calls) >= 2  # the stream delivered the batch again
    feed = outbox.feed("?limit=100").body["events"]
    ids = [e["id"] for e in feed]
    assert len(ids) == len(set(ids)) == 8  # 3 of the key, 3 of flat-1, 2 of front
    assert Counter(e["id"] for e in outbox.bus_events()) == Counter(ids)
    assert [e["id"] for e in outbox.webhooks.events()] == ids


def test_crash_between_publish_and_fan_out_repeats_with_the_same_ids(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _walk(outbox)
    fanned: list[str] = []
    state = {"crashed": False}

    def fan_out(site_id: str, events: Any) -> None:
        if not state["crashed"]:
            state["crashed"] = True
            raise RuntimeError("the function died here")
        fanned.extend(e["id"] for e in events)

    monkeypatch.setattr(outbox.webhooks, "fan_out", fan_out)
    outbox.process()
    feed = [e["id"] for e in outbox.feed("?limit=100").body["events"]]
    assert len(feed) == len(set(feed)) == 8
    assert fanned == feed  # every event reached the webhook port after the redelivery
    bus = outbox.bus_events()
    # The bus saw the batch twice (published, then crashed): the same ids, the same events.
    assert set(Counter(e["id"] for e in bus).values()) == {2}
    assert {e["id"] for e in bus} == set(feed)


def test_a_command_that_dies_after_its_key_write_still_reports(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_doors(outbox)

    def dies(self: Any, events: Any) -> None:
        raise StoreUnavailable("the function died after the key write")

    monkeypatch.setattr(DynamoStore, "put_events", dies)
    answer = outbox.stack.api("POST", "/access-media", medium())
    assert answer.status >= 500
    outbox.process()
    [created] = outbox.feed("?types=key.created").body["events"]
    assert created["data"]["action"] == "created"


def test_pages_resume_from_the_cursor_without_gaps_or_repeats(outbox: Outbox) -> None:
    site_doors(outbox)
    for i in range(3):
        outbox.stack.api("POST", "/access-media", medium(card=f"card-{i:04d}"))
    outbox.process()
    everything = [e["id"] for e in outbox.feed("?limit=100").body["events"]]
    seen: list[str] = []
    page = outbox.feed("?limit=2").body
    while page["events"]:
        assert len(page["events"]) <= 2
        seen.extend(e["id"] for e in page["events"])
        page = outbox.feed(f"?limit=2&after={page['next_cursor']}").body
    assert seen == everything
    # A reader at the end keeps its cursor and later gets only what is new.
    cursor = page["next_cursor"]
    outbox.stack.api("POST", "/access-media", medium(card="card-0009", doors=["front"]))
    outbox.process()
    new = outbox.feed(f"?after={cursor}").body["events"]
    assert [e["type"] for e in new] == ["key.created", "door.update_requested"]
    assert not {e["id"] for e in new} & set(everything)


def test_types_filter_moves_the_cursor_past_other_types(outbox: Outbox) -> None:
    _walk(outbox)
    outbox.process()
    doors_only = outbox.feed("?types=door.confirmed,door.update_requested&limit=100").body
    assert {e["type"] for e in doors_only["events"]} == {"door.confirmed", "door.update_requested"}
    rest = outbox.feed(f"?after={doors_only['next_cursor']}").body
    assert rest["events"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?types=key.painted", "types"),
        ("?types=", "types"),
        ("?after=not-a-cursor", "after"),
        ("?after=" + base64.urlsafe_b64encode(b"f1|site-1|12#x").decode(), "after"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
    ],
)
def test_bad_feed_queries_are_400_naming_the_field(outbox: Outbox, query: str, field: str) -> None:
    answer = outbox.feed(query)
    assert answer.status == 400, answer.body
    assert answer.content_type == "application/problem+json"
    assert answer.body["field"] == field


def test_a_site_sees_only_its_own_events(outbox: Outbox) -> None:
    site_doors(outbox)
    outbox.stack.api("POST", "/access-media", medium())
    other = f"/v1/sites/{OTHER_SITE}"
    door = {"name": "Gate", "kind": "common", "connectivity": "online"}
    assert outbox.stack.api("PUT", f"{other}/doors/gate", door, sites=(OTHER_SITE,)).status == 200
    body = medium(doors=["gate"])
    created = outbox.stack.api("POST", f"{other}/access-media", body, sites=(OTHER_SITE,))
    assert created.status == 202
    outbox.process()
    mine = outbox.feed("?limit=100").body
    theirs = outbox.feed("?limit=100", site=OTHER_SITE).body
    assert {e["siteid"] for e in mine["events"]} == {SITE}
    assert {e["siteid"] for e in theirs["events"]} == {OTHER_SITE}
    assert len(theirs["events"]) == 2
    # A cursor of one site is refused by the other; a token for one site cannot read the other.
    refused = outbox.feed(f"?after={mine['next_cursor']}", site=OTHER_SITE)
    assert refused.status == 400
    assert refused.body["field"] == "after"
    forbidden = outbox.stack.api("GET", f"{other}/events")
    assert forbidden.status == 403
    for site, calls in outbox.webhooks.calls:
        assert {e["siteid"] for e in calls} == {site}


# ------------------------------------------------------------- the settle window (unit)

# mocked_state_table creates every table of the template; the feed's under its logical id.
EVENTS_TABLE = "KeyworkerEventsTable"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    yield from mocked_state_table()


def _event(n: int) -> dict[str, Any]:
    return cloud_event(
        site_id=SITE, event_type="key.created", subject=f"keys/k{n}", sequence=1, time=0, data={}
    )


def test_a_reader_sees_an_event_only_after_the_settle_window(table: Any) -> None:
    now = [1_000_000]
    feed = DynamoEventFeed(table, EVENTS_TABLE, clock_ms=lambda: now[0], settle_seconds=10)
    assert feed.append([_event(1)]) == 1
    assert feed.append([_event(1)]) == 0  # a redelivery stores nothing
    now[0] += 5_000
    early = feed.page(SITE, after=None)
    assert early.events == []
    now[0] += 6_000
    later = feed.page(SITE, after=early.cursor)
    assert [e["subject"] for e in later.events] == ["keys/k1"]


def test_an_event_written_slower_than_the_budget_moves_to_a_later_place(table: Any) -> None:
    ticks = iter([0, 5_000, 5_001, 5_002])  # the first write took 5 s: over the 2 s budget
    feed = DynamoEventFeed(table, EVENTS_TABLE, clock_ms=lambda: next(ticks), settle_seconds=0)
    assert feed.append([_event(1)]) == 1
    item = table.get_item(
        TableName=EVENTS_TABLE,
        Key={"pk": {"S": f"SITE#{SITE}#FEED"}, "sk": {"S": "EVT#keys/k1/" + "0" * 19 + "1"}},
    )["Item"]
    assert item["feed_at"]["S"].startswith("0000000005001#")


def test_cursor_round_trip_and_refusals() -> None:
    from keyworker.outbound.feed import decode_cursor

    at = "0000000005001#000000#keys/k1/" + "0" * 20
    assert decode_cursor(SITE, encode_cursor(SITE, at)) == at
    for bad in ("", "%%%", encode_cursor(OTHER_SITE, at), encode_cursor(SITE, "x")):
        with pytest.raises(InvalidInput) as raised:
            decode_cursor(SITE, bad)
        assert raised.value.field == "after"
    assert json.dumps(at)
