"""The credentials benchmark runs and writes its JSON (a smoke run; no time is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_credentials_benchmark_smoke_run(tmp_path: Path) -> None:
    output = tmp_path / "credentials.json"
    subprocess.run(
        [sys.executable, "bench/credentials.py", "--quick", "--no-core", "--output", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads(output.read_text())
    facade = result["python_facade"]
    for algorithm in ("ES256", "EdDSA"):
        figures = facade[algorithm]
        assert figures["plain_python_per_s"] > 0
        assert figures["cwt_library_per_s"] > 0
        assert figures["one_call_each_vs_cwt_library"] > 0
        assert figures["batch_all_cores_per_s"] > 0
        assert figures["token_bytes"] > 0
    assert facade["door_updates"]["entries_per_s_one_core"] > 0
    assert result["core"] is None
