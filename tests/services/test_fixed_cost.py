"""Reading a key's full status, applying a transition and confirming a door cost a fixed number
of DynamoDB calls, whatever the number of keys in the table: no Query, Scan or transaction."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from service_world import PHONE, SITE, World

GROWING_OPERATIONS = {"Query", "Scan", "TransactWriteItems", "TransactGetItems"}


def _fill(world: World, template_key: str, count: int, prefix: str) -> None:
    """Add ``count`` keys shaped like ``template_key`` (written directly: only size matters)."""
    record = world.store.get_key(SITE, template_key)
    assert record is not None
    for number in range(count):
        world.store.save_key(replace(record, key_id=f"{prefix}-{number}", version=1))


def _costs(world: World, suffix: str) -> dict[str, Counter[str]]:
    world.door(f"entrance-{suffix}", kind="common", connectivity="online")
    world.door(f"flat-{suffix}")
    doors = [f"entrance-{suffix}", f"flat-{suffix}"]
    medium = world.access_medium(doors)
    digital = world.digital_key(doors, phone=PHONE)
    counter = world.counter()
    costs: dict[str, Counter[str]] = {}

    def measure(name: str, call: object) -> None:
        counter.reset()
        call()  # type: ignore[operator]
        costs[name] = Counter(counter.calls)

    measure("get_key", lambda: world.services.queries.get_key(SITE, medium))
    measure("sync_deploy", lambda: world.sync(f"flat-{suffix}", 1))
    measure("revoke", lambda: world.services.keys.revoke(SITE, medium, actor="a"))
    measure("sync_revoke", lambda: world.sync(f"flat-{suffix}", 2))
    measure("deliver", lambda: world.services.keys.key_delivered(SITE, digital, actor="c"))
    measure("get_digital_key", lambda: world.services.queries.get_key(SITE, digital))
    return costs


def test_hot_paths_cost_the_same_with_ten_times_more_keys(world: World) -> None:
    world.door("seed-door")
    seed = world.access_medium(["seed-door"])
    _fill(world, seed, 20, "small")
    small = _costs(world, "a")
    _fill(world, seed, 400, "large")
    large = _costs(world, "b")
    assert small == large
    for name, calls in small.items():
        assert not set(calls) & GROWING_OPERATIONS, (name, calls)
    assert small["get_key"] == Counter({"GetItem": 1, "BatchGetItem": 1})
