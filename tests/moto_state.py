"""Helpers shared by the moto-backed store and service tests (see the conftest of each folder).

The state table is created from ``infra/template.yaml`` by ``keyworker.infra_template``: the
tests never hold a second copy of the schema.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from keyworker.adapters.dynamodb import DynamoStore, make_client
from keyworker.infra_template import create_tables
from keyworker.local.moto_shims import make_dynamodb_atomic, make_sqs_atomic

TABLE_LOGICAL_ID = "KeyworkerTable"
TABLE_NAME = "keyworker-test-state"
REGION = "us-east-1"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def make_emulator_atomic(monkeypatch: pytest.MonkeyPatch) -> None:
    make_dynamodb_atomic(monkeypatch.setattr)
    make_sqs_atomic(monkeypatch.setattr)


def mocked_state_table() -> Iterator[Any]:
    """Within mock_aws: a DynamoDB client and the state table created from the template."""
    with mock_aws():
        client = make_client(region_name=REGION)
        create_tables(client, names={TABLE_LOGICAL_ID: TABLE_NAME})
        yield client


class CallCounter:
    """Counts the DynamoDB API calls a client makes (by operation name)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def total(self) -> int:
        return sum(self.calls.values())


def scan_all(client: Any) -> list[dict[str, Any]]:
    """Every item of the state table, in a stable order (to compare table snapshots)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE_NAME, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def new_store(client: Any) -> DynamoStore:
    return DynamoStore(client, TABLE_NAME)
