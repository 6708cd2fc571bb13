"""Revocation runs against moto: the services of ``service_world`` plus the revocation service
with a dispatcher that keeps the queued jobs, so a test plays the worker (in order, twice,
concurrently, or crashing) and checks the table afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto_state import TABLE_NAME, fake_aws_environment, make_emulator_atomic, mocked_state_table

from revocation.run_world import RunWorld, build_run_world


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_environment(monkeypatch)


@pytest.fixture
def dynamodb(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    make_emulator_atomic(monkeypatch)
    yield from mocked_state_table()


@pytest.fixture
def runs(dynamodb: Any) -> RunWorld:
    return build_run_world(dynamodb, TABLE_NAME)
