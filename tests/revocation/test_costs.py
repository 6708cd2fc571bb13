"""What a chunk costs in DynamoDB calls: a fixed number per key and per door, key-addressed
only (no Query, Scan or transaction), the same whatever the size of the site."""

from __future__ import annotations

from collections import Counter

from service_world import SITE

from revocation.run_world import RunWorld

GROWING = {"Query", "Scan", "TransactWriteItems", "TransactGetItems"}


def _chunk_calls(runs: RunWorld, prefix: str, extra_flats: int) -> list[Counter[str]]:
    runs.building(2, prefix=prefix)  # 4 cards and 2 digital keys: two chunks of 4 and 2
    if extra_flats:
        runs.building(extra_flats, prefix=f"{prefix}x-")
    run = runs.service.start(SITE, {"door_ids": [f"{prefix}flat-0", f"{prefix}flat-1"]}, actor="a")
    runs.plan()
    counter = runs.counter()
    calls = []
    for number in runs.jobs.chunks_of(run.run_id):
        counter.reset()
        runs.service.execute_chunk(SITE, run.run_id, number)
        calls.append(Counter(counter.calls))
    return calls


def test_a_chunk_costs_the_same_in_a_small_and_a_large_site(runs: RunWorld) -> None:
    small = _chunk_calls(runs, "a-", 0)
    large = _chunk_calls(runs, "b-", 8)
    assert small == large
    cards, digital = small
    for calls in small:
        assert not set(calls) & GROWING, calls
    # Four cards at four doors (entrance, garage, two flats): read the run and the chunk (which
    # carries the cards as the plan read them) and the doors; per key one intent and one
    # record (PutItem each); per door one version allocation (UpdateItem) and one change
    # (PutItem); the audit events in one BatchWriteItem; the outcome and the count (UpdateItem
    # each).
    assert cards == Counter(
        {
            "GetItem": 2,
            "BatchGetItem": 1,
            "PutItem": 2 * 4 + 4,
            "UpdateItem": 4 + 2,
            "BatchWriteItem": 1,
        }
    )
    # Two digital keys, read now (the chunk carries no copy of an item with a phone number):
    # no door work; the last chunk also writes the report and ends the run (reading the
    # chunks' outcomes, the plan and the doors for it).
    assert digital == Counter(
        {
            "GetItem": 3,
            "BatchGetItem": 4,
            "PutItem": 2 + 1,
            "UpdateItem": 2 + 1,
            "BatchWriteItem": 1,
        }
    )
