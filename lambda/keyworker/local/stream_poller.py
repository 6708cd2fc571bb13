"""What a Lambda event source mapping does for a DynamoDB stream, against any Streams endpoint.

Reads each shard in order (DescribeStream, GetShardIterator, GetRecords), builds the DynamoDB
Streams event a function gets and calls the handler. The checkpoint moves as Lambda moves it
with ``ReportBatchItemFailures``: past the whole batch on success, to just before the first
reported record otherwise; a function error leaves it where it was. A batch that keeps failing
is given up after ``maximum_retry_attempts`` retries (``MaximumRetryAttempts``) and counted in
``stats.discarded`` (on AWS its description would go to the on-failure destination).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from keyworker.local.apigw import LambdaContext

LambdaHandler = Callable[[dict[str, Any], Any], Mapping[str, Any] | None]

logger = logging.getLogger(__name__)


def streams_client(endpoint_url: str | None = None) -> Any:
    """A DynamoDB Streams client that moto routes (boto3's account-id endpoints it does not),
    whose GetRecords answers carry the records as they came over the wire (see
    :func:`_records_as_sent`)."""
    factory: Any = boto3.client
    client = factory(
        "dynamodbstreams",
        endpoint_url=endpoint_url,
        config=Config(account_id_endpoint_mode="disabled"),
    )
    client.meta.events.register("before-parse.dynamodb-streams.GetRecords", _records_as_sent)
    return client


def _records_as_sent(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """GetRecords' records as the event source hands them to a function: the response's own
    JSON, where each item image already is DynamoDB JSON. boto3 would walk every attribute
    of every image through the model only to give back the same dictionaries (and the time
    as a datetime): with whole key items in both images, that walk was a tenth of the local
    stack's time. Errors are left to boto3's parser."""
    if response_dict.get("status_code") != 200:
        return
    body = json.loads(response_dict["body"])
    customized_response_dict["Records"] = body.get("Records", [])
    if "NextShardIterator" in body:
        customized_response_dict["NextShardIterator"] = body["NextShardIterator"]
    response_dict["body"] = b"{}"


@dataclass
class StreamPollerStats:
    batches: int = 0
    records: int = 0
    handler_errors: int = 0
    retried: int = 0
    discarded: int = 0


@dataclass
class _Shard:
    shard_id: str
    checkpoint: str | None = None  # last sequence number done
    iterator: str | None = None
    failures: int = 0


@dataclass
class StreamPoller:
    streams: Any  # a boto3 dynamodbstreams client
    stream_arn: str
    handler: LambdaHandler
    function_name: str
    batch_size: int = 100
    maximum_retry_attempts: int = 10
    #: The mapping's ``MaximumBatchingWindowInSeconds``: records are gathered this long after
    #: the first of a batch before the function is invoked, unless a full batch is there
    #: sooner (0: each read's records at once).
    batching_window_seconds: float = 0.0
    #: How long an idle poller waits between reads (Lambda polls a shard about 4 times a second).
    idle_seconds: float = 0.25
    #: How often the shard list is read again (shards split and close over time).
    describe_every_seconds: float = 10.0
    stats: StreamPollerStats = field(default_factory=StreamPollerStats)
    _shards: dict[str, _Shard] = field(default_factory=dict)
    _described_at: float = float("-inf")
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"stream-{self.function_name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.poll_once() == 0:
                    self._stop.wait(self.idle_seconds)
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("polling the stream for %s failed", self.function_name)
                self._stop.wait(1.0)

    def drain(self, rounds: int = 50) -> int:
        """Poll until a round finds nothing new (tests); returns the records handed over."""
        total = 0
        for _ in range(rounds):
            got = self.poll_once()
            total += got
            if got == 0:
                break
        return total

    def _describe(self) -> None:
        now = time.monotonic()
        if now - self._described_at < self.describe_every_seconds and self._shards:
            return
        self._described_at = now
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            self._shards.setdefault(shard["ShardId"], _Shard(shard["ShardId"]))

    def _iterator(self, shard: _Shard) -> str | None:
        if shard.iterator is None:
            position: dict[str, Any] = (
                {"ShardIteratorType": "TRIM_HORIZON"}
                if shard.checkpoint is None
                else {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "SequenceNumber": shard.checkpoint,
                }
            )
            shard.iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard.shard_id, **position
            )["ShardIterator"]
        return shard.iterator

    def poll_once(self) -> int:
        """One GetRecords per shard, each batch handed to the function; returns how many
        records were handed over."""
        self._describe()
        handed = 0
        for shard in list(self._shards.values()):
            iterator = self._iterator(shard)
            if iterator is None:
                continue
            records = self._gather(shard, iterator)
            if not records:
                continue
            handed += len(records)
            self._deliver(shard, records)
        return handed

    def _gather(self, shard: _Shard, iterator: str) -> list[dict[str, Any]]:
        """One batch of the shard's records: what one read finds, or with a batching window,
        what the reads find from the first record until the window closes or the batch is
        full (as the event source mapping gathers them)."""
        records: list[dict[str, Any]] = []
        closes: float | None = None
        while True:
            response = self.streams.get_records(
                ShardIterator=iterator, Limit=self.batch_size - len(records)
            )
            records.extend(response.get("Records", []))
            shard.iterator = response.get("NextShardIterator")
            if not records or self.batching_window_seconds <= 0:
                return records
            if len(records) >= self.batch_size or shard.iterator is None:
                return records
            now = time.monotonic()
            if closes is None:
                closes = now + self.batching_window_seconds
            if now >= closes or self._stop.wait(min(self.idle_seconds, closes - now)):
                return records
            iterator = shard.iterator

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        self.stats.batches += 1
        event = {"Records": [self._record(r) for r in records]}
        numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        try:
            result = self.handler(event, LambdaContext(self.function_name))
            failures = [
                str(f.get("itemIdentifier")) for f in (result or {}).get("batchItemFailures", [])
            ]
            first_failed = min((numbers.index(f) for f in failures if f in numbers), default=None)
            if failures and first_failed is None:
                first_failed = 0  # an identifier not in the batch: the batch failed
        except Exception:
            self.stats.handler_errors += 1
            logger.exception("%s failed on a stream batch of %d", self.function_name, len(records))
            first_failed = 0
        done = len(records) if first_failed is None else first_failed
        if done:
            shard.checkpoint = numbers[done - 1]
            self.stats.records += done
        if first_failed is None:
            shard.failures = 0
            return
        shard.failures += 1
        shard.iterator = None  # read again from the checkpoint
        if shard.failures > self.maximum_retry_attempts:
            # Given up, as the mapping does after MaximumRetryAttempts: skip the failed record.
            logger.error("%s: stream record %s discarded", self.function_name, numbers[done])
            shard.checkpoint = numbers[done]
            shard.failures = 0
            self.stats.discarded += 1
        else:
            self.stats.retried += 1

    def _record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        stream = dict(record["dynamodb"])
        created = stream.get("ApproximateCreationDateTime")
        if isinstance(created, dt.datetime):
            # The Lambda event carries epoch seconds (a client parsing GetRecords gives a
            # datetime).
            stream["ApproximateCreationDateTime"] = created.timestamp()
        return {
            "eventID": record.get("eventID"),
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", "us-east-1"),
            "dynamodb": stream,
            "eventSourceARN": self.stream_arn,
        }
