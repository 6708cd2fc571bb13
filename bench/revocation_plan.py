"""The revocation plan of a 1,000,000-key site (5 doors per key): the core alone, the core with
the data crossing from Python, and the plain-Python statement of the plan as the baseline.

The site: flats of four keys, buildings of a thousand; each key at its flat's door (offline)
and four common doors of its building (online); 60% cards; a few percent deploying or revoked
earlier. Every key is selected; chunks of 100.

- ``core``: ``cargo bench -p keyworker-core --bench revocation_plan -- --json`` (the Rust
  planner on Rust vectors, no Python), median of 7, 1 and 2 threads.
- ``from_python``: ``keyworker.revocation.planner.plan_columns`` on numpy columns: the columns
  cross into the core in place, the plan comes back as bytes (u32 arrays) and counts; median
  of 7, 1 and 2 threads (target: at most 1 s; the core alone at most 50 ms).
- ``facade``: ``planner.plan`` on the same columns, giving the plan in key and door ids.
- ``oracle``: ``tests/revocation/plan_oracle.py`` (plain Python, from the test oracle's rules)
  on the first 20,000 keys, checked equal to the core's plan of the same keys.

    .venv/bin/python bench/revocation_plan.py                 # 1,000,000 keys
    .venv/bin/python bench/revocation_plan.py --keys 20000    # a quick run

JSON goes to ``bench/results/revocation_plan.json``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from keyworker import status
from keyworker.revocation import planner

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "revocation_plan.json"
# The plain-Python statement of the plan lives with the tests (it imports `oracle` from there;
# the numpy baselines import `tests.oracle` from the repository root).
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import numpy_plan  # noqa: E402
from bulk_status import edge_case_columns  # noqa: E402
from common import cpu_model  # noqa: E402
from revocation import plan_oracle  # noqa: E402

NOW = 1_700_000_000
DAY = 86_400
KEYS_PER_FLAT = 4
KEYS_PER_BUILDING = 1000
COMMON_DOORS = 4
RUNS = 7
ORACLE_KEYS = 20_000
TARGETS = {"core_ms": 50, "from_python_ms": 1000, "core_1_thread_vs_numpy": 3.0}


def site(keys: int, seed: int = 7) -> SimpleNamespace:
    """The site's columns (numpy), as the planner takes them."""
    rng = np.random.default_rng(seed)
    flats = -(-keys // KEYS_PER_FLAT)
    buildings = -(-keys // KEYS_PER_BUILDING)
    door_count = flats + buildings * COMMON_DOORS
    k = np.arange(keys)
    digital = rng.random(keys) < 0.4
    roll = rng.integers(0, 100, keys)
    flags = np.zeros(keys, np.uint8)
    flags[digital] |= status.FLAG_DELIVERED
    state = np.full(keys, status.DOOR_STATES.index("deployed"), np.uint8)
    deploying = ~digital & (roll < 3)
    state[deploying] = status.DOOR_STATES.index("deployment_pending")
    revoked = roll >= 97
    flags[revoked] |= status.FLAG_REVOKED
    state[~digital & revoked] = status.DOOR_STATES.index("revocation_pending")
    flat = (k // KEYS_PER_FLAT).astype(np.uint32)
    building = k // KEYS_PER_BUILDING
    door_index = np.empty((keys, 1 + COMMON_DOORS), np.uint32)
    door_index[:, 0] = flat
    for c in range(COMMON_DOORS):
        door_index[:, 1 + c] = flats + building * COMMON_DOORS + c
    door_states = np.repeat(state[:, None], 1 + COMMON_DOORS, axis=1)
    door_states[:, 1:] |= status.DOOR_ONLINE
    return SimpleNamespace(
        key_types=digital.astype(np.uint8),
        flags=flags,
        valid_from=np.full(keys, NOW - 100 * DAY, np.int64),
        valid_until=np.full(keys, status.NO_END, np.int64),
        door_offsets=np.arange(
            0, (keys + 1) * (1 + COMMON_DOORS), 1 + COMMON_DOORS, dtype=np.uint32
        ),
        door_states=door_states.reshape(-1),
        door_index=door_index.reshape(-1),
        holder_index=flat,
        door_ids=range(door_count),
        holder_ids=range(flats),
        key_ids=None,
    )


def first_keys(columns: SimpleNamespace, n: int) -> SimpleNamespace:
    end = int(columns.door_offsets[n])
    return SimpleNamespace(
        key_types=columns.key_types[:n],
        flags=columns.flags[:n],
        valid_from=columns.valid_from[:n],
        valid_until=columns.valid_until[:n],
        door_offsets=columns.door_offsets[: n + 1],
        door_states=columns.door_states[:end],
        door_index=columns.door_index[:end],
        holder_index=columns.holder_index[:n],
        door_ids=columns.door_ids,
        holder_ids=columns.holder_ids,
    )


def median_ms(call: Callable[[], Any], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 3)


def core_alone(keys: int) -> dict[str, Any] | None:
    """The Rust bench's JSON line, or None when cargo is not at hand."""
    try:
        done = subprocess.run(
            [
                "cargo",
                "bench",
                "-q",
                "-p",
                "keyworker-core",
                "--bench",
                "revocation_plan",
                "--",
                "--keys",
                str(keys),
                "--json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def oracle_agrees(columns: SimpleNamespace, n: int) -> tuple[float, bool]:
    """Seconds of the plain-Python plan of the first ``n`` keys, and whether it equals the
    core's plan of the same keys."""
    part = first_keys(columns, n)
    start = time.perf_counter()
    expected = plan_oracle.plan(part, NOW, door_count=len(part.door_ids), chunk_size=100)
    seconds = time.perf_counter() - start
    raw = planner.plan_columns(part, NOW)

    def u32(data: bytes) -> list[int]:
        return list(memoryview(data).cast("I"))

    got = plan_oracle.OraclePlan(
        raw[0],
        raw[1],
        raw[2],
        raw[3],
        u32(raw[4]),
        raw[5],
        raw[6],
        u32(raw[7]),
        u32(raw[8]),
        u32(raw[9]),
        u32(raw[10]),
    )
    return seconds, got == expected


def edge_case_site(keys: int, seed: int) -> SimpleNamespace:
    """Valid keys of every kind (0 to 40 doors, every allowed state, revoked or not) at doors
    drawn from a small door list, so that anchors tie and chunks share doors."""
    columns = edge_case_columns(keys, seed)
    rng = np.random.default_rng(seed)
    doors = max(keys // 20, 1)
    rows = int(columns["door_states"].size)
    return SimpleNamespace(
        **columns,
        door_index=rng.integers(0, doors, rows).astype(np.uint32),
        holder_index=np.zeros(keys, np.uint32),
        door_ids=range(doors),
        holder_ids=range(1),
    )


def numpy_agrees(columns: SimpleNamespace, chunk_size: int = 100) -> bool:
    got = numpy_plan.plan(columns, NOW, door_count=len(columns.door_ids), chunk_size=chunk_size)
    return numpy_plan.equals_core(
        got, planner.plan_columns(columns, NOW, chunk_size=chunk_size, threads=1)
    )


def interleaved_ms(
    calls: dict[str, Callable[[], Any]], runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median milliseconds of each call, timed round by round in turn (load hits all alike),
    and the median CPU milliseconds of the calling thread (what a one-thread call costs
    without the time slices other processes take)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            wall, thread = time.perf_counter(), time.thread_time()
            call()
            times[name].append(time.perf_counter() - wall)
            cpu[name].append(time.thread_time() - thread)

    def medians(values: dict[str, list[float]]) -> dict[str, float]:
        return {name: round(statistics.median(t) * 1000, 3) for name, t in values.items()}

    return medians(times), medians(cpu)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--no-cargo", action="store_true", help="skip the core-alone bench")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()

    columns = site(args.keys)
    pairs = int(columns.door_states.size)
    plan = planner.plan_columns(columns, NOW)
    door_count = len(columns.door_ids)
    numpy_plan.plan(columns, NOW, door_count=door_count)  # warm up
    timed, cpu = interleaved_ms(
        {
            "1_thread": lambda: planner.plan_columns(columns, NOW, threads=1),
            "2_threads": lambda: planner.plan_columns(columns, NOW),
            "numpy": lambda: numpy_plan.plan(columns, NOW, door_count=door_count),
        },
        RUNS,
    )
    from_python = {"1_thread": timed["1_thread"], "2_threads": timed["2_threads"]}
    numpy_checks = {
        "bench_site": numpy_agrees(columns),
        "edge_cases": all(numpy_agrees(edge_case_site(5_000, seed), 7) for seed in (1, 2, 3)),
    }
    # The facade maps the plan back to ids: key ids as strings, built once outside the timing.
    named = planner.KeyColumns(
        key_ids=tuple(f"k{i}" for i in range(args.keys)),
        door_ids=tuple(f"d{i}" for i in columns.door_ids),
        holder_ids=tuple(f"h{i}" for i in columns.holder_ids),
        key_types=columns.key_types.tobytes(),
        flags=columns.flags.tobytes(),
        valid_from=array("q", columns.valid_from.tobytes()),
        valid_until=array("q", columns.valid_until.tobytes()),
        door_offsets=array("I", columns.door_offsets.tobytes()),
        door_states=columns.door_states.tobytes(),
        door_index=array("I", columns.door_index.tobytes()),
        holder_index=array("I", columns.holder_index.tobytes()),
    )
    facade_ms = median_ms(lambda: planner.plan(named, NOW), runs=3)
    oracle_keys = min(ORACLE_KEYS, args.keys)
    oracle_seconds, agrees = oracle_agrees(columns, oracle_keys)
    core = None if args.no_cargo else core_alone(args.keys)
    core_per_key = from_python["2_threads"] / args.keys
    vs_numpy = timed["numpy"] / timed["1_thread"]
    vs_numpy_cpu = cpu["numpy"] / cpu["1_thread"]
    load_after = os.getloadavg()
    result: dict[str, Any] = {
        "benchmark": "revocation_plan",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0]},
        "numpy": np.__version__,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "keys": args.keys,
        "door_rows": pairs,
        "doors": door_count,
        "chunks": len(plan[8]) // 4 - 1,
        "selected": plan[0],
        "to_revoke": len(plan[7]) // 4,
        "core_alone_ms": core,
        "from_python_ms": from_python,
        "numpy_ms": timed["numpy"],
        "core_1_thread_vs_numpy": round(vs_numpy, 2),
        "cpu_ms_one_thread": {"core": cpu["1_thread"], "numpy": cpu["numpy"]},
        "core_1_thread_vs_numpy_cpu_time": round(vs_numpy_cpu, 2),
        "numpy_equals_core": numpy_checks,
        "facade_with_ids_ms": facade_ms,
        "oracle": {
            "keys": oracle_keys,
            "seconds": round(oracle_seconds, 3),
            "agrees_with_core": agrees,
            "core_speedup_per_key": round(oracle_seconds * 1000 / oracle_keys / core_per_key, 1),
        },
        "targets": TARGETS,
        "targets_met": {
            "core_ms": from_python["1_thread"] <= TARGETS["core_ms"],
            "core_1_thread_vs_numpy": vs_numpy >= TARGETS["core_1_thread_vs_numpy"],
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(
        f"revocation plan, {args.keys:,} keys x {1 + COMMON_DOORS} doors on {cpu_model()}; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; medians of {RUNS}"
    )
    print(f"    numpy baseline          : {timed['numpy']:8.2f} ms")
    verdict = "met" if result["targets_met"]["core_ms"] else "NOT met"
    print(
        f"    core from Python, 1 thread: {timed['1_thread']:8.2f} ms  "
        f"(target <= {TARGETS['core_ms']} ms: {verdict})"
    )
    print(f"    core from Python, 2 threads: {timed['2_threads']:7.2f} ms")
    verdict = "met" if result["targets_met"]["core_1_thread_vs_numpy"] else "NOT met"
    print(f"    core 1 thread vs numpy  : {vs_numpy:6.2f}x  (target >= 3.0x: {verdict})")
    verdict = "met" if vs_numpy_cpu >= TARGETS["core_1_thread_vs_numpy"] else "NOT met"
    print(f"      the same by CPU time  : {vs_numpy_cpu:6.2f}x  (target >= 3.0x: {verdict})")
    print(
        f"    CPU time of the calling thread: core {cpu['1_thread']:.2f} ms, "
        f"numpy {cpu['numpy']:.2f} ms"
    )
    print(f"    numpy plan equals the core's: {numpy_checks}; oracle agrees: {agrees}")
    return result


if __name__ == "__main__":
    main()
