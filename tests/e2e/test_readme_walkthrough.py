"""The README's walk-through, run literally (bash, curl, the CLI) against a running stack, so
a newcomer who follows it gets answers, not errors. Only the ports are changed, to the
stack's free ones; curl is made to fail on an HTTP error so a broken command fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_stack_harness import RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def readme_blocks(start: str, end: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(start) : text.index(end)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("readme"))
    yield running
    stop_stack(running)


def run_bash(script: str, stack: RunningStack) -> subprocess.CompletedProcess[str]:
    api_port = stack.api.rsplit(":", 1)[1]
    aws_port = stack.aws.rsplit(":", 1)[1]
    script = script.replace("127.0.0.1:8000", f"127.0.0.1:{api_port}")
    script = script.replace("127.0.0.1:4566", f"127.0.0.1:{aws_port}")
    env = {
        **os.environ,
        "KEYWORKER_STATE_DIR": str(stack.state_dir),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    # Every curl of the walk-through must succeed: an HTTP error fails the script.
    prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
    return subprocess.run(
        ["bash", "-c", prelude + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_walkthrough_runs_as_written(stack: RunningStack) -> None:
    blocks = readme_blocks("## Walk-through", "Errors are `application/problem+json`")
    assert len(blocks) >= 3, "the walk-through lost its code blocks"
    # The blocks share variables (TOKEN, API, ids): run them as one script, in order.
    result = run_bash("\n".join(blocks), stack)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert '"label":"Active"' in out.replace(" ", "")
    assert "Mon–Fri 07:00–19:00" in out
    assert "sent" in out
    assert "revoked" in out


def test_error_examples_answer_with_problems(stack: RunningStack) -> None:
    setup = readme_blocks("## Walk-through", "## The command line")[0].split("\n# Doors")[0]
    (errors,) = readme_blocks("Errors are `application/problem+json`", "## The command line")
    result = run_bash(setup + "\n" + errors.replace("curl -s ", "command curl -s "), stack)
    assert result.returncode == 0, result.stderr
    assert '"field"' in result.stdout
    assert "401" in result.stdout
    assert "403" in result.stdout
