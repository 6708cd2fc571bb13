"""The store scaling benchmark runs (on tiny input; it never asserts a time)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "store_scaling.py"


def test_store_scaling_benchmark_runs_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `python bench/store_scaling.py` would: its own directory first (bench/common.py).
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("store_scaling", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["store_scaling"] = module
    spec.loader.exec_module(module)
    output = tmp_path / "scaling.json"
    result = module.main(["--sizes", "20", "40", "--repeat", "2", "--output", str(output)])
    written = json.loads(output.read_text())
    assert written == result
    assert [run["keys_in_table"] for run in written["runs"]] == [20, 40]
    assert written["fixed_call_counts"] == {"get_key": True, "revoke": True, "door_synced": True}
    for run in written["runs"]:
        operations = run["operations"]
        assert set(operations) == {"get_key", "revoke", "door_synced", "list_keys"}
        assert "Query" not in operations["revoke"]["dynamodb_calls"]
        assert operations["list_keys"]["dynamodb_calls"]["Query"] == 1
