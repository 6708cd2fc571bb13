"""Webhooks against ``keyworker local`` (a subprocess): a receiver registered through the HTTP
API gets the ``webhook.test`` event over real HTTP, signed and verified by the
``standardwebhooks`` library; ``keyworker listen`` registers itself, prints the event and
deletes its subscription on SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from local_stack_harness import Api, RunningStack, eventually, start_stack, stop_stack
from standardwebhooks import Webhook
from webhook_receiver import Receiver

pytestmark = pytest.mark.e2e
SITE = "hooks"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("webhooks"))
    yield running
    output = stop_stack(running)
    assert running.process.returncode == 0, output


def test_a_registered_receiver_gets_the_test_event_signed(stack: RunningStack) -> None:
    api = Api(stack.api, stack.token(SITE), SITE)
    receiver = Receiver().start()
    try:
        created = api.ok("POST", "/webhooks", {"url": receiver.url, "event_types": ["key.*"]})
        queued = api.ok("POST", f"/webhooks/{created['id']}/test")
        eventually(lambda: receiver.received, "the test event at the receiver")
        [got] = receiver.received
        event = Webhook(created["secret"]).verify(got.body, got.headers)
        assert event["type"] == "webhook.test"
        assert event["siteid"] == SITE
        assert got.headers["webhook-id"] == queued["webhook_id"]
        eventually(
            lambda: api.ok("GET", f"/webhooks/{created['id']}/deliveries")["items"],
            "the delivery in the log",
        )
        [entry] = api.ok("GET", f"/webhooks/{created['id']}/deliveries")["items"]
        assert (entry["outcome"], entry["status_code"]) == ("delivered", 200)
        status, _ = api.call("DELETE", f"/webhooks/{created['id']}")
        assert status == 204
    finally:
        receiver.stop()


def test_keyworker_listen_prints_verified_events_and_unsubscribes(stack: RunningStack) -> None:
    api = Api(stack.api, stack.token(SITE), SITE)
    env = {**os.environ, "KEYWORKER_STATE_DIR": str(stack.state_dir)}
    listen = subprocess.Popen(
        [sys.executable, "-m", "keyworker.cli", "listen", "--site", SITE, "--api", stack.api],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert listen.stdout is not None
    stdout = listen.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    try:
        first = lines.get(timeout=30)
        assert first.startswith("listening on http://127.0.0.1:"), first
        hook = first.split(" as webhook ", 1)[1].split()[0]
        assert hook in {w["id"] for w in api.ok("GET", "/webhooks")["items"]}
        api.ok("POST", f"/webhooks/{hook}/test")
        printed = lines.get(timeout=30)
        assert " webhook.test webhooks/" in printed, printed
        assert "a test event from keyworker" in printed
    finally:
        listen.send_signal(signal.SIGTERM)
        listen.wait(timeout=30)
    rest = "".join(lines.get_nowait() for _ in range(lines.qsize()))
    assert listen.returncode == 0, rest
    assert "subscription deleted" in rest
    assert "1 events, 0 duplicates dropped, 0 refused" in rest
    assert hook not in {w["id"] for w in api.ok("GET", "/webhooks")["items"]}
