"""A whole revocation run against the local emulator, against the emulator's bare-write floor.

For each site size (default 1,000 and 10,000 keys, each key at about 3 doors: its flat's door,
its building's online entrance and offline garage; buildings of 1,000 keys; three cards and one
digital key per flat), two identical tables are filled in one emulator (moto's server, in its
own process, as ``keyworker local`` runs it). Then:

- **the run**: ``RevocationService.start`` with ``{"all": true}``, the plan job, and every chunk
  job on ``--workers`` parallel chunk workers (each writing with ``--writers`` threads), until
  the run is done. Every DynamoDB call it makes is counted and every write recorded.
- **the floor**: the very writes the run made, replayed *bare* into the twin table: the same
  operations with the same items and updates, without their conditions, without any read or
  computation, with as many threads as the run wrote with (and, with ``--sequential-floor``,
  on one thread too).

It reports the run's time against the floor (target: at most 1.5x), how both grow from the
small to the large site, DynamoDB calls and write units per revoked key (write units computed
from the items' sizes by DynamoDB's rules, for the table and, estimated, for its indexes), and
what the same run would cost and take on DynamoDB. Two micro-measures back the design's
choices in the same emulator: the record step as UpdateItem vs whole-item PutItem, and single
conditional writes vs TransactWriteItems (whose cost in moto grows with the database).

    .venv/bin/python bench/revocation_run.py                   # 1,000 and 10,000 keys
    .venv/bin/python bench/revocation_run.py --sizes 200       # a smoke run

JSON goes to ``bench/results/revocation_run.json``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import re
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from common import cpu_model, offline_ports

from keyworker.adapters.dynamodb.key_store import door_to_item, key_to_item
from keyworker.adapters.dynamodb.run_store import RunStore
from keyworker.domain.engine import Engine
from keyworker.domain.models import Door, KeyRecord
from keyworker.domain.services import build_services
from keyworker.infra_template import create_tables
from keyworker.local.emulator import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION, EmulatorProcess
from keyworker.revocation.service import RevocationService

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "revocation_run.json"
SITE = "bench-site"
TEMPLATE_SITE = "bench-templates"
NOW = 1_767_571_200
KEYS_PER_BUILDING = 1000
CARDS_PER_FLAT = 3
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
# On-demand write request units, us-east-1 (since November 2024), in USD per million.
PRICE_PER_MILLION_WRU = 0.625
# What one partition key value takes before DynamoDB splits it for heat: every key and door of
# a site shares the partition key SITE#<site>.
PARTITION_WCU_PER_SECOND = 1000


def _client(endpoint: str, pool: int) -> Any:
    factory: Any = boto3.client
    return factory(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=pool),
    )


# ---------------------------------------------------------------------------------- site


def _templates(client: Any, table: str) -> tuple[KeyRecord, KeyRecord]:
    """A settled card and a delivered digital key made by the services (their items are the
    real thing: index attributes, audit event); the site's keys are copies of them."""
    services = build_services(offline_ports(client, table, NOW))
    for door, kind, connectivity in (
        ("t-entrance", "common", "online"),
        ("t-garage", "common", "offline"),
        ("t-flat", "unit", "offline"),
    ):
        services.doors.put_door(
            TEMPLATE_SITE, door, name=door, kind=kind, connectivity=connectivity, actor="bench"
        )
    doors = ["t-entrance", "t-garage", "t-flat"]
    card = services.keys.create_access_medium(
        TEMPLATE_SITE,
        holder_id="h",
        card_uid="c",
        door_ids=doors,
        valid_from=NOW - 86_400,
        actor="b",
    ).record
    for door in doors:
        services.doors.door_synced(TEMPLATE_SITE, door, 1, actor="bench")
    digital = services.keys.create_digital_key(
        TEMPLATE_SITE,
        holder_id="h",
        phone="+41790000000",
        door_ids=doors,
        valid_from=NOW - 86_400,
        actor="b",
    ).record
    services.keys.key_delivered(TEMPLATE_SITE, digital.key_id, actor="cloud")
    store = services.queries._engine.store
    card_now = store.get_key(TEMPLATE_SITE, card.key_id)
    digital_now = store.get_key(TEMPLATE_SITE, digital.key_id)
    assert card_now is not None
    assert digital_now is not None
    assert card_now.indexed is not None
    assert card_now.indexed.status == "active"
    return card_now, digital_now


