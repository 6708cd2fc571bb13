"""End-to-end tests: ``keyworker local`` as a subprocess (see ``local_stack_harness``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_stack_harness import RunningStack, start_stack, stop_stack


@pytest.fixture(scope="module")
def quiet_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose simulators are off: nothing confirms unless the test says so."""
    stack = start_stack(
        tmp_path_factory.mktemp("stack"),
        "--simulate",
        "none",
        "--visibility-timeout",
        "1",
        "--max-receive-count",
        "2",
    )
    yield stack
    output = stop_stack(stack)
    assert stack.process.returncode == 0, output
    assert "stopped" in output
