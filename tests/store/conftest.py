"""moto-backed store tests: fake credentials, mock_aws before any client, the table from the
template."""

from collections.abc import Iterator
from typing import Any

import pytest
from moto_state import fake_aws_environment, make_emulator_atomic, mocked_state_table, new_store

from keyworker.adapters.dynamodb import DynamoStore


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_environment(monkeypatch)


@pytest.fixture
def dynamodb(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    make_emulator_atomic(monkeypatch)
    yield from mocked_state_table()


@pytest.fixture
def store(dynamodb: Any) -> DynamoStore:
    return new_store(dynamodb)
