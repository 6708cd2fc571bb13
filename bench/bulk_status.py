"""Bulk status evaluation: the Rust core against the plain-Python oracle, on the same data.

Builds 1,000,000 keys x 5 doors of realistic data (mostly settled keys, a few percent in each
transitional state; the mix is the one in ``rust/keyworker-core/benches/bulk_status.rs``),
then measures, in one run on this machine:

- ``keyworker.status.evaluate_bulk`` with ``threads=1`` and ``threads=2`` (median of
  ``--runs`` runs each, Python call and buffer hand-over included);
- ``tests.oracle.evaluate_bulk`` (the independent plain-Python implementation) on the first
  20,000 keys only, because it is slow; its rate is per key-door pair, so it scales;
- one ``keyworker.status.evaluate`` call for a single key, as the API makes it;

and checks that Rust and the oracle give the same codes on the timed slice. Prints the figures
and writes them as JSON to ``bench/results/bulk_status.json``.

    .venv/bin/python bench/bulk_status.py              # the full run
    .venv/bin/python bench/bulk_status.py --keys 2000  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The oracle lives with the tests; the repository root must win over any installed `tests`.
sys.path.insert(0, str(ROOT))

from common import cpu_model  # noqa: E402

from keyworker import status as st  # noqa: E402
from tests.oracle import evaluate_bulk as oracle_evaluate_bulk  # noqa: E402

NOW = 1_700_000_000
DAY = 86_400
DOORS_PER_KEY = 5
ORACLE_KEYS = 20_000
TARGETS = {
    "rust_1_thread_pairs_per_second": 200e6,
    "two_thread_speedup": 1.7,
    "rust_vs_oracle": 100.0,
    "per_key_evaluate_seconds": 5e-6,
}


def realistic_columns(keys: int, seed: int = 7) -> dict[str, np.ndarray[Any, Any]]:
    """Columns of ``keys`` keys with 5 doors each, in the bulk layout of keyworker.status."""
    rng = np.random.default_rng(seed)
    digital = rng.random(keys) < 0.40
    roll = rng.integers(0, 100, keys)
    valid_from = NOW - 400 * DAY + rng.integers(0, 430 * DAY, keys)
    has_end = rng.random(keys) < 0.30
    valid_until = np.where(has_end, valid_from + DAY + rng.integers(0, 400 * DAY, keys), st.NO_END)

    code = {name: i for i, name in enumerate(st.DOOR_STATES)}
    r = roll[:, None]
    coin = rng.integers(0, 2, (keys, DOORS_PER_KEY)).astype(bool)
    access_medium_state = np.select(
        [r < 90, r < 94, r < 98],
        [
            code["deployed"],
            np.where(coin, code["deployment_pending"], code["deployed"]),
            np.where(coin, code["revocation_pending"], code["removed"]),
        ],
        code["removed"],
    )
    digital_key_state = np.select(
        [r < 5, r < 95, r < 97],
        [
            code["none"],
            code["deployed"],
            np.where(coin, code["blocking_pending"], code["blocked"]),
        ],
        code["removed"],
    )
    states = np.where(digital[:, None], digital_key_state, access_medium_state)
    # Common doors (entrance, garage) are mostly online; unit doors mostly offline.
    online = rng.random((keys, DOORS_PER_KEY)) < 0.5
    door_states = (states | np.where(online, st.DOOR_ONLINE, 0)).astype(np.uint8).ravel()

    flags = np.where(rng.random(keys) < 0.20, st.FLAG_HAS_SCHEDULE, 0)
    flags |= np.where(~digital & (roll >= 94), st.FLAG_REVOKED, 0)
    flags |= np.where(digital & (roll >= 5), st.FLAG_DELIVERED, 0)
    flags |= np.where(digital & (roll >= 95) & (roll < 97), st.FLAG_PHONE_BLOCKED, 0)
    flags |= np.where(digital & (roll >= 97), st.FLAG_REVOKED | st.FLAG_APP_RELOADED, 0)
    return {
        "key_types": digital.astype(np.uint8),
        "flags": flags.astype(np.uint8),
        "valid_from": valid_from.astype(np.int64),
        "valid_until": valid_until.astype(np.int64),
        "door_offsets": np.arange(0, keys * DOORS_PER_KEY + 1, DOORS_PER_KEY, dtype=np.uint32),
        "door_states": door_states,
    }


def first_keys(columns: dict[str, np.ndarray[Any, Any]], keys: int) -> dict[str, Any]:
    """The first ``keys`` keys of a batch, as their own batch."""
    offsets = columns["door_offsets"][: keys + 1]
    return {
        **{name: columns[name][:keys] for name in ("key_types", "flags")},
        **{name: columns[name][:keys] for name in ("valid_from", "valid_until")},
        "door_offsets": offsets,
        "door_states": columns["door_states"][: int(offsets[-1])],
    }


def timed_runs(run: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def per_call_seconds(call: Callable[[], object]) -> float:
    number = 20_000
    return statistics.median(timeit.repeat(call, number=number, repeat=5)) / number


def per_key_evaluate() -> dict[str, float]:
    """Seconds per ``keyworker.status.evaluate`` call, as the API makes it for one key."""
    card = st.KeyFacts(
        key_type="access_medium",
        revoked=False,
        valid_from=NOW - DAY,
        valid_until=None,
        doors=(
            st.DoorFacts("deployed", True, "common"),
            st.DoorFacts("deployed", True, "common"),
            st.DoorFacts("deployed", False, "common"),
            st.DoorFacts("deployed", True, "common"),
            st.DoorFacts("deployment_pending", False, "unit"),
        ),
    )
    office_hours = st.Schedule(
        "Europe/Zurich", (st.Window(frozenset({"mon", "tue", "wed", "thu", "fri"}), 420, 1140),)
    )
    phone_key = st.KeyFacts(
        key_type="digital_key",
        revoked=False,
        valid_from=NOW - DAY,
        valid_until=NOW + 90 * DAY,
        doors=tuple(st.DoorFacts("deployed", True) for _ in range(DOORS_PER_KEY)),
        schedule=office_hours,
        delivered=True,
    )
    return {
        "access_medium_5_doors": per_call_seconds(lambda: st.evaluate(card, NOW)),
        "digital_key_5_doors_with_schedule": per_call_seconds(lambda: st.evaluate(phone_key, NOW)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys in the batch")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per thread count")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "bulk_status.json"
    )
    args = parser.parse_args(argv)

    columns = realistic_columns(args.keys)
    pairs = int(columns["door_states"].size)

    def rust(threads: int) -> Callable[[], st.BulkResult]:
        return lambda: st.evaluate_bulk(**columns, now=NOW, threads=threads)

    rust(1)()  # warm up: page in the columns, build the 2-thread pool on first use
    rust(2)()
    one = timed_runs(rust(1), args.runs)
    two = timed_runs(rust(2), args.runs)
    one_median, two_median = statistics.median(one), statistics.median(two)

    oracle_keys = min(ORACLE_KEYS, args.keys)
    oracle_batch = first_keys(columns, oracle_keys)
    oracle_pairs = int(oracle_batch["door_states"].size)
    oracle_times = timed_runs(lambda: oracle_evaluate_bulk(**oracle_batch, now=NOW), 3)
    oracle_median = statistics.median(oracle_times)
    agree = oracle_evaluate_bulk(**oracle_batch, now=NOW) == st.evaluate_bulk(
        **oracle_batch, now=NOW
    )

    rust_1_rate = pairs / one_median
    rust_2_rate = pairs / two_median
    oracle_rate = oracle_pairs / oracle_median
    per_key = per_key_evaluate()
    full = st.evaluate_bulk(**columns, now=NOW)
    result: dict[str, Any] = {
        "benchmark": "bulk_status",
        "command": " ".join(
            ["python bench/bulk_status.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "keys": args.keys,
        "doors_per_key": DOORS_PER_KEY,
        "pairs": pairs,
        "rust": {
            f"threads_{n}": {
                "median_seconds": statistics.median(times),
                "pairs_per_second": pairs / statistics.median(times),
                "runs_seconds": times,
            }
            for n, times in ((1, one), (2, two))
        },
        "two_thread_speedup": one_median / two_median,
        "oracle": {
            "keys_timed": oracle_keys,
            "pairs_timed": oracle_pairs,
            "median_seconds": oracle_median,
            "pairs_per_second": oracle_rate,
            "note": (
                f"tests.oracle.evaluate_bulk timed on the first {oracle_keys} keys (median of 3)"
                " and compared per key-door pair"
            ),
        },
        "ratios": {
            "rust_1_thread_vs_oracle": rust_1_rate / oracle_rate,
            "rust_2_threads_vs_oracle": rust_2_rate / oracle_rate,
        },
        "per_key_evaluate_seconds": per_key,
        "agree_with_oracle": agree,
        "status_counts": full.status_counts,
        "home_status_counts": full.home_status_counts,
        "targets": TARGETS,
        "targets_met": {
            "rust_1_thread_pairs_per_second": rust_1_rate
            >= TARGETS["rust_1_thread_pairs_per_second"],
            "two_thread_speedup": one_median / two_median >= TARGETS["two_thread_speedup"],
            "rust_vs_oracle": rust_1_rate / oracle_rate >= TARGETS["rust_vs_oracle"],
            "per_key_evaluate_seconds": max(per_key.values())
            <= TARGETS["per_key_evaluate_seconds"],
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")

    print(f"bulk status evaluation, {args.keys:,} keys x {DOORS_PER_KEY} doors on {cpu_model()}")
    print(f"  rust, 1 thread : {one_median * 1e3:9.2f} ms  {rust_1_rate / 1e6:9.1f} M pairs/s")
    print(
        f"  rust, 2 threads: {two_median * 1e3:9.2f} ms  {rust_2_rate / 1e6:9.1f} M pairs/s"
        f"  ({one_median / two_median:.2f}x one thread)"
    )
    print(
        f"  oracle (Python): {oracle_rate / 1e6:9.3f} M pairs/s, timed on the first "
        f"{oracle_keys:,} keys and scaled per pair"
    )
    print(
        f"  rust vs oracle : {rust_1_rate / oracle_rate:9.0f}x (1 thread), "
        f"{rust_2_rate / oracle_rate:.0f}x (2 threads); same codes: {agree}"
    )
    for name, seconds in per_key.items():
        print(f"  evaluate(), one key ({name}): {seconds * 1e6:.2f} us")
    print(f"  written to {args.output}")
    return result


if __name__ == "__main__":
    main()
