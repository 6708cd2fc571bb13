"""The import-time benchmark runs and writes its JSON (a smoke run; no time is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_time_benchmark_smoke_run(tmp_path: Path) -> None:
    output = tmp_path / "import_time.json"
    subprocess.run(
        [sys.executable, "bench/import_time.py", "--repeat", "1", "--output", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads(output.read_text())
    assert result["baseline_boto3"]["median_ms"] > 0
    assert result["native_module"]["median_ms"] > 0
    assert set(result["handlers"]) == {
        f"keyworker.handlers.{n}" for n in ("api", "worker", "events", "expiry")
    }
    for entry in result["handlers"].values():
        # One sample each: only that they were measured (times are not asserted).
        assert entry["median_ms"] > 0
        assert entry["with_first_invocation_imports_median_ms"] > 0
