"""A hot door: many writers creating access media that share one door.

Every access medium of a building opens its entrance, so every create hands work to the same
door item. This benchmark runs the experiment of issue 12 in-process: moto (``mock_aws``, with
the project's moto shims as the test suite uses them: per-request atomicity and the speed-ups),
the services as the API calls them (``KeyService.create_access_medium`` with an idempotency
key), ``--creates`` creates on ``[entrance, unit-i]`` (one unit door per create, the entrance
shared by all), spread over 1, 4 and 16 writer threads; a fresh table for each writer count.

Reported per writer count: throughput (creates/s over the wall time), conditional conflicts
per create (every ``ConditionalCheckFailedException`` DynamoDB answered, counted by a botocore
event hook, with the most one create met), latency p50/p95/max, the ``ConcurrentUpdate``
errors that reached a caller, and the accounting of the shared door's versions afterwards
(every version up to ``desired_version`` has its change item or a void marker, and every key's
entrance row records a version whose change names it). Printed: the ratio of the 16-writer to
the 1-writer throughput against the 0.8 target, and conflicts per create against 0.1. JSON goes
to ``bench/results/hot_door.json``.

    .venv/bin/python bench/hot_door.py                                  # 400 creates, 1/4/16
    .venv/bin/python bench/hot_door.py --creates 20 --writers 1 4       # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import cpu_model, offline_ports
from moto import mock_aws

from keyworker.adapters.dynamodb import make_client
from keyworker.domain.services import build_services
from keyworker.errors import ConcurrentUpdate
from keyworker.infra_template import create_tables
from keyworker.local.moto_shims import SetAttribute, make_dynamodb_atomic, speed_up_moto

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "hot_door.json"
TABLE = "keyworker-hot-door"
REGION = "us-east-1"
SITE = "bench-site"
HOT_DOOR = "entrance"
NOW = 1_767_571_200
THROUGHPUT_TARGET = 0.8
CONFLICT_TARGET = 0.1


class _ConflictCounter:
    """Counts the conditional checks DynamoDB refused, in total and on the calling thread (a
    create runs on one thread, so the thread's count around it is the create's)."""

    def __init__(self, client: Any) -> None:
        self.total = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        client.meta.events.register("after-call.dynamodb", self._after_call)

    def _after_call(self, parsed: Any, **_: Any) -> None:
        code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        if code == "ConditionalCheckFailedException":
            with self._lock:
                self.total += 1
            self._local.count = self.on_this_thread() + 1

    def on_this_thread(self) -> int:
        return int(getattr(self._local, "count", 0))


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _accounting(client: Any, key_ids: Sequence[str]) -> dict[str, Any]:
    """Every version of the shared door up to its desired version: a change or a void marker;
    every key's entrance row: a recorded version whose change names the key's row."""
    store = offline_ports(client, TABLE, NOW).store
    door = store.get_door(SITE, HOT_DOOR)
    assert door is not None
    versions = range(1, door.desired_version + 1)
    changes = store.get_changes(SITE, HOT_DOOR, versions)
    void = sorted(v for v, change in changes.items() if change.action == "void")
    missing = [v for v in versions if v not in changes]
    records = store.get_keys(SITE, key_ids)
    unrecorded = []
    for key_id in key_ids:
        record = records.get(key_id)
        row = None if record is None else record.row(HOT_DOOR)
        carried = (
            None if row is None or row.change_version is None else changes.get(row.change_version)
        )
        if (
            row is None
            or carried is None
            or (key_id, row.seq) not in {(ref.key_id, ref.seq) for ref in carried.refs}
        ):
            unrecorded.append(key_id)
    return {
        "desired_version": door.desired_version,
        "changes": len(changes) - len(void),
        "void_markers": len(void),
        "versions_missing": len(missing),
        "keys_created": len(records),
        "keys_without_their_version": len(unrecorded),
        "all_accounted_for": not missing and not unrecorded and len(records) == len(key_ids),
    }


def run(creates: int, writers: int) -> dict[str, Any]:
    """``creates`` creates over ``writers`` threads against a fresh in-process moto."""
    with mock_aws():
        client = make_client(region_name=REGION)
        create_tables(client, names={"KeyworkerTable": TABLE}, only=["KeyworkerTable"])
        services = build_services(offline_ports(client, TABLE, NOW))
        doors = services.doors
        doors.put_door(
            SITE, HOT_DOOR, name="Entrance", kind="common", connectivity="online", actor="bench"
        )
        for number in range(creates):
            doors.put_door(
                SITE,
                f"unit-{number}",
                name="Unit",
                kind="unit",
                connectivity="offline",
                actor="bench",
            )
        conflicts = _ConflictCounter(client)
        latencies: list[float] = []
        per_create_conflicts: list[int] = []
        key_ids: list[str] = []
        errors: list[str] = []
        lock = threading.Lock()

        def create(number: int) -> None:
            before = conflicts.on_this_thread()
            start = time.perf_counter()
            try:
                view = services.keys.create_access_medium(
                    SITE,
                    holder_id=f"holder-{number}",
                    card_uid=f"card-{number}",
                    door_ids=[HOT_DOOR, f"unit-{number}"],
                    valid_from=NOW,
                    actor="bench",
                    request_id=f"request-{number}",
                )
            except ConcurrentUpdate as error:
                with lock:
                    errors.append(str(error))
                return
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                per_create_conflicts.append(conflicts.on_this_thread() - before)
                key_ids.append(view.record.key_id)

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=writers) as pool:
            list(pool.map(create, range(creates)))
        wall = time.perf_counter() - start
        accounting = _accounting(client, key_ids)
    done = len(latencies)
    return {
        "writers": writers,
        "creates": creates,
        "completed": done,
        "wall_seconds": round(wall, 3),
        "creates_per_second": round(done / wall, 2),
        "conditional_conflicts": conflicts.total,
        "conflicts_per_create": round(conflicts.total / creates, 3),
        "max_conflicts_one_create": max(per_create_conflicts, default=0),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p95": round(_percentile(latencies, 0.95) * 1000, 1) if latencies else None,
            "max": round(max(latencies) * 1000, 1) if latencies else None,
        },
        "concurrent_update_to_callers": len(errors),
        "versions": accounting,
    }


def main(
    argv: Sequence[str] | None = None, set_attribute: SetAttribute = setattr
) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=400)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ.setdefault(name, value)
    # As the test suite runs moto (tests/conftest.py, tests/moto_state.py).
    speed_up_moto(set_attribute)
    make_dynamodb_atomic(set_attribute)

    runs = [run(args.creates, writers) for writers in args.writers]
    result: dict[str, Any] = {
        "benchmark": "hot_door",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0]},
        "emulator": "moto in-process (mock_aws), atomic item operations, speed-ups on",
        "runs": runs,
        "targets": {"throughput_ratio": THROUGHPUT_TARGET, "conflicts_per_create": CONFLICT_TARGET},
    }
    by_writers = {r["writers"]: r for r in runs}
    lowest, highest = min(by_writers), max(by_writers)
    if highest != lowest:
        ratio = by_writers[highest]["creates_per_second"] / by_writers[lowest]["creates_per_second"]
        result["throughput_ratio"] = {
            "writers": [highest, lowest],
            "ratio": round(ratio, 2),
            "meets_target": ratio >= THROUGHPUT_TARGET,
        }
    result["conflicts_meet_target"] = all(
        r["conflicts_per_create"] <= CONFLICT_TARGET for r in runs
    )
    result["no_concurrent_update_to_callers"] = all(
        r["concurrent_update_to_callers"] == 0 for r in runs
    )
    result["all_versions_accounted_for"] = all(r["versions"]["all_accounted_for"] for r in runs)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")

    for r in runs:
        latency = r["latency_ms"]
        print(
            f"{r['writers']:>3} writers: {r['creates_per_second']:7.2f} creates/s"
            f"  conflicts/create {r['conflicts_per_create']:6.3f}"
            f" (max {r['max_conflicts_one_create']} on one create)"
            f"  p95 {latency['p95']} ms"
            f"  ConcurrentUpdate to callers {r['concurrent_update_to_callers']}"
            f"  versions {r['versions']['desired_version']}"
            f" (void {r['versions']['void_markers']}, missing {r['versions']['versions_missing']})"
            f"  accounted {r['versions']['all_accounted_for']}"
        )
    if "throughput_ratio" in result:
        t = result["throughput_ratio"]
        print(
            f"throughput {t['writers'][0]}/{t['writers'][1]} writers: {t['ratio']}"
            f" (target >= {THROUGHPUT_TARGET}: {'met' if t['meets_target'] else 'NOT met'})"
        )
    print(
        f"conflicts per create <= {CONFLICT_TARGET}: "
        f"{'met' if result['conflicts_meet_target'] else 'NOT met'}"
    )
    print(f"written to {args.output}")
    return result


if __name__ == "__main__":
    main()
