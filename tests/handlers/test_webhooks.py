"""Webhook subscriptions and their delivery (issue 13, docs/webhooks.md): real HTTP receivers
on 127.0.0.1, moto for the table, the queues and Secrets Manager, signatures checked with the
``standardwebhooks`` library (not keyworker's code)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from handler_harness import OTHER_SITE, SITE, Stack, sqs_event
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_receiver import Receiver
from webhook_world import World, key_event

from keyworker.local.apigw import LambdaContext
from keyworker.outbound.webhooks import delivery as delivery_module
from keyworker.outbound.webhooks.delivery import DeliverySettings
from keyworker.outbound.webhooks.model import EVENT_TYPES, DeliveryMessage


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def world(stack: Stack) -> World:
    return World(stack)


def _verify(secret: str, got: object) -> dict[str, object]:
    verified: dict[str, object] = Webhook(secret).verify(got.body, got.headers)  # type: ignore[attr-defined]
    return verified


# ---------------------------------------------------------------- the API and the function


def test_signed_test_event_through_the_api_and_the_delivery_function(
    stack: Stack, receiver: Receiver
) -> None:
    created = stack.api("POST", "/webhooks", {"url": receiver.url, "description": "ops desk"})
    assert created.status == 201, created.body
    secret = created.body["secret"]
    assert secret.startswith("whsec_")
    hook = created.body["id"]
    assert created.headers["Location"] == f"/v1/sites/{SITE}/webhooks/{hook}"
    listed = stack.api("GET", "/webhooks")
    assert [w["id"] for w in listed.body["items"]] == [hook]
    assert "secret" not in listed.body["items"][0]

    queued = stack.api("POST", f"/webhooks/{hook}/test")
    assert queued.status == 202, queued.body
    poller = stack.drain(stack.webhook_deliveries, "webhooks")
    assert poller.stats.failed == 0

    [got] = receiver.received
    event = _verify(secret, got)
    assert event["type"] == "webhook.test"
    assert got.headers["webhook-id"] == queued.body["webhook_id"] == f"{hook}:{event['id']}"
    assert got.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)

    log = stack.api("GET", f"/webhooks/{hook}/deliveries")
    [entry] = log.body["items"]
    assert entry["outcome"] == "delivered"
    assert entry["status_code"] == 200
    assert entry["delivery_id"] == queued.body["delivery_id"]
    assert entry["latency_ms"] is not None


def test_the_wired_fanout_and_the_delivery_function_deliver_a_stream_batch(
    stack: Stack, receiver: Receiver
) -> None:
    from keyworker.handlers import wiring
    from keyworker.handlers.webhooks import handler

    created = stack.api("POST", "/webhooks", {"url": receiver.url, "event_types": ["key.*"]})
    events = [key_event("k1", 1, "key.created"), key_event("k1", 2, "key.revoked")]
    wiring.webhook_fanout().fan_out(SITE, events)  # what OUTBOX's stream processor calls
    for _ in range(5):
        stack.drain(stack.webhook_deliveries, "webhooks")
        if len(receiver.received) == 2:
            break
        time.sleep(1)  # key.revoked waits (SQS delay) for key.created, its predecessor
    verified = [_verify(created.body["secret"], r) for r in receiver.received]
    assert [e["id"] for e in verified] == [e["id"] for e in events]
    # A message the function cannot read is a batch item failure (SQS retries it, then the
    # DLQ); the rest of the batch is unaffected.
    result = handler(
        sqs_event(["not json"], arn=stack.webhook_deliveries.arn), LambdaContext("hooks")
    )
    assert len(result["batchItemFailures"]) == 1


def test_event_type_filters_are_validated_and_applied(world: World, receiver: Receiver) -> None:
    from keyworker.api.webhooks import EventFilter

    families = {f"{t.split('.')[0]}.*" for t in EVENT_TYPES}
    assert set(EventFilter.__args__) == set(EVENT_TYPES) | families  # type: ignore[attr-defined]
    world.subscribe(receiver.url, ["key.revoked", "door.*"])
    world.fanout.fan_out(
        SITE,
        [
            key_event("k1", 1, "key.created"),
            key_event("k1", 2, "key.revoked"),
            {**key_event("d1", 1, "door.confirmed"), "subject": "doors/d1", "id": "doors/d1/1"},
        ],
    )
    world.run()
    assert [e["type"] for e in receiver.events()] == ["key.revoked", "door.confirmed"]


def test_invalid_filters_and_urls_are_refused_and_change_nothing(stack: Stack) -> None:
    for body, field in (
        ({"url": "ftp://127.0.0.1/x"}, "url"),
        ({"url": "http://example.com/hook"}, "url"),  # the local stack: this machine only
        ({"url": "http://user:pw@127.0.0.1/x"}, "url"),
        ({"url": "http://127.0.0.1:99999/x"}, "url"),
        ({"url": "http://127.0.0.1/a b"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://127.0.0.1/x", "event_types": ["key.exploded"]}, "event_types"),
        ({"url": "http://127.0.0.1/x", "secret": "mine"}, "secret"),
    ):
        refused = stack.api("POST", "/webhooks", body)
        assert refused.status == 400, (body, refused.body)
        assert refused.body["field"].split(".")[0] == field, (body, refused.body)
    assert stack.api("GET", "/webhooks").body["items"] == []
    assert stack.secrets.list_secrets()["SecretList"] == [] or all(
        "/webhooks/" not in s["Name"] for s in stack.secrets.list_secrets()["SecretList"]
    )


def test_private_addresses_are_refused_through_the_api_on_aws(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyworker.handlers import wiring
    from keyworker.outbound.webhooks import urls

    monkeypatch.delenv("WEBHOOK_ALLOW_LOOPBACK")
    wiring.reset()
    answers = {
        "metadata.example": ["169.254.169.254"],
        "vpc.example": ["93.184.215.14", "10.0.0.9"],
    }
    monkeypatch.setattr(urls, "system_resolve", lambda host, port: answers[host])
    for url in (
        "https://metadata.example/x",
        "https://vpc.example/x",
        "https://[fd00:ec2::254]/latest",
        "https://127.0.0.1/x",
        "http://127.0.0.1:9000/x",  # loopback http is the local stack's alone
    ):
        refused = stack.api("POST", "/webhooks", {"url": url})
        assert refused.status == 400, (url, refused.body)
        assert refused.body["field"] == "url"
    answers["hooks.example"] = ["93.184.215.14"]
    assert stack.api("POST", "/webhooks", {"url": "https://hooks.example/in"}).status == 201


def test_a_site_sees_only_its_own_subscriptions_and_events(
    stack: Stack, world: World, receiver: Receiver
) -> None:
    created = stack.api("POST", "/webhooks", {"url": receiver.url})
    hook = created.body["id"]
    # Another site's token: refused before routing; the other site's own view: not found.
    assert stack.api("GET", "/webhooks", sites=(OTHER_SITE,)).status == 403
    other = f"/v1/sites/{OTHER_SITE}/webhooks"
    assert stack.api("GET", other, sites=(OTHER_SITE,)).body["items"] == []
    for method, path in (
        ("GET", f"{other}/{hook}"),
        ("DELETE", f"{other}/{hook}"),
        ("POST", f"{other}/{hook}/test"),
        ("POST", f"{other}/{hook}/rotate-secret"),
        ("GET", f"{other}/{hook}/deliveries"),
    ):
        assert stack.api(method, path, sites=(OTHER_SITE,)).status == 404, path
    # The other site's events never reach this site's subscriber, even mislabelled.
    world.fanout.fan_out(OTHER_SITE, [key_event("k9", 1, site_id=OTHER_SITE)])
    world.fanout.fan_out(SITE, [key_event("k9", 2, site_id=OTHER_SITE)])
    world.run()
    assert receiver.received == []
    assert stack.api("GET", f"/webhooks/{hook}").status == 200


# ------------------------------------------------------------------------- delivery faults


def test_unreachable_receiver_is_a_failed_attempt_retried_later(world: World) -> None:
    closed = Receiver().start()
    url = closed.url
    closed.stop()  # nobody listens on that port any more
    hook, _ = world.subscribe(url)
    world.fanout.fan_out(SITE, [key_event("k1", 1)])
    world.deliverer.settings = DeliverySettings(timeout_seconds=1.0, max_attempts=2)
    world.run()
    entries = world.log(hook)
    assert [e["outcome"] for e in entries] == ["failed", "retrying"]
    assert entries[1]["status_code"] is None
    assert entries[1]["error"]
    assert entries[1]["next_attempt_at"] is not None
    [dead] = world.dead_letters()
    assert dead["event"]["id"] == key_event("k1", 1)["id"]


def test_a_receiver_answering_after_30_s_is_a_timeout(world: World, receiver: Receiver) -> None:
    world.deliverer.settings = DeliverySettings(timeout_seconds=0.3)
    receiver.script = ["hang"]
    hook, _ = world.subscribe(receiver.url)
    world.fanout.fan_out(SITE, [key_event("k1", 1)])
    started = time.monotonic()
    world.run()
    elapsed = time.monotonic() - started
    entries = world.log(hook)
    assert [e["outcome"] for e in entries] == ["delivered", "retrying"]
    assert "Timeout" in entries[1]["error"] or "timed out" in entries[1]["error"]
    assert entries[1]["latency_ms"] < 2000
    assert elapsed < 10


def test_the_default_timeout_is_at_most_five_seconds() -> None:
    assert delivery_module.DEFAULT_TIMEOUT_SECONDS <= 5
    assert DeliverySettings().timeout_seconds <= 5


@pytest.mark.parametrize("status", [400, 404, 410, 500, 503])
def test_4xx_and_5xx_answers_are_failed_attempts(
    world: World, receiver: Receiver, status: int
) -> None:
    receiver.script = [status]
    hook, _ = world.subscribe(receiver.url)
    world.fanout.fan_out(SITE, [key_event("k1", 1)])
    world.run()
    entries = world.log(hook)
    assert [(e["outcome"], e["status_code"]) for e in entries] == [
        ("delivered", 200),
        ("retrying", status),
    ]
    assert len(receiver.received) == 2


def test_a_redirect_is_not_followed(world: World, receiver: Receiver) -> None:
    elsewhere = Receiver().start()
    try:
        receiver.script = [302, 307]
        receiver.redirect_to = elsewhere.url
        hook, _ = world.subscribe(receiver.url)
        world.fanout.fan_out(SITE, [key_event("k1", 1)])
        world.deliverer.settings = DeliverySettings(timeout_seconds=1.0, max_attempts=2)
        world.run()
        assert elsewhere.received == []
        entries = world.log(hook)
        assert [(e["outcome"], e["status_code"]) for e in entries] == [
            ("failed", 307),
            ("retrying", 302),
        ]
        assert "redirects are not followed" in entries[1]["error"]
    finally:
        elsewhere.stop()


def test_duplicate_deliveries_carry_the_same_webhook_id(world: World, receiver: Receiver) -> None:
    receiver.script = [500]
    hook, _ = world.subscribe(receiver.url)
    events = [key_event("k1", 1), key_event("k1", 2)]
    world.fanout.fan_out(SITE, events)
    world.fanout.fan_out(SITE, events)  # the stream redelivered the batch
    for _ in range(3):
        world.run()
        world.clock.advance(10)  # event 2 waits for event 1 (order), then goes
    ids = [r.headers["webhook-id"] for r in receiver.received]
    # The first attempt failed and was retried: same id; the fan-out copy was not resent.
    assert ids == [f"{hook}:{events[0]['id']}"] * 2 + [f"{hook}:{events[1]['id']}"]
    world.fanout.fan_out(SITE, events)  # after delivery: nothing is sent again
    world.run()
    assert len(receiver.received) == 3


def test_a_subscription_deleted_mid_retry_stops_its_deliveries(
    stack: Stack, world: World, receiver: Receiver
) -> None:
    receiver.default = 503
    hook, _ = world.subscribe(receiver.url)
    world.fanout.fan_out(SITE, [key_event("k1", 1)])
    got = stack.sqs.receive_message(QueueUrl=stack.webhook_deliveries.url)
    [message] = got["Messages"]
    stack.sqs.delete_message(
        QueueUrl=stack.webhook_deliveries.url, ReceiptHandle=message["ReceiptHandle"]
    )
    assert world.deliverer.handle(DeliveryMessage.from_json(json.loads(message["Body"]))) == (
        "retrying"
    )
    assert stack.api("DELETE", f"/webhooks/{hook}").status == 204
    assert stack.api("GET", f"/webhooks/{hook}").status == 404
    world.run()
    assert len(receiver.received) == 1
    assert world.outcomes == ["cancelled"]
    # The log says why (read from the store: the subscription is gone from the API).
    entries, _ = world.store.log_page(SITE, hook, 10, None)
    assert [e.outcome for e in entries] == ["cancelled", "retrying"]
    assert "deleted" in (entries[0].error or "")


def test_a_receiver_failing_three_times_then_recovering_gets_every_event_in_order(
    world: World, receiver: Receiver
) -> None:
    receiver.script = [500, 500, 500]
    hook, secret = world.subscribe(receiver.url)
    events = [key_event("k1", n) for n in range(1, 7)] + [key_event("k2", n) for n in (1, 2)]
    world.fanout.fan_out(SITE, events)
    for _ in range(10):
        world.run()
        world.clock.advance(10)
    delivered = [_verify(secret, r) for r in receiver.received]
    firsts: dict[str, int] = {}
    for event in delivered:
        firsts.setdefault(str(event["id"]), len(firsts))
    by_key = {key: [e for e in firsts if e.startswith(f"keys/{key}/")] for key in ("k1", "k2")}
    assert by_key["k1"] == [e["id"] for e in events[:6]]
    assert by_key["k2"] == [e["id"] for e in events[6:]]
    assert set(firsts) == {e["id"] for e in events}
    assert all(e["outcome"] != "failed" for e in world.log(hook))


def test_the_circuit_breaker_opens_then_a_probe_closes_it(stack: Stack, receiver: Receiver) -> None:
    world = World(
        stack, DeliverySettings(timeout_seconds=1.0, breaker_threshold=3, breaker_open_seconds=60)
    )
    receiver.default = 500
    world.subscribe(receiver.url)
    world.fanout.fan_out(SITE, [key_event(f"k{n}", 1) for n in range(5)])
    world.run()
    # Three consecutive failures open it: the rest wait without calling the endpoint.
    assert len(receiver.received) == 3
    assert world.store.breaker(SITE, receiver.url).failures == 3
    world.clock.advance(30)
    world.run()
    assert len(receiver.received) == 3  # still open
    receiver.default = 200
    world.clock.advance(31)
    world.run()
    # Half-open: one probe went through, closed the breaker, then everything flowed.
    assert world.store.breaker(SITE, receiver.url).failures == 0
    assert {r.event["id"] for r in receiver.received[3:]} == {
        key_event(f"k{n}", 1)["id"] for n in range(5)
    }
    assert len(receiver.received) == 8
    assert "waiting" in world.outcomes


def test_rotation_keeps_both_secrets_valid_during_the_grace_period(
    stack: Stack, world: World, receiver: Receiver
) -> None:
    created = stack.api("POST", "/webhooks", {"url": receiver.url})
    hook, old = created.body["id"], created.body["secret"]
    rotated = stack.api("POST", f"/webhooks/{hook}/rotate-secret")
    assert rotated.status == 200, rotated.body
    new = rotated.body["secret"]
    assert new != old
    world.fanout.fan_out(SITE, [key_event("k1", 1)])
    world.run()
    [during] = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert _verify(old, during) == _verify(new, during)
    world.clock.advance(24 * 3600 + 1)  # the grace period is over
    world.fanout.fan_out(SITE, [key_event("k1", 2)])
    world.run()
    after = receiver.received[1]
    # The test's clock is a day ahead of the receiver's, so compare signatures (made by the
    # library) instead of verify, which would refuse the timestamp as too new.
    signed_at = dt.datetime.fromtimestamp(int(after.headers["webhook-timestamp"]), tz=dt.UTC)
    msg_id, body = after.headers["webhook-id"], after.body.decode()
    assert after.headers["webhook-signature"] == Webhook(new).sign(msg_id, signed_at, body)
    assert Webhook(old).sign(msg_id, signed_at, body) not in after.headers["webhook-signature"]


def test_failed_for_good_goes_to_the_dlq_and_can_be_retried_by_hand(
    stack: Stack, world: World, receiver: Receiver
) -> None:
    world.deliverer.settings = DeliverySettings(timeout_seconds=1.0, max_attempts=3)
    receiver.script = [500, 500, 500]
    hook, secret = world.subscribe(receiver.url)
    world.fanout.fan_out(SITE, [key_event("k1", 1)])
    world.run()
    entries = world.log(hook)
    assert [e["outcome"] for e in entries] == ["failed", "retrying", "retrying"]
    assert [e["attempt"] for e in entries] == [3, 2, 1]
    assert len(world.dead_letters()) == 1
    world.clock.advance(60)
    retried = stack.api("POST", f"/deliveries/{entries[0]['delivery_id']}/retry")
    assert retried.status == 202, retried.body
    world.run()
    assert _verify(secret, receiver.received[-1])["id"] == key_event("k1", 1)["id"]
    assert world.log(hook)[0]["outcome"] == "delivered"
    assert stack.api("POST", f"/deliveries/{hook}.{'0' * 20}/retry").status == 404
    assert stack.api("POST", "/deliveries/nonsense/retry").status == 404


def test_the_delivery_log_is_newest_first_and_paginated(world: World, receiver: Receiver) -> None:
    hook, _ = world.subscribe(receiver.url)
    for n in range(1, 6):
        world.fanout.fan_out(SITE, [key_event("k1", n)])
        world.run()
        world.clock.advance(1)
    first, cursor = world.service.deliveries(SITE, hook, 2, None)
    pages = [first]
    while cursor:
        page, cursor = world.service.deliveries(SITE, hook, 2, cursor)
        pages.append(page)
    ids = [e["event_id"] for page in pages for e in page]
    assert ids == [key_event("k1", n)["id"] for n in range(5, 0, -1)]


def test_a_stuck_earlier_event_holds_later_ones_back_for_an_hour_only(
    stack: Stack, world: World, receiver: Receiver
) -> None:
    world.subscribe(receiver.url)
    first, second = key_event("k1", 1), key_event("k1", 2)
    world.fanout.fan_out(SITE, [first, second])
    # The first one's message is lost (as if the function dead-lettered it).
    for body in world.queued():
        if body["event"]["id"] == second["id"]:
            world.queue.send(DeliveryMessage.from_json(body))
    world.run()
    assert receiver.received == []  # the second waits for the first
    world.clock.advance(3601)
    world.run()
    assert [e["id"] for e in receiver.events()] == [second["id"]]


def test_a_crash_between_recording_a_failure_and_queueing_its_retry_loses_nothing(
    stack: Stack, world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.script = [500]
    hook, secret = world.subscribe(receiver.url)
    world.fanout.fan_out(SITE, [key_event("k1", 1)])
    [body] = world.queued()
    message = DeliveryMessage.from_json(body)
    send = world.queue.send

    def crash(retry: DeliveryMessage, delay_seconds: int = 0) -> None:
        raise RuntimeError("the function died before the retry was queued")

    monkeypatch.setattr(world.queue, "send", crash)
    with pytest.raises(RuntimeError):
        world.deliverer.handle(message)
    monkeypatch.setattr(world.queue, "send", send)
    # SQS hands the message (never deleted) over again: the retry is queued now.
    assert world.deliverer.handle(message) == "duplicate"
    world.run()
    assert [_verify(secret, r)["id"] for r in receiver.received] == [key_event("k1", 1)["id"]] * 2
    assert [e["outcome"] for e in world.log(hook)] == ["delivered", "retrying"]
