"""The emulator's speed-ups change nothing a client sees (see ``keyworker.local.moto_shims``).

Two identical tables take the same requests, one answered by moto's own serializer and one by
the shim: every response must parse to the same thing, errors included.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto_state import fake_aws_environment

from keyworker.local import moto_shims
from keyworker.local.emulator import Emulator

Request = tuple[str, dict[str, Any]]


def _item(n: int) -> dict[str, Any]:
    return {
        "pk": {"S": "SITE#s"},
        "sk": {"S": f"KEY#{n:03d}"},
        "gsi_pk": {"S": f"G#{n % 3}"},
        "number": {"N": str(n * 7)},
        "ratio": {"N": "0.125"},
        "blob": {"B": bytes([n, 0, 255, 10])},
        "blobs": {"BS": [b"\x00\x01", bytes([n])]},
        "names": {"SS": ["a", f"n{n}"]},
        "numbers": {"NS": ["1", str(n + 2)]},
        "flag": {"BOOL": n % 2 == 0},
        "nothing": {"NULL": True},
        "rows": {
            "M": {
                "entrance": {"M": {"state": {"S": "deployed"}, "seq": {"N": "3"}}},
                "flat-1": {"M": {"state": {"S": "revocation_pending"}, "seq": {"N": "4"}}},
            }
        },
        "doors": {"L": [{"S": "entrance"}, {"M": {"id": {"S": "flat-1"}}}, {"L": []}]},
        "empty_map": {"M": {}},
    }


def _requests(table: str) -> list[Request]:
    key = {"pk": {"S": "SITE#s"}, "sk": {"S": "KEY#004"}}
    return [
        ("get_item", {"TableName": table, "Key": key}),
        ("get_item", {"TableName": table, "Key": key, "ReturnConsumedCapacity": "TOTAL"}),
        ("get_item", {"TableName": table, "Key": {"pk": {"S": "SITE#s"}, "sk": {"S": "none"}}}),
        (
            "get_item",
            {
                "TableName": table,
                "Key": key,
                "ProjectionExpression": "#r.entrance, blob, doors[1]",
                "ExpressionAttributeNames": {"#r": "rows"},
            },
        ),
        (
            "batch_get_item",
            {
                "RequestItems": {
                    table: {
                        "Keys": [
                            {"pk": {"S": "SITE#s"}, "sk": {"S": f"KEY#{n:03d}"}}
                            for n in (1, 2, 3, 99)
                        ],
                        "ConsistentRead": True,
                    }
                },
                "ReturnConsumedCapacity": "INDEXES",
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
                "ExpressionAttributeValues": {":pk": {"S": "SITE#s"}, ":p": {"S": "KEY#"}},
                "Limit": 4,
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "IndexName": "by-gsi",
                "KeyConditionExpression": "gsi_pk = :g",
                "ExpressionAttributeValues": {":g": {"S": "G#1"}},
                "Select": "COUNT",
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "flag = :t",
                "ExpressionAttributeValues": {":pk": {"S": "SITE#s"}, ":t": {"BOOL": True}},
                "ScanIndexForward": False,
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk AND sk > :after",
                "ExpressionAttributeValues": {":pk": {"S": "SITE#s"}, ":after": {"S": "KEY#002"}},
                "ExclusiveStartKey": {"pk": {"S": "SITE#s"}, "sk": {"S": "KEY#006"}},
                "Limit": 3,
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "SITE#other"}},
                "ScanIndexForward": False,
                "Limit": 2,
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "SITE#nobody"}},
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "IndexName": "by-gsi",
                "KeyConditionExpression": "gsi_pk = :g",
                "ExpressionAttributeValues": {":g": {"S": "G#2"}},
                "ExclusiveStartKey": {
                    "gsi_pk": {"S": "G#2"},
                    "pk": {"S": "SITE#other"},
                    "sk": {"S": "KEY#002"},
                },
                "Limit": 3,
                "ScanIndexForward": False,
            },
        ),
        ("scan", {"TableName": table, "Limit": 3}),
        ("scan", {"TableName": table, "IndexName": "by-gsi", "Limit": 5}),
        (
            "put_item",
            {
                "TableName": table,
                "Item": {**_item(70), "big": {"S": "x" * 300_000}, "bigger": {"B": b"y" * 110_000}},
            },
        ),
        (
            "put_item",
            {"TableName": table, "Item": {**_item(71), "big": {"S": "x" * 404_000}}},
        ),
        ("put_item", {"TableName": table, "Item": _item(50)}),
        ("put_item", {"TableName": table, "Item": _item(4), "ReturnValues": "ALL_OLD"}),
        (
            "put_item",
            {
                "TableName": table,
                "Item": _item(5),
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            "update_item",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET #n = #n + :one, blob = :b ADD names :s REMOVE nothing",
                "ExpressionAttributeNames": {"#n": "number"},
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":b": {"B": b"\x01\x02"},
                    ":s": {"SS": ["z"]},
                },
                "ReturnValues": "ALL_NEW",
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        (
            "update_item",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET ratio = :r",
                "ExpressionAttributeValues": {":r": {"N": "2.5"}},
                "ReturnValues": "UPDATED_OLD",
            },
        ),
        ("delete_item", {"TableName": table, "Key": key, "ReturnValues": "ALL_OLD"}),
        ("delete_item", {"TableName": table, "Key": key}),
        (
            "batch_write_item",
            {
                "RequestItems": {
                    table: [{"PutRequest": {"Item": _item(n)}} for n in range(60, 70)]
                    + [{"DeleteRequest": {"Key": {"pk": {"S": "SITE#s"}, "sk": {"S": "KEY#001"}}}}]
                },
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        ("get_item", {"TableName": "no-such-table", "Key": key}),
        ("describe_table", {"TableName": table}),
    ]


def _create(client: Any, table: str) -> None:
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi_pk")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-gsi",
                "KeySchema": [{"AttributeName": "gsi_pk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for n in range(12):
        client.put_item(TableName=table, Item=_item(n))
    # A second partition, written between the first's items would sort: a query must pick
    # its own partition and answer in key order either way.
    for n in (7, 2, 9, 4):
        client.put_item(TableName=table, Item={**_item(n), "pk": {"S": "SITE#other"}})


def _answer(call: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    try:
        response = call(**kwargs)
    except ClientError as error:
        return {"error": error.response["Error"], "status": error.response["ResponseMetadata"]}
    response.pop("ResponseMetadata", None)
    return response


def _normalised(answer: Any, table: str) -> Any:
    """The answer with the table's name (and describe-table's volatile fields) made neutral."""
    text = json.dumps(answer, default=repr, sort_keys=True).replace(table, "TABLE")
    value = json.loads(text)
    if isinstance(value, dict) and "error" in value:
        value["status"] = value["status"].get("HTTPStatusCode")
    if isinstance(value, dict) and "Table" in value:
        for volatile in ("CreationDateTime", "TableId", "TableArn", "LatestStreamArn"):
            value["Table"].pop(volatile, None)
    return value


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def test_dynamodb_answers_are_the_same_with_the_fast_serializer(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_shims.speed_up_moto(monkeypatch.setattr)
    with monkeypatch.context() as shipped:
        moto_shims.moto_as_shipped(shipped.setattr)
        assert not getattr(DynamoHandler.serialized, "__keyworker_fast__", False)
        _create(client, "moto-own")
    _create(client, "moto-fast")
    for (operation, plain), (_, fast) in zip(
        _requests("moto-own"), _requests("moto-fast"), strict=True
    ):
        with monkeypatch.context() as shipped:
            moto_shims.moto_as_shipped(shipped.setattr)
            expected = _normalised(_answer(getattr(client, operation), plain), "moto-own")
        got = _normalised(_answer(getattr(client, operation), fast), "moto-fast")
        assert got == expected, operation
    # Both tables hold the same items afterwards (the size check let the same ones in).
    scans = [
        _normalised(client.scan(TableName=name)["Items"], name)
        for name in ("moto-own", "moto-fast")
    ]
    assert scans[0] == scans[1]


def test_the_fast_serializer_is_in_use_and_faster(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(client, "t")
    keys = [{"pk": {"S": "SITE#s"}, "sk": {"S": f"KEY#{n:03d}"}} for n in range(10)]

    def read() -> float:
        start = time.perf_counter()
        for _ in range(20):
            client.batch_get_item(RequestItems={"t": {"Keys": keys}})
        return time.perf_counter() - start

    with monkeypatch.context() as shipped:
        moto_shims.moto_as_shipped(shipped.setattr)
        read()
        plain = min(read() for _ in range(3))
    moto_shims.speed_up_moto(monkeypatch.setattr)
    assert getattr(DynamoHandler.serialized, "__keyworker_fast__", False)
    fast = min(read() for _ in range(3))
    assert fast < plain / 2, (plain, fast)


def test_items_never_fall_back_to_moto_s_generic_walker(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An item's attributes are a LimitedSizeDict, not a dict: handed to moto's walker, every
    # GetItem, BatchGetItem and Query answer was turned into plain values the slow way.
    moto_shims.speed_up_moto(monkeypatch.setattr)
    _create(client, "t")
    fallen_back: list[str] = []
    walker = moto_shims._moto_dynamo_to_dict

    def spy(obj: Any) -> Any:
        fallen_back.append(type(obj).__name__)
        return walker(obj)

    monkeypatch.setattr(moto_shims, "_moto_dynamo_to_dict", spy)
    for operation, request in _requests("t"):
        if operation != "describe_table":  # a table's description holds times: moto's walk
            _answer(getattr(client, operation), request)
    assert fallen_back == []


def test_sqs_clock_shim_keeps_delays_and_visibility(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_environment(monkeypatch)
    moto_shims.speed_up_moto(monkeypatch.setattr)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
        sqs.send_message(QueueUrl=url, MessageBody="now")
        first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in first] == ["now"]
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") is None
        time.sleep(1.2)
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert sorted(m["Body"] for m in again) == ["later", "now"]  # delay over, visible again


def _side_by_side(*calls: Callable[[], Any]) -> list[Any]:
    """Runs ``calls`` in threads at once, switching between them very often (so a step left
    unprotected meets a concurrent one); their results, re-raising the first error."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            futures = [pool.submit(call) for call in calls]
            return [future.result() for future in futures]
    finally:
        sys.setswitchinterval(interval)


