"""Revocation runs against moto: the services of ``service_world`` plus the revocation service
with a dispatcher that keeps the queued jobs, so a test plays the worker (in order, twice,
concurrently, or crashing) and checks the table afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from handlers.handler_harness import MobileAccessCloud, Stack, build_stack
from moto import mock_aws
from moto_state import TABLE_NAME, fake_aws_environment, make_emulator_atomic, mocked_state_table

from keyworker.handlers import wiring
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


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The Lambdas' stack of the handler tests: table, queues, secrets, the mobile-access
    cloud; the handlers run in this process against moto."""
    cloud = MobileAccessCloud()
    url = cloud.start()
    fake_aws_environment(monkeypatch)
    make_emulator_atomic(monkeypatch)
    try:
        with mock_aws():
            built = build_stack(
                boto3.client("dynamodb"),
                boto3.client("sqs"),
                boto3.client("secretsmanager"),
                url,
                cloud,
            )
            for name, value in built.env.items():
                monkeypatch.setenv(name, value)
            wiring.reset()
            yield built
            wiring.reset()
    finally:
        cloud.stop()
