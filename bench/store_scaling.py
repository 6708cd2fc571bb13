"""Cost of the key lifecycle's hot paths against the size of the table.

For each table size (default 1,000 and 10,000 keys) a fresh local emulator (moto's threaded
server, over HTTP, as `keyworker local` runs it) gets the state table from
``infra/template.yaml``, is filled with that many keys (realistic items with their index
attributes, written with BatchWriteItem), and then the same operations are timed on keys and
doors of their own:

- ``get_key``: a key with its full status (general, home-app, per door);
- ``revoke``: an access medium revoked (a transition with its door work and audit event);
- ``door_synced``: a door confirms the version that carries that revocation;
- ``list_keys`` (for contrast, a Query on the status index: moto scans the whole table).

It reports medians (and p90) per operation, the DynamoDB calls each made, the ratio of the
large to the small table, and writes JSON to ``bench/results/store_scaling.json``. A fixed-cost
path shows a ratio near 1; the Query shows moto's growth with the table.

    .venv/bin/python bench/store_scaling.py                          # 1,000 and 10,000 keys
    .venv/bin/python bench/store_scaling.py --sizes 50 --repeat 3    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import cpu_model, offline_ports

from keyworker.adapters.dynamodb.key_store import key_to_item
from keyworker.domain.services import Services, build_services
from keyworker.infra_template import create_tables
from keyworker.local.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "store_scaling.json"
TABLE = "keyworker-bench"  # one per run: moto's server keeps its state in this process
SITE = "bench-site"
NOW = 1_767_571_200
FILL_DOORS = 50
OPERATIONS = ("get_key", "revoke", "door_synced", "list_keys")
FIXED_COST = ("get_key", "revoke", "door_synced")


class _CallCounter:
    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1


def _fill(client: Any, table: str, services: Services, count: int) -> None:
    """``count`` keys on ``FILL_DOORS`` doors: one made by the services, the rest copies of its
    item under new ids (their status-index and boundary attributes included)."""
    for number in range(FILL_DOORS):
        services.doors.put_door(
            SITE, f"fill-{number}", name="Fill", kind="unit", connectivity="offline", actor="bench"
        )
    template = services.keys.create_access_medium(
        SITE,
        holder_id="holder",
        card_uid="card",
        door_ids=["fill-0", "fill-1", "fill-2"],
        valid_from=NOW - 86_400,
        actor="bench",
    ).record
    batch: list[dict[str, Any]] = []
    for number in range(count - 1):
        doors = [f"fill-{(number + i) % FILL_DOORS}" for i in range(3)]
        rows = tuple(
            replace(row, door_id=door) for row, door in zip(template.rows, doors, strict=True)
        )
        item = key_to_item(replace(template, key_id=f"fill-key-{number}", rows=rows))
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            _write(client, table, batch)
            batch = []
    if batch:
        _write(client, table, batch)


def _write(client: Any, table: str, batch: list[dict[str, Any]]) -> None:
    request: dict[str, Any] = {table: batch}
    while request:
        response = client.batch_write_item(RequestItems=request)
        request = response.get("UnprocessedItems") or {}


def _timed(
    name: str, call: Callable[[], Any], counter: _CallCounter, results: dict[str, list[Any]]
) -> None:
    counter.calls.clear()
    start = time.perf_counter()
    call()
    elapsed = time.perf_counter() - start
    results.setdefault(name, []).append((elapsed, dict(counter.calls)))


def _prepare(client: Any, size: int, repeat: int) -> tuple[Services, list[tuple[str, str]], float]:
    """A table of ``size`` keys and ``repeat`` target keys, each on a door of its own."""
    table = f"{TABLE}-{size}"
    create_tables(client, names={"KeyworkerTable": table}, only=["KeyworkerTable"])
    services = build_services(offline_ports(client, table, NOW))
    fill_start = time.perf_counter()
    _fill(client, table, services, size)
    fill_seconds = time.perf_counter() - fill_start
    targets = []
    for number in range(repeat):
        door_id = f"target-{number}"
        services.doors.put_door(
            SITE, door_id, name="T", kind="unit", connectivity="offline", actor="bench"
        )
        view = services.keys.create_access_medium(
            SITE,
            holder_id="holder",
            card_uid=f"card-{number}",
            door_ids=[door_id],
            valid_from=NOW - 86_400,
            actor="bench",
        )
        services.doors.door_synced(SITE, door_id, 1, actor="bench")
        targets.append((view.record.key_id, door_id))
    return services, targets, fill_seconds


def _run_once(
    services: Services,
    key_id: str,
    door_id: str,
    counter: _CallCounter,
    into: dict[str, list[Any]],
) -> None:
    _timed("get_key", lambda: services.queries.get_key(SITE, key_id), counter, into)
    _timed("revoke", lambda: services.keys.revoke(SITE, key_id, actor="bench"), counter, into)
    _timed(
        "door_synced",
        lambda: services.doors.door_synced(SITE, door_id, 2, actor="bench"),
        counter,
        into,
    )
    _timed(
        "list_keys",
        lambda: services.queries.list_keys(SITE, status="door_update_pending", limit=20),
        counter,
        into,
    )


def measure(sizes: Sequence[int], repeat: int) -> list[dict[str, Any]]:
    """Every size's table lives in one emulator and the timed runs alternate between them, so
    the machine's drift (it is shared) hits every size alike."""
    emulator = Emulator()
    emulator.start()
    try:
        client = emulator.client("dynamodb")
        prepared = {size: _prepare(client, size, repeat) for size in sizes}
        counter = _CallCounter(client)
        samples: dict[int, dict[str, list[Any]]] = {size: {} for size in sizes}
        for run in range(repeat):
            for size in sizes:
                services, targets, _ = prepared[size]
                key_id, door_id = targets[run]
                _run_once(services, key_id, door_id, counter, samples[size])
        return [
            {
                "keys_in_table": size,
                "fill_seconds": round(prepared[size][2], 3),
                "operations": {name: _summary(samples[size][name]) for name in OPERATIONS},
            }
            for size in sizes
        ]
    finally:
        emulator.stop()


