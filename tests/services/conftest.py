"""moto-backed service tests: fake credentials, mock_aws before any client, table from the
template, the services wired to in-memory fakes of the door and mobile-access gateways."""

from collections.abc import Iterator
from typing import Any

import pytest
from moto_state import fake_aws_environment, make_emulator_atomic, mocked_state_table
from service_world import World, build_world


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_environment(monkeypatch)


@pytest.fixture
def dynamodb(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    make_emulator_atomic(monkeypatch)
    yield from mocked_state_table()


@pytest.fixture
def world(dynamodb: Any) -> World:
    return build_world(dynamodb)
