"""Handler tests: moto's mock_aws (fake credentials first, then every client), the stack of
``handler_harness`` and a fresh composition root per test."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from handler_harness import MobileAccessCloud, Stack, build_stack
from moto import mock_aws
from moto_state import fake_aws_environment, make_emulator_atomic

from keyworker.adapters import observability
from keyworker.handlers import wiring


@pytest.fixture
def mobile_cloud() -> Iterator[MobileAccessCloud]:
    cloud = MobileAccessCloud()
    cloud.url = cloud.start()  # type: ignore[attr-defined]
    yield cloud
    cloud.stop()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, mobile_cloud: MobileAccessCloud) -> Iterator[Stack]:
    fake_aws_environment(monkeypatch)
    make_emulator_atomic(monkeypatch)
    with mock_aws():
        built = build_stack(
            boto3.client("dynamodb"),
            boto3.client("sqs"),
            boto3.client("secretsmanager"),
            mobile_cloud.url,  # type: ignore[attr-defined]
            mobile_cloud,
        )
        for name, value in built.env.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        yield built
        wiring.reset()


@pytest.fixture
def lambda_output(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    """What the Lambdas print: JSON log lines and EMF metrics (both follow ``sys.stdout``)."""
    assert observability.logger.handlers  # the Powertools handler exists
    return capsys