def _site_items(size: int, card: KeyRecord, digital: KeyRecord) -> list[dict[str, Any]]:
    """Doors and ``size`` keys of the site, as items (the same for both tables)."""
    items: list[dict[str, Any]] = []
    per_flat = CARDS_PER_FLAT + 1
    flats = math.ceil(size / per_flat)
    buildings = math.ceil(size / KEYS_PER_BUILDING)
    for b in range(buildings):
        items.append(
            door_to_item(
                Door(SITE, f"b{b}-entrance", "Entrance", "common", "online", 1, 1, None, 1)
            )
        )
        items.append(
            door_to_item(Door(SITE, f"b{b}-garage", "Garage", "common", "offline", 1, 1, None, 1))
        )
    for f in range(flats):
        items.append(
            door_to_item(Door(SITE, f"flat-{f}", f"Flat {f}", "unit", "offline", 1, 1, None, 1))
        )
    for k in range(size):
        flat = k // per_flat
        building = k // KEYS_PER_BUILDING
        doors = [f"b{building}-entrance", f"b{building}-garage", f"flat-{flat}"]
        template = digital if k % per_flat == CARDS_PER_FLAT else card
        rows = tuple(
            replace(row, door_id=door) for row, door in zip(template.rows, doors, strict=True)
        )
        key_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench-key-{k}"))
        record = replace(
            template,
            site_id=SITE,
            key_id=key_id,
            holder_id=f"holder-{flat}",
            rows=rows,
            card_uid=None if template.card_uid is None else f"card-{k}",
            phone_hash=None if template.phone_hash is None else f"{k:064x}",
            last_event=None
            if template.last_event is None
            else replace(template.last_event, site_id=SITE, key_id=key_id),
        )
        items.append(key_to_item(record))
    return items


def _fill(client: Any, table: str, items: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        request: dict[str, Any] = {
            table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        }
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


# ------------------------------------------------------------------------- recording


class Recorder:
    """Counts every DynamoDB call of a client and keeps a copy of every write's parameters."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.on = False
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.on:
            return
        with self._lock:
            self.calls[model.name] += 1
            if model.name in WRITES:
                self.writes.append((model.name, copy.deepcopy(params)))


_TOKEN = re.compile(r"[#:][A-Za-z0-9_]+")


def bare(operation: str, params: dict[str, Any], table: str) -> dict[str, Any]:
    """A recorded write as a bare write into ``table``: no condition, no return values, and
    only the expression names and values its remaining expressions use."""
    bare_params = {
        k: v for k, v in params.items() if k not in ("ConditionExpression", "ReturnValues")
    }
    if operation == "BatchWriteItem":
        [items] = params["RequestItems"].values()
        return {"RequestItems": {table: items}}
    bare_params["TableName"] = table
    used = set(_TOKEN.findall(bare_params.get("UpdateExpression", "")))
    for name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        if name in bare_params:
            kept = {k: v for k, v in bare_params[name].items() if k in used}
            if kept:
                bare_params[name] = kept
            else:
                del bare_params[name]
    return bare_params


def replay(
    client: Any, writes: Sequence[tuple[str, dict[str, Any]]], table: str, threads: int
) -> float:
    """Issues the writes bare into ``table`` on ``threads`` threads; returns the seconds."""
    methods = {
        "PutItem": client.put_item,
        "UpdateItem": client.update_item,
        "DeleteItem": client.delete_item,
        "BatchWriteItem": client.batch_write_item,
    }
    requests = [(methods[op], bare(op, params, table)) for op, params in writes]

    def send(request: tuple[Any, dict[str, Any]]) -> None:
        method, kwargs = request
        response = method(**kwargs)
        pending = response.get("UnprocessedItems") if isinstance(response, dict) else None
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    start = time.perf_counter()
    if threads == 1:
        for request in requests:
            send(request)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, requests))
    return time.perf_counter() - start


# ------------------------------------------------------------------------ write units


def _size(value: dict[str, Any]) -> int:
    """Bytes of a DynamoDB attribute value (the service's sizing rules, to the byte or so)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = len(str(v).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_size({kind[0]: x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + _size(x) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _size(x) for k, x in v.items())
    raise ValueError(kind)


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


def units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def write_units(
    client: Any, table: str, writes: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, int]:
    """Write units of the recorded writes: puts by their item, updates by the item they leave
    (read back), batch puts per item; and an estimate of the index writes they cause: a key
    whose indexed status changes moves in ``keys_by_status`` (delete + put), any other key or
    pending-door write updates its index entry once."""
    updated = {(p["Key"]["pk"]["S"], p["Key"]["sk"]["S"]) for op, p in writes if op == "UpdateItem"}
    after: dict[tuple[str, str], dict[str, Any]] = {}
    keys = list(updated)
    for start in range(0, len(keys), 100):
        request = {
            table: {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start : start + 100]]
            }
        }
        while request:
            response = client.batch_get_item(RequestItems=request)
            for item in response["Responses"][table]:
                after[(item["pk"]["S"], item["sk"]["S"])] = item
            request = response.get("UnprocessedKeys") or {}
    table_units = 0
    index_units = 0
    for op, params in writes:
        if op == "PutItem":
            item = params["Item"]
            size = units(item_size(item))
            table_units += size
            if "status_pk" in item:  # a key's intent write: its status entry moves
                index_units += 2 * size
            elif "visit_pk" in item:  # a door with pending work: its worklist entry
                index_units += units(item_size(item))
        elif op == "UpdateItem":
            key = (params["Key"]["pk"]["S"], params["Key"]["sk"]["S"])
            item = after.get(key, {})
            size = units(item_size(item))
            table_units += size
            if "status_pk" in item:  # the record step: the index copy is rewritten
                index_units += size
        elif op == "BatchWriteItem":
            for entries in params["RequestItems"].values():
                table_units += sum(units(item_size(e["PutRequest"]["Item"])) for e in entries)
    return {"table": table_units, "indexes_estimated": index_units}


