"""Threads against moto: concurrent revoke, door confirmations, block/unblock and creates on
the same keys and doors lose no update and break no rule."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from service_world import PHONE, SITE, World

from keyworker import status
from keyworker.domain.models import KeyRecord


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Start every call at once on its own thread; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as error:  # handed to the test thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def sync_repeatedly(world: World, door_id: str, rounds: int = 4) -> Callable[[], None]:
    def sync() -> None:
        for _ in range(rounds):
            world.sync(door_id)

    return sync


def settle_all_doors(world: World, door_ids: list[str]) -> None:
    for door_id in door_ids:
        world.sync(door_id)
        assert world.services.doors.pending_work(SITE, door_id).changes == ()


def check_key(world: World, key_id: str) -> KeyRecord:
    """No lost update: the audit trail is one unbroken chain of changes (each one starts from
    the state the previous one left), it ends in the stored state, and the stored index is the
    core's evaluation of the stored facts."""
    record = world.store.get_key(SITE, key_id)
    assert record is not None
    events = world.services.queries.history(SITE, key_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].before is None
    for previous, following in itertools.pairwise(events):
        assert following.before == previous.after
    assert dict(events[-1].after.doors) == {row.door_id: row.state for row in record.rows}
    view = world.services.queries.get_key(SITE, key_id)
    assert record.indexed is not None
    assert record.indexed.status == view.status.status.code
    assert events[-1].after.status == view.status.status.code
    return record


@pytest.fixture
def site(world: World) -> World:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat-1")
    world.door("flat-2")
    return world


DOORS = ["entrance", "flat-1", "flat-2"]


def test_concurrent_revokes_and_confirmations_of_one_key(site: World) -> None:
    key_id = site.access_medium(DOORS)
    run_together(
        *[lambda: site.services.keys.revoke(SITE, key_id, actor="admin") for _ in range(6)],
        *[sync_repeatedly(site, door_id) for door_id in DOORS],
    )
    settle_all_doors(site, DOORS)
    record = check_key(site, key_id)
    assert record.revoked
    assert site.key(key_id)["status"]["code"] == "revoked"
    assert [row.state for row in record.rows] == ["removed"] * 3
    actions = [e.action for e in site.services.queries.history(SITE, key_id)]
    assert actions.count("revoked") == 1
    assert actions.count("created") == 1


def test_revoke_block_deliver_and_confirmations_on_shared_doors(site: World) -> None:
    media = [site.access_medium(DOORS, card_uid=f"card-{n}") for n in range(4)]
    digital = [site.digital_key(DOORS[: 1 + n % 3]) for n in range(3)]
    run_together(
        *[lambda k=k: site.services.keys.revoke(SITE, k, actor="admin") for k in media],
        lambda: site.services.keys.revoke(SITE, media[0], actor="admin-2"),
        *[lambda k=k: site.services.keys.key_delivered(SITE, k, actor="cloud") for k in digital],
        lambda: site.services.phones.block(SITE, PHONE, actor="admin"),
        lambda: site.services.phones.block(SITE, PHONE, actor="admin-2"),
        *[sync_repeatedly(site, door_id) for door_id in DOORS],
    )
    settle_all_doors(site, DOORS)
    for key_id in media:
        record = check_key(site, key_id)
        assert site.key(key_id)["status"]["code"] == "revoked"
        assert {row.state for row in record.rows} == {"removed"}
    for key_id in digital:
        record = check_key(site, key_id)
        assert record.delivered
        assert record.phone_blocked
        assert {row.state for row in record.rows} == {"blocked"}
        assert site.key(key_id)["home_status"]["code"] == "blocked"


def test_block_and_unblock_racing_end_with_the_doors_holding_the_latest_intent(
    site: World,
) -> None:
    keys = [site.digital_key(DOORS), site.digital_key(DOORS[1:])]
    for key_id in keys:
        site.services.keys.key_delivered(SITE, key_id, actor="cloud")
    run_together(
        *[
            (lambda: site.services.phones.block(SITE, PHONE, actor="a"))
            if n % 2 == 0
            else (lambda: site.services.phones.unblock(SITE, PHONE, actor="a"))
            for n in range(6)
        ],
        *[sync_repeatedly(site, door_id, rounds=3) for door_id in DOORS],
    )
    phone = site.store.get_phone(SITE, site.hasher.hash("+41791234567"))
    assert phone is not None
    expected_entry = "block_phone" if phone.blocked else "unblock_phone"
    for door_id in DOORS:
        update = site.services.doors.door_update(SITE, door_id)
        assert all(entry.op == expected_entry for entry in update.entries)
    settle_all_doors(site, DOORS)
    for key_id in keys:
        record = check_key(site, key_id)
        assert record.phone_blocked == phone.blocked
        assert {row.state for row in record.rows} == {"blocked" if phone.blocked else "deployed"}


def test_concurrent_creates_at_one_door_and_duplicate_requests(site: World) -> None:
    def create(request_id: str, card: str) -> Callable[[], str]:
        return lambda: site.access_medium(["flat-1"], card_uid=card, request_id=request_id)

    *results, _ = run_together(
        *[create(f"req-{n}", f"card-{n}") for n in range(8)],
        create("req-0", "card-0"),
        create("req-1", "card-1"),
        sync_repeatedly(site, "flat-1"),
    )
    assert len(set(results)) == 8
    door = site.services.doors.get_door(SITE, "flat-1")
    changes = site.store.get_changes(SITE, "flat-1", range(1, door.desired_version + 1))
    assert sorted(changes) == list(range(1, door.desired_version + 1))
    carried = {ref.key_id for change in changes.values() for ref in change.refs}
    assert carried == set(results)
    settle_all_doors(site, ["flat-1"])
    for key_id in set(results):
        check_key(site, key_id)
        assert site.key(key_id)["status"]["code"] == "active"
        actions = [e.action for e in site.services.queries.history(SITE, key_id)]
        assert actions.count("created") == 1


def test_transitions_only_follow_the_core(site: World) -> None:
    """Every state change recorded under concurrency is one the core's transition table has."""
    key_id = site.access_medium(DOORS)
    run_together(
        lambda: site.services.keys.revoke(SITE, key_id, actor="a"),
        *[sync_repeatedly(site, door_id, rounds=2) for door_id in DOORS],
    )
    settle_all_doors(site, DOORS)
    events = site.services.queries.history(SITE, key_id)
    for event in events[1:]:
        assert event.before is not None
        for door_id, after in event.after.doors.items():
            before = event.before.doors[door_id]
            if before != after:
                assert any(
                    _legal("access_medium", before, e) == after for e in status.DOOR_EVENTS
                ), (before, after)


def _legal(key_type: str, state: str, event: str) -> str | None:
    try:
        return status.next_door_state(key_type, state, event)
    except Exception:
        return None
