"""The one DynamoDB client wrapper of keyworker: every call to the table goes through
:class:`TableClient`, which turns ``ClientError`` codes into domain errors (by type, with
``raise ... from``) and retries throttling with one policy (:class:`Backoff`), on top of
botocore's own retries. Batches (BatchGetItem 100 keys, BatchWriteItem 25 puts) send their
unprocessed part again under the same policy.

Reads (GetItem, BatchGetItem, Query, Scan) are taken as DynamoDB sent them
(:func:`_reads_as_sent`): their items already are the DynamoDB JSON this module hands on.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from keyworker.errors import ConcurrentUpdate, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


class Backoff:
    """Retries a call that DynamoDB throttled (``StoreUnavailable``), waiting a random time
    up to an exponentially growing cap ("full jitter"), so that many writers throttled together
    do not come back together."""

    def __init__(
        self,
        attempts: int = 8,
        base_seconds: float = 0.02,
        cap_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.attempts = attempts
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.sleep = sleep

    def wait(self, attempt: int) -> None:
        self.sleep(random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt)))

    def call(self, operation: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return operation()
            except StoreUnavailable:
                if attempt == self.attempts - 1:
                    raise
                self.wait(attempt)
        raise AssertionError("unreachable")  # pragma: no cover


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: The operations whose answers :func:`_reads_as_sent` takes as sent.
READS = ("GetItem", "BatchGetItem", "Query", "Scan")


def _reads_as_sent(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """A read's answer as DynamoDB sent it. Its items are DynamoDB JSON, which is what
    botocore's parser gives back too, after walking every attribute of every item through
    the service model: half the client's CPU time of a BatchGetItem of 30 key items
    (docs/local-stack.md). The one difference is binary values (``B``, ``BS``), which the
    parser decodes from base64: an answer that may hold one (``"B"`` or ``"BS"`` anywhere,
    also as an attribute's name) is left to the parser, as are errors. botocore still adds its
    ``ResponseMetadata``; the answer's own members are merged over the parser's (empty)
    result (botocore's documented ``before-parse`` event)."""
    if response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body")
    if not isinstance(body, bytes) or b'"B"' in body or b'"BS"' in body:
        return
    customized_response_dict.update(json.loads(body))
    response_dict["body"] = b"{}"


def take_reads_as_sent(client: Any) -> None:
    """Register :func:`_reads_as_sent` on a DynamoDB client (once, however often called)."""
    for operation in READS:
        client.meta.events.register(
            f"before-parse.dynamodb.{operation}",
            _reads_as_sent,
            unique_id=f"keyworker-reads-as-sent-{operation}",
        )


class TableClient:
    """One table through one boto3 client: calls, errors, retries, batches."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, backoff: Backoff | None = None
    ) -> None:
        self.client = client
        self.table = table_name
        self.backoff = backoff or Backoff()
        take_reads_as_sent(client)

    def call(self, operation: Callable[..., T], **kwargs: Any) -> T:
        """One DynamoDB call, throttling retried with backoff; errors as domain errors
        (a failed condition is :class:`ConcurrentUpdate`)."""

        def once() -> T:
            try:
                return operation(**kwargs)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "ConditionalCheckFailedException":
                    # With ReturnValuesOnConditionCheckFailure=ALL_OLD the item comes back.
                    raise ConcurrentUpdate(
                        "the item changed since it was read", current=error.response.get("Item")
                    ) from error
                if code in THROTTLING_CODES:
                    raise StoreUnavailable(
                        f"DynamoDB is throttling or unavailable ({code})"
                    ) from error
                raise StoreError(f"DynamoDB rejected the request ({code})") from error
            except BotoCoreError as error:
                raise StoreUnavailable(f"DynamoDB could not be reached: {error}") from error

        return self.backoff.call(once)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.call(
            self.client.get_item,
            TableName=self.table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
        )
        return response.get("Item")

    def batch_get(
        self, keys: Iterable[tuple[str, str]], projection: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Items by key (strongly consistent), 100 per call; unprocessed keys asked again."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(keys))
        for part in _chunks(unique, BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in part],
                "ConsistentRead": True,
                **(projection or {}),
            }
            pending: dict[str, Any] = {self.table: request}
            for attempt in range(self.backoff.attempts):
                response = self.call(self.client.batch_get_item, RequestItems=pending)
                found.extend(response.get("Responses", {}).get(self.table, []))
                pending = dict(response.get("UnprocessedKeys") or {})
                if not pending:
                    break
                self.backoff.wait(attempt)
            else:
                raise StoreUnavailable("DynamoDB left keys of a batch read unprocessed")
        return found

    def batch_put(self, items: Iterable[dict[str, Any]]) -> int:
        """Unconditional puts, 25 per BatchWriteItem; unprocessed items are sent again.
        Returns the number of BatchWriteItem calls."""
        calls = 0
        for part in _chunks(list(items), BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {self.table: [{"PutRequest": {"Item": i}} for i in part]}
            for attempt in range(self.backoff.attempts):
                calls += 1
                response = self.call(self.client.batch_write_item, RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})
                if not pending:
                    break
                self.backoff.wait(attempt)
            else:
                raise StoreUnavailable("DynamoDB left items of a batch write unprocessed")
        return calls

    def query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            response = self.call(self.client.query, TableName=self.table, **kwargs)
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            kwargs["ExclusiveStartKey"] = last
