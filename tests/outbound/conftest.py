"""Outbound events against moto in-process: the handler tests' stack plus the table's stream
(read by the local stream poller, which calls the stream function as the event source mapping
does), an EventBridge bus whose rule copies every keyworker event into an SQS queue, and a
collecting webhook fan-out plugged in where the real one goes (``wiring._stream_fanout``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from handlers.handler_harness import MobileAccessCloud, Stack, build_stack
from moto import mock_aws
from moto_state import fake_aws_environment, make_emulator_atomic

from keyworker.handlers import stream as stream_handler
from keyworker.handlers import wiring
from keyworker.local.stream_poller import StreamPoller, streams_client

BUS = "kwtest-events"


@dataclass
class CollectingFanout:
    """The webhook port's fake: what each call handed over, in order."""

    calls: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def fan_out(self, site_id: str, events: Sequence[Mapping[str, Any]]) -> None:
        self.calls.append((site_id, [dict(e) for e in events]))

    def events(self) -> list[dict[str, Any]]:
        return [e for _, events in self.calls for e in events]


@dataclass
class Outbox:
    stack: Stack
    poller: StreamPoller
    webhooks: CollectingFanout
    bus_queue_url: str
    bus_arn: str

    def process(self) -> int:
        """Run the stream function over every new stream record."""
        return self.poller.drain()

    def bus_events(self) -> list[dict[str, Any]]:
        """The CloudEvents the bus rule delivered (each an EventBridge event's detail)."""
        got: list[dict[str, Any]] = []
        sqs = self.stack.sqs
        while True:
            messages = sqs.receive_message(QueueUrl=self.bus_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return got
            for message in messages:
                envelope = json.loads(message["Body"])
                assert envelope["source"] == "keyworker"
                assert envelope["detail-type"] == envelope["detail"]["type"]
                got.append(envelope["detail"])
                sqs.delete_message(
                    QueueUrl=self.bus_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def feed(self, query: str = "", *, site: str | None = None) -> Any:
        if site is None:
            return self.stack.api("GET", f"/events{query}")
        return self.stack.api("GET", f"/v1/sites/{site}/events{query}", sites=(site,))


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbox]:
    fake_aws_environment(monkeypatch)
    make_emulator_atomic(monkeypatch)
    cloud = MobileAccessCloud()
    url = cloud.start()
    with mock_aws():
        stack = build_stack(
            boto3.client("dynamodb"),
            boto3.client("sqs"),
            boto3.client("secretsmanager"),
            url,
            cloud,
        )
        for name, value in stack.env.items():
            monkeypatch.setenv(name, value)
        events = boto3.client("events")
        bus_arn = events.create_event_bus(Name=BUS)["EventBusArn"]
        queue_url = stack.sqs.create_queue(QueueName="kwtest-bus-copy")["QueueUrl"]
        queue_arn = stack.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="all-keyworker",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": ["keyworker"]}),
        )
        events.put_targets(
            Rule="all-keyworker", EventBusName=BUS, Targets=[{"Id": "copy", "Arn": queue_arn}]
        )
        monkeypatch.setenv("EVENT_BUS_NAME", BUS)
        webhooks = CollectingFanout()
        monkeypatch.setattr(wiring, "_stream_fanout", lambda common: webhooks)
        # The feed shows settled events only; the tests read at once.
        monkeypatch.setattr("keyworker.outbound.feed.SETTLE_SECONDS", 0.0)
        wiring.reset()
        table = stack.dynamodb.describe_table(TableName=stack.env["TABLE_NAME"])["Table"]
        poller = StreamPoller(
            streams_client(), table["LatestStreamArn"], stream_handler.handler, "stream"
        )
        yield Outbox(stack, poller, webhooks, queue_url, str(bus_arn))
        wiring.reset()
    cloud.stop()
