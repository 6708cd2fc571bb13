"""The hot-door benchmark runs (on tiny input; it never asserts a time)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "hot_door.py"


def test_hot_door_benchmark_runs_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None
) -> None:
    # As `python bench/hot_door.py` would: its own directory first (bench/common.py).
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("hot_door", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hot_door"] = module
    spec.loader.exec_module(module)
    output = tmp_path / "hot_door.json"
    result = module.main(
        ["--creates", "12", "--writers", "1", "4", "--output", str(output)],
        set_attribute=monkeypatch.setattr,
    )
    written = json.loads(output.read_text())
    assert written == result
    assert [run["writers"] for run in written["runs"]] == [1, 4]
    for run in written["runs"]:
        assert run["completed"] == 12
        assert run["concurrent_update_to_callers"] == 0
        versions = run["versions"]
        assert versions["all_accounted_for"]
        assert versions["keys_created"] == 12
        assert versions["versions_missing"] == 0
        assert versions["desired_version"] == versions["changes"] + versions["void_markers"]
    assert written["throughput_ratio"]["writers"] == [4, 1]