def test_concurrent_adds_each_return_their_own_new_value(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on DynamoDB, an UpdateItem's ALL_NEW is the item as that update left it: concurrent
    ``ADD``s of one counter are each told a value of their own (a door's version allocation
    relies on it)."""
    moto_shims.make_dynamodb_atomic(monkeypatch.setattr)
    _create(client, "t")
    key = {"pk": {"S": "SITE#s"}, "sk": {"S": "DOOR#d"}}

    def add() -> list[int]:
        return [
            int(
                client.update_item(
                    TableName="t",
                    Key=key,
                    UpdateExpression="ADD next_version :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues="ALL_NEW",
                )["Attributes"]["next_version"]["N"]
            )
            for _ in range(25)
        ]

    told = [value for values in _side_by_side(*[add] * 8) for value in values]
    assert sorted(told) == list(range(1, 201))


def test_queries_and_scans_do_not_meet_writes_halfway(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Query or Scan iterating the table while items are put used to fail with moto's
    ``dictionary changed size during iteration``; under the emulator's lock each sees the
    table between two writes."""
    moto_shims.make_dynamodb_atomic(monkeypatch.setattr)
    moto_shims.speed_up_moto(monkeypatch.setattr)
    _create(client, "t")

    def write(worker: int) -> None:
        for n in range(40):
            item = {**_item(n), "pk": {"S": f"SITE#w{worker}-{n}"}}
            client.put_item(TableName="t", Item=item)

    def read(_: int) -> int:
        count = 0
        for _ in range(15):
            count += client.query(
                TableName="t",
                IndexName="by-gsi",
                KeyConditionExpression="gsi_pk = :g",
                ExpressionAttributeValues={":g": {"S": "G#1"}},
            )["Count"]
            count += client.scan(TableName="t", Select="COUNT")["Count"]
        return count

    _side_by_side(*(partial(write, w) for w in range(3)), *(partial(read, r) for r in range(3)))
    assert client.scan(TableName="t", Select="COUNT")["Count"] == 16 + 3 * 40


def test_reads_never_see_an_item_changing_under_them(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetItem and BatchGetItem serialise the stored item after the operation, outside the
    lock: an UpdateItem changing it in place meanwhile made them fail with ``dictionary
    changed size during iteration`` (seen in a concurrency test). With copy-on-write updates
    every read gets an item as one update left it: its attributes ``a0``..``aN`` complete."""
    moto_shims.make_dynamodb_atomic(monkeypatch.setattr)
    moto_shims.speed_up_moto(monkeypatch.setattr)
    _create(client, "t")
    keys = [{"pk": {"S": "SITE#s"}, "sk": {"S": f"KEY#{n}"}} for n in range(4)]
    for key in keys:
        client.put_item(TableName="t", Item={**key, "n": {"N": "0"}})

    def update(worker: int) -> None:
        for n in range(1, 61):
            client.update_item(
                TableName="t",
                Key=keys[worker],
                UpdateExpression=f"SET a{n} = :v, n = :n",
                ExpressionAttributeValues={":v": {"S": "x" * 20}, ":n": {"N": str(n)}},
            )

    def complete(item: dict[str, Any]) -> bool:
        n = int(item["n"]["N"])
        return all(f"a{i}" in item for i in range(1, n + 1)) and f"a{n + 1}" not in item

    def read(_: int) -> int:
        seen = 0
        for _ in range(40):
            got = client.batch_get_item(RequestItems={"t": {"Keys": keys}})
            items = got["Responses"]["t"]
            items.append(client.get_item(TableName="t", Key=keys[0])["Item"])
            assert all(complete(item) for item in items)
            seen += len(items)
        return seen

    _side_by_side(*(partial(update, w) for w in range(4)), *(partial(read, r) for r in range(4)))
    final = client.batch_get_item(RequestItems={"t": {"Keys": keys}})["Responses"]["t"]
    assert sorted(int(item["n"]["N"]) for item in final) == [60] * 4


def _http_answer(call: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
    """The parsed answer with its status and content type (what the server path decides)."""
    try:
        response = call(**kwargs)
    except ClientError as error:
        meta = error.response["ResponseMetadata"]
        answer: Any = {"failed": error.response["Error"]}
    else:
        meta = response.pop("ResponseMetadata")
        answer = response
    headers = dict(meta["HTTPHeaders"])
    for volatile in ("date", "x-amzn-requestid", "x-amz-crc32", "content-length"):
        headers.pop(volatile, None)  # the crc and length follow the body, compared parsed
    answer = _normalised(answer, name)
    return {"answer": answer, "status": meta["HTTPStatusCode"], "headers": headers}


def test_the_emulators_json_fast_path_answers_as_moto_s_flask_app() -> None:
    """The same DynamoDB and SQS calls through moto's Flask app and through the fast path of
    the emulator's server (over HTTP, as the stack calls it) get the same answers, statuses
    and content types, errors included."""
    emulator = Emulator()
    emulator.start()
    try:
        assert emulator.app is not None
        dynamodb, sqs = emulator.client("dynamodb"), emulator.client("sqs")
        calls: dict[bool, list[Any]] = {}
        for fast in (False, True):
            emulator.app.enabled = fast
            table = f"http-{fast}"
            _create(dynamodb, table)
            answers = [
                _http_answer(getattr(dynamodb, operation), kwargs, table)
                for operation, kwargs in _requests(table)
            ]
            queue = sqs.create_queue(QueueName=f"q-{fast}")["QueueUrl"]
            for operation, kwargs in (
                ("send_message", {"QueueUrl": queue, "MessageBody": "one"}),
                ("receive_message", {"QueueUrl": queue, "MaxNumberOfMessages": 5}),
                ("receive_message", {"QueueUrl": queue, "WaitTimeSeconds": 0}),
                ("send_message", {"QueueUrl": queue + "-missing", "MessageBody": "x"}),
                ("get_queue_attributes", {"QueueUrl": queue, "AttributeNames": ["All"]}),
            ):
                answer = _http_answer(getattr(sqs, operation), kwargs, f"q-{fast}")
                for message in answer["answer"].get("Messages", []):
                    message.pop("ReceiptHandle")
                    message.pop("MessageId")
                attributes = answer["answer"].get("Attributes", {})
                for volatile in ("QueueArn", "CreatedTimestamp", "LastModifiedTimestamp"):
                    attributes.pop(volatile, None)
                answer["answer"].pop("MessageId", None)
                answers.append(answer)
            calls[fast] = answers
        assert len(calls[True]) == len(calls[False])
        for got, expected in zip(calls[True], calls[False], strict=True):
            assert got == expected
    finally:
        emulator.stop()


def test_stream_records_are_the_same_with_the_fast_serializer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The local stream function reads the table's stream through the emulator's server: the
    same records (images, keys, times, sequence numbers) come back through moto's own
    serializer and through the fast one, and the fast one is in use."""
    moto_shims.speed_up_moto(monkeypatch.setattr)
    emulator = Emulator()
    emulator.start()
    try:
        dynamodb = emulator.client("dynamodb")
        dynamodb.create_table(
            TableName="streamed",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for n in range(12):
            dynamodb.put_item(TableName="streamed", Item={**_item(n % 5), "n": {"N": str(n)}})
        dynamodb.delete_item(TableName="streamed", Key={"pk": _item(0)["pk"], "sk": _item(0)["sk"]})
        arn = dynamodb.describe_table(TableName="streamed")["Table"]["LatestStreamArn"]
        streams = emulator.client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]

        def read_all() -> list[Any]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records: list[Any] = []
            while True:
                page = streams.get_records(ShardIterator=iterator, Limit=5)
                records += page["Records"]
                if not page["Records"]:
                    return records
                iterator = page["NextShardIterator"]

        with monkeypatch.context() as shipped:
            moto_shims.moto_as_shipped(shipped.setattr)
            expected = read_all()
        assert getattr(DynamoDBStreamsHandler.serialized, "__keyworker_fast__", False)
        got = read_all()
        assert len(expected) == 13
        assert [r["eventName"] for r in got].count("REMOVE") == 1
        assert got == expected
    finally:
        emulator.stop()


# ------------------------------------------------------------------ request parsing (shim 7)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402
from moto.core import parse as moto_parse  # noqa: E402
from moto.core.utils import get_service_model  # noqa: E402

_SCALARS = hs.one_of(
    hs.builds(lambda s: {"S": s}, hs.text(max_size=8)),
    hs.builds(lambda n: {"N": str(n)}, hs.integers(-(10**6), 10**6)),
    hs.builds(lambda b: {"B": b}, hs.sampled_from(["AAEC", "", "3q2+7w=="])),
    hs.builds(lambda b: {"BOOL": b}, hs.booleans()),
    hs.just({"NULL": True}),
    hs.builds(lambda s: {"SS": s}, hs.lists(hs.text(max_size=4), min_size=1, max_size=3)),
    hs.builds(lambda s: {"BS": s}, hs.lists(hs.sampled_from(["AAEC", "/w=="]), max_size=2)),
    hs.builds(lambda s: {"NS": [str(x) for x in s]}, hs.lists(hs.integers(), max_size=3)),
)
_ATTRIBUTE_VALUES = hs.recursive(
    _SCALARS,
    lambda inner: hs.one_of(
        hs.builds(lambda m: {"M": m}, hs.dictionaries(hs.text(max_size=5), inner, max_size=3)),
        hs.builds(lambda items: {"L": items}, hs.lists(inner, max_size=3)),
    ),
    max_leaves=12,
)
_ITEMS = hs.dictionaries(hs.text(min_size=1, max_size=6), _ATTRIBUTE_VALUES, max_size=6)


def _both_ways(service: str, operation: str, body: dict[str, Any]) -> tuple[Any, Any]:
    model = get_service_model(service).operation_model(operation)
    raw = json.dumps(body).encode()
    shipped = moto_shims._MOTO_PARSE_JSON_BODY(
        moto_parse.JSONParser(model, map_type=dict), raw, model.input_shape
    )
    fast = moto_shims._parse_json_body(
        moto_parse.JSONParser(model, map_type=dict), raw, model.input_shape
    )
    return shipped, fast


@settings(max_examples=150, deadline=None)
@given(item=_ITEMS, extra=hs.dictionaries(hs.sampled_from(["Unknown", "Limit"]), hs.integers()))
def test_the_compiled_request_parser_reads_every_item_as_moto_does(
    item: dict[str, Any], extra: dict[str, int]
) -> None:
    # Every kind of AttributeValue, nested, plus members the shape does not know (dropped)
    # and numbers the shape types (converted).
    body = {"TableName": "t", "Item": {"pk": {"S": "a"}, **item}, **extra}
    shipped, fast = _both_ways("dynamodb", "PutItem", body)
    assert fast == shipped
    assert json.dumps(fast, sort_keys=True, default=repr) == json.dumps(
        shipped, sort_keys=True, default=repr
    )


@pytest.mark.parametrize(
    ("service", "operation", "body"),
    [
        (
            "dynamodb",
            "UpdateItem",
            {
                "TableName": "t",
                "Key": {"pk": {"S": "a"}, "sk": {"B": "AAEC"}},
                "UpdateExpression": "SET #v = :v ADD n :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#v": "v"},
                "ExpressionAttributeValues": {":v": {"L": [{"NULL": True}]}, ":one": {"N": "1"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        (
            "dynamodb",
            "Query",
            {
                "TableName": "t",
                "IndexName": "by_status",
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "x"}},
                "Limit": 25,
                "ScanIndexForward": False,
                "ExclusiveStartKey": {"pk": {"S": "x"}, "sk": {"S": "y"}},
            },
        ),
        (
            "dynamodb",
            "BatchWriteItem",
            {
                "RequestItems": {
                    "t": [
                        {"PutRequest": {"Item": {"pk": {"S": "a"}, "b": {"BS": ["AAEC"]}}}},
                        {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}},
                    ]
                }
            },
        ),
        (
            "dynamodb",
            "BatchGetItem",
            {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}}},
        ),
        ("dynamodb", "PutItem", {"TableName": "t", "Item": None}),
        (
            "sqs",
            "SendMessage",
            {
                "QueueUrl": "u",
                "MessageBody": "{}",
                "DelaySeconds": 3,
                "MessageAttributes": {
                    "s": {"DataType": "String", "StringValue": "x"},
                    "b": {"DataType": "Binary", "BinaryValue": "AAEC"},
                },
            },
        ),
        (
            "sqs",
            "ReceiveMessage",
            {
                "QueueUrl": "u",
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": 1,
                "MessageSystemAttributeNames": ["All"],
            },
        ),
        (
            "sqs",
            "ChangeMessageVisibilityBatch",
            {
                "QueueUrl": "u",
                "Entries": [{"Id": "0", "ReceiptHandle": "r", "VisibilityTimeout": 5}],
            },
        ),
        ("dynamodbstreams", "GetRecords", {"ShardIterator": "i", "Limit": 100}),
    ],
)
def test_the_compiled_request_parser_reads_each_call_as_moto_does(
    service: str, operation: str, body: dict[str, Any]
) -> None:
    shipped, fast = _both_ways(service, operation, body)
    assert fast == shipped
    assert [type(v) for v in fast.values()] == [type(v) for v in shipped.values()]


