"""What the site summary (``GET /v1/sites/{site}/summary``) costs in DynamoDB, at 1,000 and
10,000 keys, for the two designs of issue 14:

(a) **bounded read** (implemented): one paginated Query of the site's key items projected to
    the facts a status needs, plus one Query of its doors and one of its runs; evaluated with
    the core's ``evaluate_bulk``. Measured: DynamoDB calls, read units, time in the emulator.
(b) **maintained per-site counter item**: the summary reads one item (GetItem); every write that
    changes a key's status also updates the counter (one UpdateItem ADD). Measured: the read's
    calls, units and time, and the time of the extra UpdateItem each key write would pay.

Read units are computed by DynamoDB's documented rule, since the emulator (moto) reports a
constant: a Query is charged on the full size of the items it reads (projection does not
reduce it), per 1 MB page, ceil(bytes / 4 KB) units for a strongly consistent read and half for
an eventually consistent one (the summary's Queries are eventually consistent). Item sizes
follow the documented rule (names + values; numbers ~1 byte per 2 digits + 1).

A fresh emulator (moto's threaded server over HTTP, as ``keyworker local`` runs it) holds one
table per size, filled with realistic key items (an access medium with three door rows and its
embedded audit event, copied under new ids) on 50 doors.

    .venv/bin/python bench/summary_cost.py                         # 1,000 and 10,000 keys
    .venv/bin/python bench/summary_cost.py --sizes 200 --repeat 1  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import cpu_model, offline_ports

from keyworker.adapters.dynamodb.key_store import from_item, key_to_item
from keyworker.domain.services import Services, build_services
from keyworker.infra_template import create_tables
from keyworker.local.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "summary_cost.json"
TABLE = "keyworker-summary-bench"
SITE = "bench-site"
NOW = 1_767_571_200
DOORS = 50
PAGE_BYTES = 1024 * 1024


class _Calls:
    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | Decimal):
        digits = len(str(abs(int(value)))) if isinstance(value, int) else len(str(value))
        return math.ceil(digits / 2) + 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | set | tuple):
        return 3 + sum(_value_size(v) + 1 for v in value)
    return len(str(value).encode())


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item (attribute names plus values)."""
    return sum(len(name.encode()) + _value_size(v) for name, v in from_item(item).items())


def query_read_units(sizes: Sequence[int], *, consistent: bool) -> float:
    """Read units of a Query reading items of ``sizes`` (bytes), in 1 MB pages."""
    units = 0.0
    page = 0
    for size in [*sizes, None]:
        if size is None or page + size > PAGE_BYTES:
            units += math.ceil(page / 4096) * (1.0 if consistent else 0.5)
            page = 0
        if size is not None:
            page += size
    return max(units, 0.5)


def _fill(client: Any, table: str, services: Services, count: int) -> None:
    for number in range(DOORS):
        services.doors.put_door(
            SITE,
            f"door-{number}",
            name="Door",
            kind="unit",
            connectivity="online" if number % 5 == 0 else "offline",
            actor="bench",
        )
    template = services.keys.create_access_medium(
        SITE,
        holder_id="holder",
        card_uid="card",
        door_ids=["door-0", "door-1", "door-2"],
        valid_from=NOW - 86_400,
        actor="bench",
    ).record
    batch: list[dict[str, Any]] = []
    for number in range(count - 1):
        doors = [f"door-{(number + i) % DOORS}" for i in range(3)]
        rows = tuple(
            replace(row, door_id=door) for row, door in zip(template.rows, doors, strict=True)
        )
        item = key_to_item(replace(template, key_id=f"key-{number:06d}", rows=rows))
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            _write(client, table, batch)
            batch = []
    if batch:
        _write(client, table, batch)
    # (b)'s counter item, as a maintained design would keep it.
    client.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"SITE#{SITE}"},
            "sk": {"S": "SUMMARY"},
            **{f"status_{code}": {"N": "0"} for code in range(7)},
            **{f"home_{code}": {"N": "0"} for code in range(8)},
            **{f"door_{code}_{mode}": {"N": "0"} for code in range(8) for mode in range(2)},
        },
    )


def _write(client: Any, table: str, batch: list[dict[str, Any]]) -> None:
    request: dict[str, Any] = {table: batch}
    while request:
        response = client.batch_write_item(RequestItems=request)
        request = response.get("UnprocessedItems") or {}


def _partition_sizes(client: Any, table: str, prefix: str) -> list[int]:
    sizes = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
        "ExpressionAttributeValues": {":pk": {"S": f"SITE#{SITE}"}, ":p": {"S": prefix}},
    }
    while True:
        response = client.query(**kwargs)
        sizes.extend(item_size(item) for item in response["Items"])
        if "LastEvaluatedKey" not in response:
            return sizes
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def measure(sizes: Sequence[int], repeat: int) -> list[dict[str, Any]]:
    emulator = Emulator()
    emulator.start()
    try:
        client = emulator.client("dynamodb")
        calls = _Calls(client)
        results = []
        for size in sizes:
            table = f"{TABLE}-{size}"
            create_tables(client, names={"KeyworkerTable": table}, only=["KeyworkerTable"])
            services = build_services(offline_ports(client, table, NOW))
            _fill(client, table, services, size)
            key_sizes = _partition_sizes(client, table, "KEY#")
            door_sizes = _partition_sizes(client, table, "DOOR#")
            times, counted = [], Counter[str]()
            for _ in range(repeat):
                calls.calls.clear()
                start = time.perf_counter()
                summary = services.sites.summary(SITE)
                times.append(time.perf_counter() - start)
                counted = Counter(calls.calls)
            assert summary.total == size, summary.total
            counter_times, update_times = [], []
            for _ in range(max(repeat, 3)):
                start = time.perf_counter()
                client.get_item(
                    TableName=table, Key={"pk": {"S": f"SITE#{SITE}"}, "sk": {"S": "SUMMARY"}}
                )
                counter_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.update_item(
                    TableName=table,
                    Key={"pk": {"S": f"SITE#{SITE}"}, "sk": {"S": "SUMMARY"}},
                    UpdateExpression="ADD status_1 :m, status_2 :p",
                    ExpressionAttributeValues={":m": {"N": "-1"}, ":p": {"N": "1"}},
                )
                update_times.append(time.perf_counter() - start)
            results.append(
                {
                    "keys": size,
                    "bounded_read": {
                        "dynamodb_calls": dict(counted),
                        "dynamodb_calls_total": sum(counted.values()),
                        "read_units_eventually_consistent": query_read_units(
                            key_sizes, consistent=False
                        )
                        + query_read_units(door_sizes, consistent=False)
                        + 0.5,  # the runs' Query (no run items here: the minimum)
                        "key_bytes_read": sum(key_sizes),
                        "mean_key_item_bytes": round(sum(key_sizes) / len(key_sizes)),
                        "median_ms": round(statistics.median(times) * 1000, 1),
                        "runs": len(times),
                    },
                    "counter_item": {
                        "dynamodb_calls_total": 1,
                        "read_units_eventually_consistent": 0.5,
                        "read_median_ms": round(statistics.median(counter_times) * 1000, 2),
                        "extra_write_per_status_change_median_ms": round(
                            statistics.median(update_times) * 1000, 2
                        ),
                        "extra_writes_per_status_change": 1,
                    },
                }
            )
        return results
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    results = measure(args.sizes, args.repeat)
    report = {
        "bench": "summary_cost",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
