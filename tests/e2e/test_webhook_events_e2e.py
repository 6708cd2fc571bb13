"""Against ``keyworker local``: a receiver registered through the API gets every transition of a
key walked through the seed's statuses, in order, signed and verified by ``standardwebhooks``;
a receiver that fails 3 times then recovers gets every event too; the feed returns the same
events."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from local_stack_harness import Api, RunningStack, eventually, start_stack, stop_stack
from standardwebhooks import Webhook
from webhook_receiver import Receiver

pytestmark = pytest.mark.e2e
SITE = "hooked"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("events"), "--simulate", "instant")
    yield running
    stop_stack(running)


def _walk_a_key(api: Api) -> str:
    """A card on an online and an offline door, confirmed at the offline door, revoked."""
    api.ok(
        "PUT", "/doors/entrance", {"name": "Entrance", "kind": "common", "connectivity": "online"}
    )
    api.ok("PUT", "/doors/apt-1", {"name": "Apt 1", "kind": "unit", "connectivity": "offline"})
    card = api.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "t1",
            "card_uid": "04A1",
            "door_ids": ["entrance", "apt-1"],
            "valid_from": "2026-01-01T00:00:00Z",
        },
        **{"Idempotency-Key": "walk-card"},
    )
    key_id = card["key_id"]
    time.sleep(2)  # the simulated entrance confirms
    update = api.ok("GET", "/doors/apt-1/update")
    api.ok("POST", "/doors/apt-1/sync", {"version": update["version"]})
    api.ok("POST", f"/keys/{key_id}/revoke", {"reason": "moved out"})
    time.sleep(2)
    update = api.ok("GET", "/doors/apt-1/update")
    api.ok("POST", "/doors/apt-1/sync", {"version": update["version"]})
    return str(key_id)


def test_every_transition_arrives_in_order_signed_and_the_feed_agrees(
    stack: RunningStack,
) -> None:
    api = Api(stack.api, stack.token(SITE), SITE)
    steady, flaky = Receiver().start(), Receiver(script=[500, 500, 500]).start()
    try:
        hooks = {
            name: api.ok("POST", "/webhooks", {"url": r.url, "event_types": ["key.*"]})
            for name, r in (("steady", steady), ("flaky", flaky))
        }
        time.sleep(2)  # the fan-out caches a site's subscriptions for 1 s
        key_id = _walk_a_key(api)
        # The last confirmation completes the key in the worker: its last event comes after.
        eventually(
            lambda: api.ok("GET", f"/keys/{key_id}")["status"]["code"] == "revoked",
            "the key revoked",
            60,
        )
        history = api.ok("GET", f"/keys/{key_id}/history")["events"]
        expected = [f"keys/{key_id}/{n:020d}" for n in range(1, len(history) + 1)]
        for name, receiver in (("steady", steady), ("flaky", flaky)):
            # The flaky receiver's three failures wait up to 5 + 30 + 120 s (full jitter:
            # about half that on average) before the fourth attempt (docs/webhooks.md).
            eventually(
                lambda r=receiver: {e["id"] for e in r.events()} >= set(expected),
                f"every event at the {name} receiver",
                200,
            )
            secret = hooks[name]["secret"]
            verified = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]
            first_seen = list(dict.fromkeys(e["id"] for e in verified if e["id"] in expected))
            assert first_seen == expected, name  # every transition, in sequence order
        types = [e["type"] for e in steady.events()]
        assert types[0] == "key.created"
        assert "key.revoked" in types
        key_types = "key.created,key.modified,key.status_changed,key.revoked"
        feed: list[dict[str, object]] = []

        def feed_has_every_event() -> bool:
            # The feed shows an event once it is older than its settle window (docs/events.md).
            feed[:] = api.ok("GET", f"/events?types={key_types}&limit=100")["events"]
            return [e["id"] for e in feed if e["subject"] == f"keys/{key_id}"] == expected

        try:
            eventually(feed_has_every_event, "every event in the feed", 30)
        except AssertionError:
            raise AssertionError(([(e["id"], e["type"]) for e in feed], expected)) from None
        delivered = {e["id"]: e for e in steady.events()}
        assert all(e == delivered[e["id"]] for e in feed if e["id"] in expected)
    finally:
        steady.stop()
        flaky.stop()
