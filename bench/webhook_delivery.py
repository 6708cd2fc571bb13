"""Webhook delivery against ``keyworker local``: how many events per second the delivery
function sustains to a receiver on 127.0.0.1, and the latency from the fan-out (the moment
``SqsWebhookFanout.fan_out`` returns) to the receiver having the event, p50/p95.

Starts ``keyworker local`` (a subprocess, its default 3 pollers of the delivery queue),
subscribes a receiver (an ``http.server`` answering 200 at once, verifying nothing) through the
HTTP API, then

- throughput: fans out ``--events`` events at once (by default each of its own key, so the
  order rule holds none back; ``--subjects N`` spreads them over N keys) and times until the
  receiver has all of them;
- latency: fans out ``--paced`` events one at a time, every ``--interval`` seconds, and
  measures each one's fan-out → receipt time;
- state change → receiver: issues ``--state-changes`` cards through the HTTP API one at a
  time and measures from the API's answer (the key is written before it answers) to the
  receiver having that key's ``key.created``: the whole path (the table's stream, the stream
  function, the fan-out, the delivery queue, the delivery function).

    .venv/bin/python bench/webhook_delivery.py
    .venv/bin/python bench/webhook_delivery.py --events 200 --paced 50   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import urllib3

from keyworker.adapters.dynamodb.client import TableClient
from keyworker.local.tokens import LocalTokenIssuer
from keyworker.outbound.webhooks.fanout import SqsWebhookFanout
from keyworker.outbound.webhooks.queue import SqsDeliveryQueue
from keyworker.outbound.webhooks.store import WebhookStore

SITE = "bench"
RESULTS = Path(__file__).resolve().parent / "results" / "webhook_delivery.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        bench = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                now = time.monotonic()
                event_id = json.loads(body)["id"]
                with bench.lock:
                    bench.arrivals.setdefault(event_id, now)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(i in self.arrivals for i in ids):
                    return
            time.sleep(0.01)
        raise SystemExit(f"only {len(self.arrivals)} of the events arrived in {timeout:.0f} s")


def event(key: str, seq: int) -> dict[str, Any]:
    sequence = f"{seq:020d}"
    return {
        "specversion": "1.0",
        "id": f"keys/{key}/{sequence}",
        "source": f"keyworker/sites/{SITE}",
        "type": "key.status_changed",
        "subject": f"keys/{key}",
        "time": "2026-11-29T18:00:00Z",
        "datacontenttype": "application/json",
        "sequence": sequence,
        "siteid": SITE,
        "data": {"key_id": key, "action": "bench", "n": seq},
    }


def start_stack() -> tuple[subprocess.Popen[str], Path, dict[str, str]]:
    """``keyworker local`` on free ports, simulators off; its api and aws endpoints."""
    state = Path(tempfile.mkdtemp(prefix="kw-bench-hooks-"))
    env = {**os.environ, "KEYWORKER_STATE_DIR": str(state / ".keyworker")}
    env.pop("AWS_ENDPOINT_URL", None)
    port = free_port()
    stack = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keyworker.cli",
            "local",
            "--port",
            str(port),
            "--aws-port",
            "0",
            "--simulate",
            "none",
            # As on AWS, a message stays invisible far longer than one batch takes (the
            # local default, 5 s, lets a slow batch's messages be handled twice).
            "--visibility-timeout",
            "60",
        ],
        cwd=state,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert stack.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = stack.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    endpoints: dict[str, str] = {}
    while "api" not in endpoints or "aws" not in endpoints:
        name, _, value = lines.get(timeout=120).partition(": ")
        if name in ("api", "aws"):
            endpoints[name] = value.strip()
    return stack, state, endpoints


def state_change_latencies(
    http: urllib3.PoolManager,
    api: str,
    token: str,
    receiver: Receiver,
    count: int,
    interval: float,
) -> list[float]:
    """Milliseconds from the API's answer to a card's creation (its key is written before the
    answer) to the receiver having that key's ``key.created``, one card at a time."""
    # State change → receiver: a card issued through the API, its key.created received.
    auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    door = http.request(
        "PUT",
        f"{api}/v1/sites/{SITE}/doors/bench-door",
        body=json.dumps({"name": "Bench", "kind": "unit", "connectivity": "offline"}).encode(),
        headers=auth,
    )
    assert door.status < 300, door.data
    changes = []
    for n in range(count):
        answer = http.request(
            "POST",
            f"{api}/v1/sites/{SITE}/access-media",
            body=json.dumps(
                {
                    "holder_id": f"h{n}",
                    "card_uid": f"04{n:08X}",
                    "door_ids": ["bench-door"],
                    "valid_from": "2026-01-01T00:00:00Z",
                }
            ).encode(),
            headers={**auth, "Idempotency-Key": f"bench-{n}"},
        )
        answered = time.monotonic()
        assert answer.status < 300, answer.data
        created_id = f"keys/{json.loads(answer.data)['key_id']}/{1:020d}"
        receiver.wait_for([created_id], timeout=60)
        changes.append((receiver.arrivals[created_id] - answered) * 1000)
        time.sleep(interval)
    return changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument(
        "--subjects",
        type=int,
        default=0,
        help="keys the events are spread over (0: one each; fewer: the order rule holds "
        "later events of a key back until the earlier one is delivered)",
    )
    parser.add_argument("--paced", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--state-changes", type=int, default=50)
    args = parser.parse_args()

    stack, state, endpoints = start_stack()
    try:
        receiver = Receiver()
        token = LocalTokenIssuer.for_state_dir(state / ".keyworker").issue([SITE])
        http = urllib3.PoolManager()
        created = http.request(
            "POST",
            f"{endpoints['api']}/v1/sites/{SITE}/webhooks",
            body=json.dumps({"url": receiver.url}).encode(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert created.status == 201, created.data
        clients = {
            name: boto3.client(
                name,
                endpoint_url=endpoints["aws"],
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for name in ("sqs", "dynamodb")
        }
        urls = clients["sqs"].list_queues()["QueueUrls"]
        queue_url = next(u for u in urls if u.endswith("-webhook-deliveries"))
        table = next(t for t in clients["dynamodb"].list_tables()["TableNames"])
        fanout = SqsWebhookFanout(
            WebhookStore(TableClient(clients["dynamodb"], table)),
            SqsDeliveryQueue(clients["sqs"], queue_url),
        )

        # Throughput: everything at once, in batches of 25 per fan-out call (as a stream
        # batch would hand them over), sequence order per subject.
        subjects = args.subjects or args.events
        batch = [event(f"k{n % subjects}", 1 + n // subjects) for n in range(args.events)]
        started = time.monotonic()
        for start in range(0, len(batch), 25):
            fanout.fan_out(SITE, batch[start : start + 25])
        fanned = time.monotonic()
        receiver.wait_for([e["id"] for e in batch], timeout=600)
        finished = max(receiver.arrivals[e["id"]] for e in batch)
        first = min(receiver.arrivals[e["id"]] for e in batch)
        throughput = args.events / (finished - started)

        # Latency: one event at a time, paced, so nothing queues up behind others.
        latencies = []
        for n in range(args.paced):
            one = event(f"paced{n}", 1)
            fanout.fan_out(SITE, [one])
            sent = time.monotonic()
            receiver.wait_for([one["id"]], timeout=60)
            latencies.append((receiver.arrivals[one["id"]] - sent) * 1000)
            time.sleep(args.interval)
        latencies.sort()

        changes = state_change_latencies(
            http, endpoints["api"], token, receiver, args.state_changes, args.interval
        )
        changes.sort()
        result = {
            "events": args.events,
            "subjects": subjects,
            "fan_out_seconds": round(fanned - started, 2),
            "end_to_end_seconds": round(finished - started, 2),
            "events_per_second": round(throughput, 1),
            # Deliveries overlap the fan-out; this is the receiver's view alone.
            "delivered_per_second_first_to_last": round(args.events / (finished - first), 1),
            "fanned_out_per_second": round(args.events / (fanned - started), 1),
            "paced_events": args.paced,
            "latency_ms_p50": round(statistics.median(latencies), 1),
            "latency_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
            "state_changes": args.state_changes,
            "state_change_to_receiver_ms_p50": round(statistics.median(changes), 1),
            "state_change_to_receiver_ms_p95": round(changes[int(0.95 * (len(changes) - 1))], 1),
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        }
        print(json.dumps(result, indent=2))
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        stack.send_signal(2)
        stack.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