def _summary(samples: list[tuple[float, dict[str, int]]]) -> dict[str, Any]:
    times = sorted(s[0] for s in samples)
    calls = samples[-1][1]
    return {
        "median_ms": round(statistics.median(times) * 1000, 3),
        "p90_ms": round(times[min(len(times) - 1, int(len(times) * 0.9))] * 1000, 3),
        "runs": len(times),
        "dynamodb_calls": calls,
        "dynamodb_calls_total": sum(calls.values()),
        "calls_same_every_run": all(s[1] == calls for s in samples),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per operation")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    # The emulator's HTTP server would log every request.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    runs = measure(args.sizes, args.repeat)
    result: dict[str, Any] = {
        "benchmark": "store_scaling",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0]},
        "emulator": "moto ThreadedMotoServer over HTTP",
        "runs": runs,
    }
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]
        result["ratio_largest_to_smallest"] = {
            name: round(
                large["operations"][name]["median_ms"] / small["operations"][name]["median_ms"], 2
            )
            for name in OPERATIONS
        }
        result["fixed_call_counts"] = {
            name: small["operations"][name]["dynamodb_calls"]
            == large["operations"][name]["dynamodb_calls"]
            for name in FIXED_COST
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for run in runs:
        print(f"{run['keys_in_table']:>7} keys in the table:")
        for name in OPERATIONS:
            op = run["operations"][name]
            print(
                f"  {name:<12} median {op['median_ms']:8.2f} ms  p90 {op['p90_ms']:8.2f} ms"
                f"  calls {op['dynamodb_calls']}"
            )
    if "ratio_largest_to_smallest" in result:
        print("ratio largest/smallest table:", result["ratio_largest_to_smallest"])
    print(f"written to {args.output}")
    return result


if __name__ == "__main__":
    main()
