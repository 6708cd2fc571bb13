"""A stack for the Lambda handlers under moto: the table from the template, the queues and
secrets the template's functions are given, a fake mobile-access cloud over real HTTP, and
helpers that invoke the handlers with the event shapes AWS sends them."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keyworker.adapters.secrets_keyring import SecretsManagerKeyring
from keyworker.credentials import Algorithm
from keyworker.infra_template import create_tables
from keyworker.local.apigw import LambdaContext, build_http_api_event
from keyworker.local.sqs_poller import QueuePoller

STACK = "kwtest"
TABLE = "kwtest-state"
EVENTS_TABLE = "kwtest-events"
SITE = "site-1"
OTHER_SITE = "site-2"
KEYS_PREFIX = "kwtest"
PHONE = "+41 79 123 45 67"
PHONE_E164 = "+41791234567"
MAX_RECEIVE_COUNT = 3
# Every form of the test phone number that must never reach a log line.
PHONE_FORMS = (PHONE_E164, "41791234567", "791234567", "79 123 45 67", "+41 79 123 45 67")


# ----------------------------------------------------------------- the mobile-access cloud


@dataclass
class MobileAccessCloud:
    """A fake mobile-access cloud on 127.0.0.1: records requests, answers as told."""

    requests: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = field(
        default_factory=list
    )
    # Statuses to answer next, in order; then 200 (204 for DELETE).
    script: list[int] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                cloud.requests.append(
                    (
                        self.command,
                        self.path,
                        json.loads(raw) if raw else None,
                        {k.lower(): v for k, v in self.headers.items()},
                    )
                )
                status = cloud.script.pop(0) if cloud.script else 200
                if status == 200 and self.command == "DELETE":
                    status = 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            do_PUT = do_DELETE = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for the loop's next look (0.5 s by default,
        # paid at every test's teardown).
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def delivered(self) -> list[tuple[str, dict[str, Any]]]:
        return [(path, body or {}) for method, path, body, _ in self.requests if method == "PUT"]

    def revoked(self) -> list[str]:
        return [path for method, path, _, _ in self.requests if method == "DELETE"]


# ----------------------------------------------------------------------------- the stack


@dataclass
class Queue:
    url: str
    arn: str
    dlq_url: str


def create_queue_pair(sqs: Any, name: str, *, visibility: int = 0) -> Queue:
    """A queue and its DLQ named as the template names them (``<stack>-<name>[-dlq]``)."""
    dlq_url = sqs.create_queue(QueueName=f"{STACK}-{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"{STACK}-{name}",
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
            ),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queue(url, arn, dlq_url)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", self.headers.get("content-type", ""))


@dataclass
class Stack:
    dynamodb: Any
    sqs: Any
    secrets: Any
    jobs: Queue
    events: Queue
    door_commands: Queue
    mobile: MobileAccessCloud
    env: dict[str, str]
    webhook_deliveries: Queue

    # ------------------------------------------------------------------------- api Lambda

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        sites: Sequence[str] | None = (SITE,),
        headers: Mapping[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> Response:
        from keyworker.handlers import api

        payload = raw_body if raw_body is not None else b"" if body is None else json.dumps(body)
        if isinstance(payload, str):
            payload = payload.encode()
        all_headers = {"content-type": "application/json", **dict(headers or {})}
        claims = None if sites is None else {"sub": "admin-1", "sites": " ".join(sites)}
        url = path if path.startswith("/v1/") else f"/v1/sites/{SITE}{path}"
        event = build_http_api_event(method, url, all_headers, payload, claims)
        result = api.handler(event, LambdaContext("keyworker-api"))
        text = result.get("body") or ""
        return Response(
            status=int(result["statusCode"]),
            headers=dict(result.get("headers") or {}),
            body=json.loads(text) if text else None,
        )

    # ---------------------------------------------------------------------- queue Lambdas

    def poller(self, queue: Queue, function: str) -> QueuePoller:
        from keyworker.handlers import events, webhooks, worker

        handler = {
            "worker": worker.handler,
            "events": events.handler,
            "webhooks": webhooks.handler,
        }[function]
        return QueuePoller(
            self.sqs, queue.url, queue.arn, handler, function_name=function, wait_seconds=0
        )

    def drain(self, queue: Queue, function: str, *, rounds: int = 20) -> QueuePoller:
        """Run the function on the queue until it is empty (or ``rounds`` batches)."""
        poller = self.poller(queue, function)
        for _ in range(rounds):
            if poller.poll_once() == 0:
                break
        return poller

    def run_jobs(self) -> QueuePoller:
        return self.drain(self.jobs, "worker")

    def queued(self, queue: Queue) -> list[dict[str, Any]]:
        """Bodies of the messages in a queue, removing them."""
        bodies = []
        while True:
            got = self.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])

    def peek_jobs(self) -> list[dict[str, Any]]:
        """The jobs waiting in the jobs queue (they stay there)."""
        got = self.sqs.receive_message(
            QueueUrl=self.jobs.url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def send_event(self, event: Mapping[str, Any] | str) -> None:
        body = event if isinstance(event, str) else json.dumps(event)
        self.sqs.send_message(QueueUrl=self.events.url, MessageBody=body)

    def door(self, door_id: str, *, connectivity: str = "offline", kind: str = "unit") -> None:
        response = self.api(
            "PUT",
            f"/doors/{door_id}",
            {"name": f"Door {door_id}", "kind": kind, "connectivity": connectivity},
        )
        assert response.status == 200, response.body


def sqs_event(bodies: Sequence[str], *, arn: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{i}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1767571200000",
                    "SenderId": "000000000000",
                    "ApproximateFirstReceiveTimestamp": "1767571200000",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def cloud_event(
    event_type: str, data: Mapping[str, Any], *, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "test/field",
        "type": event_type,
        "time": "2026-01-05T08:00:00Z",
        "data": dict(data),
    }


def build_stack(
    dynamodb: Any, sqs: Any, secrets: Any, mobile_url: str, mobile: MobileAccessCloud
) -> Stack:
    create_tables(dynamodb, names={"KeyworkerTable": TABLE, "KeyworkerEventsTable": EVENTS_TABLE})
    jobs = create_queue_pair(sqs, "jobs")
    events = create_queue_pair(sqs, "events")
    door_commands = create_queue_pair(sqs, "door-commands")
    webhook_deliveries = create_queue_pair(sqs, "webhook-deliveries")
    phone_secret = secrets.create_secret(
        Name=f"{KEYS_PREFIX}/phone-hash-key",
        SecretString=base64.b64encode(b"p" * 32).decode(),
    )["ARN"]
    keyring = SecretsManagerKeyring(secrets, prefix=KEYS_PREFIX)
    for site, algorithm in ((SITE, Algorithm.ES256), (OTHER_SITE, Algorithm.EDDSA)):
        keyring.create_site(site, algorithm=algorithm, signing_kid="s1", door_master_kid="d1")
    env = {
        "TABLE_NAME": TABLE,
        "EVENTS_TABLE_NAME": EVENTS_TABLE,
        "PHONE_HASH_SECRET_ID": phone_secret,
        "KEYS_SECRET_PREFIX": KEYS_PREFIX,
        "JOBS_QUEUE_URL": jobs.url,
        "DOOR_COMMANDS_QUEUE_URL": door_commands.url,
        "MOBILE_ACCESS_URL": mobile_url,
        "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
        "STALE_SYNC_SECONDS": "300",
        "WEBHOOK_QUEUE_URL": webhook_deliveries.url,
        "WEBHOOK_DLQ_URL": webhook_deliveries.dlq_url,
        # Receivers in tests listen on 127.0.0.1; no webhook URL makes a DNS query.
        "WEBHOOK_ALLOW_LOOPBACK": "true",
    }
    return Stack(
        dynamodb, sqs, secrets, jobs, events, door_commands, mobile, env, webhook_deliveries
    )


def iter_json_lines(text: str) -> Iterator[dict[str, Any]]:
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