def test_malformed_values_fail_alike() -> None:
    # A structure that is not an object, a number that is not one: the same exception.
    for body in ({"TableName": "t", "Item": {"pk": "not-a-structure"}}, {"Limit": "x"}):
        operation = "PutItem" if "Item" in body else "Query"
        model = get_service_model("dynamodb").operation_model(operation)
        raw = json.dumps(body).encode()
        errors = []
        for parse in (moto_shims._MOTO_PARSE_JSON_BODY, moto_shims._parse_json_body):
            try:
                parse(moto_parse.JSONParser(model, map_type=dict), raw, model.input_shape)
            except Exception as error:
                errors.append(type(error))
        assert len(errors) == 2, errors
        assert errors[0] is errors[1], errors


def _two_receives_at_once(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Two receives of a queue holding one message, the second started in another thread
    after the first has found the message visible and before it has taken it: the bodies
    each got."""
    import threading

    from moto.sqs.models import Queue, sqs_backends

    backend = sqs_backends["123456789012"]["us-east-1"]
    backend.create_queue("race")
    backend.send_message("race", "only")
    second: list[str] = []
    other = threading.Thread(
        target=lambda: second.extend(m.body for m in backend.receive_message("race", 10, 0, 300))
    )
    pending = Queue.pending_messages
    started = threading.Event()

    def pending_messages(queue: Queue) -> Any:
        # A receive asks for the pending messages after it found a message visible and
        # before it takes it.
        if threading.current_thread() is not other and not started.is_set():
            started.set()
            other.start()
            other.join(0.5)  # the other receive gets half a second to run
        return pending.fget(queue)  # type: ignore[attr-defined]

    monkeypatch.setattr(Queue, "pending_messages", property(pending_messages))
    first = [m.body for m in backend.receive_message("race", 10, 0, 300)]
    other.join(5)
    assert not other.is_alive()
    return first, second


def test_two_receives_at_once_never_take_the_same_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mock_aws():
        moto_shims.make_sqs_atomic(monkeypatch.setattr)
        first, second = _two_receives_at_once(monkeypatch)
    assert sorted(first + second) == ["only"]


def test_moto_as_shipped_hands_one_message_to_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the SQS shim closes, shown on moto as shipped (when a newer moto fixes it,
    this fails and the shim can go)."""
    from moto.sqs.models import SQSBackend

    for name in ("receive_message", "delete_message", "change_message_visibility"):
        # An emulator started by an earlier test of this process made them atomic for good.
        method = getattr(SQSBackend, name)
        monkeypatch.setattr(SQSBackend, name, getattr(method, "__wrapped__", method))
    with mock_aws():
        first, second = _two_receives_at_once(monkeypatch)
    assert first == second == ["only"]


def test_a_conditional_write_parses_its_condition_once_and_evaluates_its_own_values(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_shims.speed_up_moto(monkeypatch.setattr)
    _create(client, "t")
    parses: list[str | None] = []
    original = moto_shims._PARSE_CONDITION

    def counted(parser: Any) -> Any:
        parses.append(parser.condition_expression)
        return original(parser)

    monkeypatch.setattr(moto_shims, "_PARSE_CONDITION", counted)
    key = {"pk": {"S": "p"}, "sk": {"S": "s"}}
    client.put_item(TableName="t", Item={**key, "v": {"N": "1"}})
    parses.clear()

    def put_if(expected: str, new: str) -> None:
        client.put_item(
            TableName="t",
            Item={**key, "v": {"N": new}},
            ConditionExpression="#v = :v",
            ExpressionAttributeNames={"#v": "v"},
            ExpressionAttributeValues={":v": {"N": expected}},
        )

    put_if("1", "2")
    assert parses == ["#v = :v"]  # the handler's check and the table's evaluation: one parse
    # The same expression with other values is parsed (and evaluated) with those values.
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        put_if("1", "3")
    put_if("2", "3")
    assert len(parses) == 3
    assert client.get_item(TableName="t", Key=key)["Item"]["v"] == {"N": "3"}
    # A names placeholder the condition does not use is still refused, as moto does.
    with pytest.raises(ClientError, match="unused"):
        client.put_item(
            TableName="t",
            Item={**key, "v": {"N": "4"}},
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#unused": "v"},
        )


def _pages(client: Any, request: dict[str, Any]) -> list[Any]:
    """Every page of a query, following LastEvaluatedKey (answers as the client sees them)."""
    pages = []
    request = dict(request)
    for _ in range(200):
        answer = _answer(client.query, request)
        pages.append(answer)
        start = answer.get("LastEvaluatedKey") if isinstance(answer, dict) else None
        if not start:
            return pages
        request["ExclusiveStartKey"] = start
    raise AssertionError("the query never ended")


def test_table_queries_page_alike_with_the_narrowed_partition(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shim 10: a table query's pages (every condition, both directions, limits, start keys,
    filters) are the ones moto as shipped gives."""
    moto_shims.speed_up_moto(monkeypatch.setattr)
    _create(client, "t")
    sort_keys = [f"KEY#{n:03d}" for n in range(40)] + [f"DOOR#{d}" for d in "abcdef"]
    sort_keys += ["CHANGE#x#0001", "CHANGE#x#0002", "KEY", "KEY#", "KEZ", "Kéy#1"]
    for n, sk in enumerate(sort_keys):
        item = {"pk": {"S": "SITE#s"}, "sk": {"S": sk}, "n": {"N": str(n)}}
        client.put_item(TableName="t", Item={**item, "flag": {"BOOL": n % 3 == 0}})
    client.put_item(TableName="t", Item={"pk": {"S": "SITE#other"}, "sk": {"S": "KEY#001"}})
    values = {":pk": {"S": "SITE#s"}}
    conditions = [
        ("pk = :pk", {}),
        ("pk = :pk AND begins_with(sk, :p)", {":p": {"S": "KEY#"}}),
        ("pk = :pk AND sk BETWEEN :a AND :b", {":a": {"S": "DOOR#c"}, ":b": {"S": "KEY#010"}}),
        ("pk = :pk AND sk > :a", {":a": {"S": "KEY#020"}}),
        ("pk = :pk AND sk >= :a", {":a": {"S": "KEY#020"}}),
        ("pk = :pk AND sk < :a", {":a": {"S": "DOOR#d"}}),
        ("pk = :pk AND sk <= :a", {":a": {"S": "KEY#"}}),
        ("pk = :pk AND sk = :a", {":a": {"S": "KEY#007"}}),
    ]
    requests = []
    for expression, extra in conditions:
        for forward in (True, False):
            for limit in (None, 1, 7, 100):
                request: dict[str, Any] = {
                    "TableName": "t",
                    "KeyConditionExpression": expression,
                    "ExpressionAttributeValues": {**values, **extra},
                    "ScanIndexForward": forward,
                }
                if limit is not None:
                    request["Limit"] = limit
                requests.append(request)
    filtered = dict(requests[9])
    filtered["FilterExpression"] = "flag = :t"
    filtered["ExpressionAttributeValues"] = {
        **filtered["ExpressionAttributeValues"],
        ":t": {"BOOL": True},
    }
    requests.append(filtered)
    narrowed = [_pages(client, request) for request in requests]
    with monkeypatch.context() as shipped:
        moto_shims.moto_as_shipped(shipped.setattr)
        expected = [_pages(client, request) for request in requests]
    assert narrowed == expected
    assert any(len(pages) > 3 for pages in narrowed)  # pagination was exercised


def test_receives_keep_the_retention_period_without_building_the_queue_s_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shim 11: a message past its queue's retention period is still dropped, one within it
    still received, and receiving no longer builds the queue's attribute dict per message."""
    fake_aws_environment(monkeypatch)
    moto_shims.speed_up_moto(monkeypatch.setattr)
    from moto.sqs.models import Queue

    built: list[str] = []
    attributes = Queue.attributes

    def counted(queue: Any) -> Any:
        built.append(queue.name)
        return attributes.fget(queue)  # type: ignore[attr-defined]

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})[
            "QueueUrl"
        ]
        for n in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        monkeypatch.setattr(Queue, "attributes", property(counted))
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert len(got) == 10
        assert built == []
        monkeypatch.setattr(moto_shims, "_clock_seconds", lambda: time.time() + 61)
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") is None


