"""TableClient takes DynamoDB's read answers as sent (``_reads_as_sent``): the same answers
botocore's parser gives, for every kind of attribute value, pages, unprocessed keys and
errors; binary values are left to the parser."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto_state import REGION, TABLE_NAME

from keyworker.adapters.dynamodb.client import TableClient

ITEM_KINDS: dict[str, Any] = {
    "s": {"S": 'a string with "quotes", \\ and ünïcödé'},
    "n": {"N": "12345678901234567890.5"},
    "neg": {"N": "-0.000001"},
    "t": {"BOOL": True},
    "f": {"BOOL": False},
    "null": {"NULL": True},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"L": []}}}]},
    "m": {"M": {"inner": {"S": "y"}, "empty": {"M": {}}}},
    "empty": {"S": ""},
}


def _plain_client() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def _items(count: int, prefix: str = "KEY#") -> list[dict[str, Any]]:
    return [
        {"pk": {"S": "SITE#s"}, "sk": {"S": f"{prefix}{n:04d}"}, **ITEM_KINDS} for n in range(count)
    ]


def _both(dynamodb: Any) -> tuple[Any, Any]:
    """The fixture's client, taking reads as sent, and a client that parses them."""
    TableClient(dynamodb, TABLE_NAME)
    return dynamodb, _plain_client()


def _answers(clients: tuple[Any, Any], operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    answers = []
    for client in clients:
        answer = getattr(client, operation)(**kwargs)
        metadata = answer.pop("ResponseMetadata")
        assert metadata["HTTPStatusCode"] == 200
        answers.append(answer)
    return answers


def test_every_read_answers_as_botocore_parses_it(dynamodb: Any) -> None:
    clients = _both(dynamodb)
    taken: list[str] = []

    def spy(response_dict: dict[str, Any], operation_model: Any, **_: Any) -> None:
        # Runs after the hook: a body it took is left empty for the parser (a PutItem's
        # answer is empty anyway).
        if operation_model.name != "PutItem" and response_dict["body"] == b"{}":
            taken.append(operation_model.name)

    dynamodb.meta.events.register_last("before-parse.dynamodb", spy)
    items = _items(30)
    for item in items:
        dynamodb.put_item(TableName=TABLE_NAME, Item=item)
    key = {"pk": items[3]["pk"], "sk": items[3]["sk"]}

    fast, parsed = _answers(clients, "get_item", TableName=TABLE_NAME, Key=key)
    assert fast == parsed == {"Item": items[3]}
    fast, parsed = _answers(
        clients, "get_item", TableName=TABLE_NAME, Key={"pk": {"S": "x"}, "sk": {"S": "y"}}
    )
    assert fast == parsed == {}

    keys = [{"pk": i["pk"], "sk": i["sk"]} for i in items]
    fast, parsed = _answers(clients, "batch_get_item", RequestItems={TABLE_NAME: {"Keys": keys}})
    assert fast == parsed
    assert sorted(fast["Responses"][TABLE_NAME], key=lambda i: i["sk"]["S"]) == items

    page = {
        "TableName": TABLE_NAME,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :key)",
        "ExpressionAttributeValues": {":pk": {"S": "SITE#s"}, ":key": {"S": "KEY#"}},
        "Limit": 7,
    }
    fast, parsed = _answers(clients, "query", **page)
    assert fast == parsed
    assert fast["Items"] == items[:7]
    assert fast["LastEvaluatedKey"] == keys[6]
    assert fast["Count"] == 7

    fast, parsed = _answers(clients, "scan", TableName=TABLE_NAME, Limit=5)
    assert fast == parsed
    assert len(fast["Items"]) == 5
    assert taken == ["GetItem", "GetItem", "BatchGetItem", "Query", "Scan"]


def test_an_answer_with_binary_values_is_left_to_the_parser(dynamodb: Any) -> None:
    clients = _both(dynamodb)
    item = {
        "pk": {"S": "SITE#s"},
        "sk": {"S": "KEY#bin"},
        "b": {"B": b"\x00\x01raw"},
        "bs": {"BS": [b"one", b"two"]},
    }
    dynamodb.put_item(TableName=TABLE_NAME, Item=item)
    fast, parsed = _answers(
        clients, "get_item", TableName=TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]}
    )
    assert fast == parsed == {"Item": item}
    assert fast["Item"]["b"]["B"] == b"\x00\x01raw"


def test_errors_are_still_parsed_by_botocore(dynamodb: Any) -> None:
    fast, parsed = _both(dynamodb)
    errors = []
    for client in (fast, parsed):
        with pytest.raises(ClientError) as raised:
            client.get_item(TableName="no-such-table", Key={"pk": {"S": "x"}})
        errors.append(raised.value.response["Error"])
    assert errors[0] == errors[1]
    assert errors[0]["Code"] == "ResourceNotFoundException"


def test_registering_twice_takes_each_answer_once(dynamodb: Any) -> None:
    TableClient(dynamodb, TABLE_NAME)
    TableClient(dynamodb, TABLE_NAME)
    item = _items(1)[0]
    dynamodb.put_item(TableName=TABLE_NAME, Item=item)
    answer = dynamodb.get_item(TableName=TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]})
    assert answer["Item"] == item
