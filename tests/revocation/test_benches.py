"""The revocation benchmarks run and write their JSON (smoke runs on tiny inputs; no time is
asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True, timeout=600)


def test_the_plan_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "plan.json"
    _run("bench/revocation_plan.py", "--keys", "3000", "--no-cargo", "--output", str(output))
    result = json.loads(output.read_text())
    assert result["keys"] == 3000
    assert result["oracle"]["agrees_with_core"] is True
    assert result["selected"] == 3000
    assert result["core_alone_ms"] is None
    assert result["numpy_equals_core"] == {"bench_site": True, "edge_cases": True}
    assert result["numpy_ms"] > 0


def test_the_run_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "run.json"
    _run(
        "bench/revocation_run.py",
        *("--sizes", "40", "--workers", "2", "--writers", "2", "--output", str(output)),
    )
    [run] = json.loads(output.read_text())["runs"]
    assert run["counts"]["revoked"] == 40
    assert run["floor_seconds"] > 0
    assert run["write_units"]["table"] > 0
    assert run["dynamodb_calls"]["PutItem"] > 40