def test_index_queries_page_alike_with_the_narrowed_candidates(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shim 10 on global indexes shaped like the state table's (a string sort key, a number
    sort key with KEYS_ONLY, none): every page as moto as shipped gives it."""
    moto_shims.speed_up_moto(monkeypatch.setattr)
    client.create_table(
        TableName="s",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in (
                ("pk", "S"),
                ("sk", "S"),
                ("status_pk", "S"),
                ("status_sk", "S"),
                ("boundary_pk", "S"),
                ("next_at", "N"),
            )
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [
                    {"AttributeName": "status_pk", "KeyType": "HASH"},
                    {"AttributeName": "status_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "by-boundary",
                "KeySchema": [
                    {"AttributeName": "boundary_pk", "KeyType": "HASH"},
                    {"AttributeName": "next_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by-status-only",
                "KeySchema": [{"AttributeName": "status_pk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )
    for n in range(60):
        item: dict[str, Any] = {
            "pk": {"S": f"SITE#{n % 2}"},
            "sk": {"S": f"KEY#{n:03d}"},
            "status_pk": {"S": f"site#{'pending' if n % 3 else 'active'}"},
            # Equal index sort keys on several items: moto orders them by the table's keys.
            "status_sk": {"S": f"{'card' if n % 4 else 'phone'}#{n % 7}"},
        }
        if n % 5:
            item["boundary_pk"] = {"S": f"B#{n % 2}"}
            item["next_at"] = {"N": str(1000 + (n * 37) % 11 * 10)}
        client.put_item(TableName="s", Item=item)
    client.put_item(TableName="s", Item={"pk": {"S": "SITE#0"}, "sk": {"S": "DOOR#a"}})
    queries: list[tuple[str, str, dict[str, Any]]] = [
        ("by-status", "status_pk = :h", {":h": {"S": "site#pending"}}),
        (
            "by-status",
            "status_pk = :h AND begins_with(status_sk, :p)",
            {":h": {"S": "site#pending"}, ":p": {"S": "card#"}},
        ),
        ("by-status-only", "status_pk = :h", {":h": {"S": "site#active"}}),
        (
            "by-boundary",
            "boundary_pk = :h AND next_at <= :t",
            {":h": {"S": "B#1"}, ":t": {"N": "1050"}},
        ),
        (
            "by-boundary",
            "boundary_pk = :h AND next_at BETWEEN :a AND :b",
            {":h": {"S": "B#0"}, ":a": {"N": "1020"}, ":b": {"N": "1080.5"}},
        ),
        (
            "by-boundary",
            "boundary_pk = :h AND next_at > :t",
            {":h": {"S": "B#0"}, ":t": {"N": "1e3"}},
        ),
    ]
    requests = []
    for index, expression, values in queries:
        for forward in (True, False):
            for limit in (None, 1, 4, 30):
                request: dict[str, Any] = {
                    "TableName": "s",
                    "IndexName": index,
                    "KeyConditionExpression": expression,
                    "ExpressionAttributeValues": values,
                    "ScanIndexForward": forward,
                }
                if limit is not None:
                    request["Limit"] = limit
                requests.append(request)
    narrowed = [_pages(client, request) for request in requests]
    with monkeypatch.context() as shipped:
        moto_shims.moto_as_shipped(shipped.setattr)
        expected = [_pages(client, request) for request in requests]
    for request, got, want in zip(requests, narrowed, expected, strict=True):
        assert got == want, request
    assert any(len(pages) > 3 for pages in narrowed)
