"""The local stream poller checkpoints as Lambda's DynamoDB stream event source mapping does:
past a batch that succeeded, to just before the first reported failure, nowhere on a function
error, and past a record that failed every retry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from moto_state import fake_aws_environment

from keyworker.infra_template import create_tables
from keyworker.local.stream_poller import StreamPoller, _records_as_sent, streams_client

TABLE = "poller-test"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_tables(client, names={"KeyworkerTable": TABLE}, only=["KeyworkerTable"])
        arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        yield client, arn


def _put(client: Any, n: int) -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": f"{n:03d}"}})


def _sks(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["sk"]["S"] for r in event["Records"]]


def test_records_arrive_as_a_lambda_event_in_order(table: tuple[Any, str]) -> None:
    client, arn = table
    for n in range(5):
        _put(client, n)
    seen: list[dict[str, Any]] = []
    poller = StreamPoller(streams_client(), arn, lambda e, c: seen.append(e) or None, "f")
    assert poller.drain() == 5
    [event] = seen
    record = event["Records"][0]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == arn
    assert record["eventName"] == "INSERT"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], float)
    assert _sks(event) == ["000", "001", "002", "003", "004"]
    _put(client, 5)
    assert poller.drain() == 1
    assert _sks(seen[-1]) == ["005"]


def test_a_reported_failure_is_redelivered_from_that_record(table: tuple[Any, str]) -> None:
    client, arn = table
    for n in range(4):
        _put(client, n)
    calls: list[list[str]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(_sks(event))
        if len(calls) == 1:
            third = event["Records"][2]["dynamodb"]["SequenceNumber"]
            return {"batchItemFailures": [{"itemIdentifier": third}]}
        return {"batchItemFailures": []}

    poller = StreamPoller(streams_client(), arn, handler, "f")
    poller.drain()
    assert calls == [["000", "001", "002", "003"], ["002", "003"]]


def test_a_function_error_retries_then_gives_the_record_up(table: tuple[Any, str]) -> None:
    client, arn = table
    _put(client, 0)
    _put(client, 1)
    calls: list[list[str]] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        calls.append(_sks(event))
        if _sks(event)[0] == "000":
            raise RuntimeError("poison")

    poller = StreamPoller(streams_client(), arn, handler, "f", maximum_retry_attempts=2)
    poller.drain()
    assert calls == [["000", "001"]] * 3 + [["001"]]
    assert poller.stats.handler_errors == 3
    assert poller.stats.discarded == 1


def test_get_records_gives_the_records_as_sent(table: tuple[Any, str]) -> None:
    """The poller's client skips boto3's walk of every image: the records it gives are those
    boto3 parses, with the time as epoch seconds (as in the Lambda event) instead of a
    datetime."""
    client, arn = table
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "p"},
            "sk": {"S": "000"},
            "rows": {"M": {"d1": {"L": [{"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
            "doors": {"SS": ["a", "b"]},
        },
    )
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "000"}})

    def records(streams: Any) -> tuple[list[dict[str, Any]], str | None]:
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        answer = streams.get_records(ShardIterator=iterator)
        return answer["Records"], answer.get("NextShardIterator")

    as_sent, next_sent = records(streams_client())
    plain = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    parsed, next_parsed = records(plain)
    assert [r["eventName"] for r in as_sent] == ["INSERT", "REMOVE"]
    assert next_sent is not None
    assert next_parsed is not None
    for raw, model in zip(as_sent, parsed, strict=True):
        created = raw["dynamodb"].pop("ApproximateCreationDateTime")
        assert isinstance(created, int | float)
        assert created == model["dynamodb"].pop("ApproximateCreationDateTime").timestamp()
        assert raw == model
    # An error answer is left to boto3's parser (its error shape, its exception).
    error = {"status_code": 400, "body": b'{"__type": "ExpiredIteratorException"}'}
    customized: dict[str, Any] = {}
    _records_as_sent(error, customized)
    assert customized == {}
    assert error["body"] == b'{"__type": "ExpiredIteratorException"}'


class _WritesWhileRead:
    """A streams client that, on each of its first GetRecords calls, has one more item written
    first: records arriving while the poller gathers a batch."""

    def __init__(self, inner: Any, client: Any, arrivals: int, first: int = 100) -> None:
        self._inner, self._client, self._left, self._n = inner, client, arrivals, first

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_records(self, **kwargs: Any) -> Any:
        answer = self._inner.get_records(**kwargs)
        if self._left > 0:
            self._left -= 1
            _put(self._client, self._n)
            self._n += 1
        return answer


def test_a_batching_window_gathers_the_records_of_several_reads(table: tuple[Any, str]) -> None:
    """MaximumBatchingWindowInSeconds: records that arrive within the window after a batch's
    first one go to the function with it (the template sets 1 s for the stream function);
    without a window, each read's records are a batch."""
    client, arn = table
    _put(client, 0)
    seen: list[dict[str, Any]] = []
    streams = _WritesWhileRead(streams_client(), client, arrivals=3)
    poller = StreamPoller(
        streams,
        arn,
        lambda e, c: seen.append(e) or None,
        "f",
        batching_window_seconds=0.5,
        idle_seconds=0.01,
    )
    assert poller.poll_once() == 4
    assert [_sks(e) for e in seen] == [["000", "100", "101", "102"]]

    # Without a window each read's records are a batch: a record written meanwhile waits.
    batches: list[list[str]] = []
    without = StreamPoller(
        _WritesWhileRead(streams_client(), client, arrivals=1, first=103),
        arn,
        lambda e, c: batches.append(_sks(e)) or None,
        "g",
    )
    assert without.poll_once() == 4
    assert without.poll_once() == 1
    assert batches == [["000", "100", "101", "102"], ["103"]]


def test_the_template_s_batching_window_reaches_the_stream_poller(
    table: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyworker.local.resources import create_stack

    fake_aws_environment(monkeypatch)
    resources = create_stack(
        boto3.client,
        stack_name="kwwindow",
        parameters={
            "JwtIssuer": "i",
            "JwtAudience": "a",
            "PhoneHashSecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:x",
            "MobileAccessUrl": "http://127.0.0.1:9",
        },
    )
    [stream] = resources.stream_sources
    assert (stream.batch_size, stream.batching_window_seconds) == (100, 1.0)