# ------------------------------------------------------------------------ micro-measures


def transaction_vs_single_writes(client: Any, table: str, rounds: int = 3) -> dict[str, Any]:
    """Ten conditional puts as ten PutItem calls and as one TransactWriteItems, timed in this
    table (moto copies the whole database for every transaction)."""

    def put(n: int, r: int) -> dict[str, Any]:
        return {
            "TableName": table,
            "Item": {"pk": {"S": f"BENCH#{r}"}, "sk": {"S": f"ITEM#{n}"}, "v": {"N": "1"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    singles, transactions = [], []
    for r in range(rounds):
        start = time.perf_counter()
        for n in range(10):
            client.put_item(**put(n, 2 * r))
        singles.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.transact_write_items(TransactItems=[{"Put": put(n, 2 * r + 1)} for n in range(10)])
        transactions.append(time.perf_counter() - start)
    return {
        "ten_put_item_median_ms": round(statistics.median(singles) * 1000, 3),
        "one_transact_write_items_of_ten_median_ms": round(
            statistics.median(transactions) * 1000, 3
        ),
    }


# -------------------------------------------------------------------------------- the run


class PoolDispatcher:
    """Runs the plan job inline and the chunk jobs on a pool of chunk workers (standing in for
    the jobs queue and the worker Lambda's concurrency)."""

    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(workers)
        self.futures: list[Future[Any]] = []
        self.service: RevocationService | None = None

    def plan(self, site_id: str, run_id: str) -> None:
        assert self.service is not None
        self.service.plan_run(site_id, run_id)

    def chunks(self, site_id: str, run_id: str, numbers: Sequence[int]) -> None:
        assert self.service is not None
        service = self.service
        for n in numbers:
            self.futures.append(self.pool.submit(service.execute_chunk, site_id, run_id, n))


def measure(
    client: Any,
    size: int,
    workers: int,
    writers: int,
    sequential_floor: bool,
    with_transactions: bool = False,
) -> dict[str, Any]:
    run_table = f"revocation-run-{size}"
    floor_table = f"revocation-floor-{size}"
    sequential_table = f"revocation-floor-sequential-{size}"
    tables = [run_table, floor_table] + ([sequential_table] if sequential_floor else [])
    for table in tables:
        create_tables(client, names={"KeyworkerTable": table}, only=["KeyworkerTable"])
    card, digital = _templates(client, run_table)
    items = _site_items(size, card, digital)
    fill_start = time.perf_counter()
    for table in tables:
        _fill(client, table, items)
    fill_seconds = (time.perf_counter() - fill_start) / len(tables)

    recorder = Recorder(client)
    dispatcher = PoolDispatcher(workers)
    service = RevocationService(
        Engine(offline_ports(client, run_table, NOW)),
        RunStore(client, run_table),
        dispatcher,
        parallel_writes=writers,
    )
    dispatcher.service = service
    recorder.on = True
    start = time.perf_counter()
    run = service.start(SITE, {"all": True}, actor="bench")
    planned = time.perf_counter()
    for future in dispatcher.futures:
        future.result()
    total = time.perf_counter() - start
    recorder.on = False
    dispatcher.pool.shutdown()
    run = service.get_run(SITE, run.run_id)
    assert run.state == "done", run
    revoked = run.counts["revoked"]
    assert revoked == size, run.counts

    floor = replay(client, recorder.writes, floor_table, workers * writers)
    floor_sequential = (
        replay(client, recorder.writes, sequential_table, 1) if sequential_floor else None
    )
    wcu = write_units(client, run_table, recorder.writes)
    calls = dict(recorder.calls)
    total_units = wcu["table"] + wcu["indexes_estimated"]
    return {
        "keys": size,
        "doors": len(items) - size,
        "chunks": run.chunk_count,
        "fill_seconds": round(fill_seconds, 2),
        "run_seconds": round(total, 3),
        "plan_seconds": round(planned - start, 3),
        "floor_seconds": round(floor, 3),
        "floor_sequential_seconds": None
        if floor_sequential is None
        else round(floor_sequential, 3),
        "run_over_floor": round(total / floor, 3),
        "ms_per_key": {
            "run": round(total / size * 1000, 3),
            "floor": round(floor / size * 1000, 3),
        },
        "counts": dict(run.counts),
        "dynamodb_calls": calls,
        "writes_recorded": len(recorder.writes),
        "calls_per_revoked_key": round(sum(calls.values()) / revoked, 3),
        "write_calls_per_revoked_key": round(len(recorder.writes) / revoked, 3),
        "write_units": wcu,
        "write_units_per_revoked_key": {
            "table": round(wcu["table"] / revoked, 3),
            "with_indexes_estimated": round(total_units / revoked, 3),
        },
        "on_dynamodb": {
            "write_units": total_units,
            "usd_on_demand": round(total_units / 1e6 * PRICE_PER_MILLION_WRU, 6),
            "seconds_at_1000_wcu_per_second": round(total_units / PARTITION_WCU_PER_SECOND, 1),
        },
        # Only while the emulator is small: moto copies its whole database per transaction,
        # and after the 10,000-key run one call outlasted the client's 60 s read timeout.
        "transactions": (
            transaction_vs_single_writes(client, run_table) if with_transactions else None
        ),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument(
        "--workers", type=int, default=10, help="parallel chunk workers (Lambda concurrency)"
    )
    parser.add_argument("--writers", type=int, default=4, help="writer threads per chunk")
    parser.add_argument("--sequential-floor", action="store_true", help="also replay on 1 thread")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    logging.getLogger("keyworker").setLevel(logging.WARNING)
    emulator = EmulatorProcess()
    endpoint = emulator.start()
    try:
        client = _client(endpoint, pool=max(10, args.workers * args.writers * 2))
        runs = []
        for size in args.sizes:
            print(f"{size} keys ...", file=sys.stderr, flush=True)
            first = size == args.sizes[0]
            runs.append(
                measure(client, size, args.workers, args.writers, args.sequential_floor, first)
            )
    finally:
        emulator.stop()
    result: dict[str, Any] = {
        "benchmark": "revocation_run",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0]},
        "emulator": "moto server in its own process (keyworker.local.emulator), over HTTP",
        "workers": args.workers,
        "writers_per_chunk": args.writers,
        "price_usd_per_million_write_units": PRICE_PER_MILLION_WRU,
        "runs": runs,
    }
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]
        result["growth_per_key_smallest_to_largest"] = {
            "run": round(large["ms_per_key"]["run"] / small["ms_per_key"]["run"], 3),
            "floor": round(large["ms_per_key"]["floor"] / small["ms_per_key"]["floor"], 3),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for run in runs:
        print(
            f"{run['keys']:>6} keys: run {run['run_seconds']:8.2f} s"
            f" (plan {run['plan_seconds']:.2f} s)  floor {run['floor_seconds']:8.2f} s"
            f"  run/floor {run['run_over_floor']:.2f}  calls/key {run['calls_per_revoked_key']}"
            f"  WCU/key {run['write_units_per_revoked_key']}"
        )
    if "growth_per_key_smallest_to_largest" in result:
        print("growth per key, smallest to largest:", result["growth_per_key_smallest_to_largest"])
    print(f"written to {args.output}")
    return result


if __name__ == "__main__":
    main()
