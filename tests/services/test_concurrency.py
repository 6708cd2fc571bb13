"""Threads against moto: concurrent revoke, door confirmations, block/unblock and creates on
the same keys and doors lose no update and break no rule."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from service_world import PHONE, SITE, T0, World

from keyworker import status
from keyworker.domain.engine import CHANGE_GRACE_SECONDS
from keyworker.domain.models import DoorChange, KeyRecord
from keyworker.domain.services import Services, build_services


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


def test_twenty_identical_concurrent_creates_make_one_door_change_per_door(site: World) -> None:
    """Issue 11, case 5: twenty concurrent POST /access-media with the same Idempotency-Key
    and body create one key, carried by exactly one door change per door (the writer of the
    key hands its rows to the doors; the replays within its lease do not)."""
    results = run_together(
        *[
            lambda: site.access_medium(DOORS, card_uid="card-same", request_id="same-request")
            for _ in range(20)
        ]
    )
    assert len(set(results)) == 1
    for door_id in DOORS:
        door = site.services.doors.get_door(SITE, door_id)
        assert door.desired_version == 1, door_id
        [change] = site.store.get_changes(SITE, door_id, [1]).values()
        assert [ref.key_id for ref in change.refs] == results[:1]
    record = check_key(site, results[0])
    assert all(row.change_version == 1 for row in record.rows)


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


# ------------------------------------------------------------------- a hot door (issue 12)


class _Conflicts:
    """Counts the conditional checks DynamoDB refused (botocore event hook on the client)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()
        client.meta.events.register("after-call.dynamodb", self._after_call)

    def _after_call(self, parsed: Any, **_: Any) -> None:
        if parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            with self._lock:
                self.count += 1


def check_versions(world: World, door_id: str, key_ids: list[str]) -> dict[int, DoorChange]:
    """Every version of the door up to its desired one has its change item or a void marker,
    and every key's row at the door records a version whose change names its row."""
    door = world.services.doors.get_door(SITE, door_id)
    versions = range(1, door.desired_version + 1)
    changes = world.store.get_changes(SITE, door_id, versions)
    assert sorted(changes) == list(versions)
    for key_id in key_ids:
        record = world.store.get_key(SITE, key_id)
        assert record is not None
        row = record.row(door_id)
        assert row is not None
        assert row.change_version is not None
        refs = changes[row.change_version].refs
        assert (key_id, row.seq) in {(ref.key_id, ref.seq) for ref in refs}
    return changes


def test_sixteen_writers_on_one_door_meet_no_conflict(world: World) -> None:
    """Every create on [entrance, unit-i] hands work to the entrance: its versions are
    allocated atomically, so no writer waits for another, retries, or sees ConcurrentUpdate."""
    world.door("entrance", kind="common", connectivity="online")
    for number in range(32):
        world.door(f"unit-{number}")
    conflicts = _Conflicts(world.client)

    def writer(first: int) -> Callable[[], list[str]]:
        def create() -> list[str]:
            return [
                world.access_medium(
                    ["entrance", f"unit-{n}"], card_uid=f"card-{n}", request_id=f"req-{n}"
                )
                for n in (first, first + 16)
            ]

        return create

    created = [k for keys in run_together(*[writer(n) for n in range(16)]) for k in keys]
    assert len(set(created)) == 32
    assert conflicts.count == 0
    changes = check_versions(world, "entrance", created)
    assert len(changes) == 32
    assert not any(change.void for change in changes.values())
    settle_all_doors(world, ["entrance"])
    for key_id in created:
        check_key(world, key_id)


class _BeforeFirstChange:
    """Wraps the store; ``hook`` runs once, when the first door change is about to be written
    (after its version was allocated): what happens meanwhile on other Lambdas. If the hook
    returns a bool, that is the outcome of the write (the hook made it)."""

    def __init__(self, inner: Any, hook: Callable[[DoorChange], bool | None]) -> None:
        self._inner = inner
        self._hook: Callable[[DoorChange], bool | None] | None = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put_change(self, change: DoorChange) -> bool:
        hook, self._hook = self._hook, None
        if hook is not None:
            outcome = hook(change)
            if outcome is not None:
                return outcome
        return bool(self._inner.put_change(change))


def _with_store(world: World, store: Any) -> Services:
    assert world.ports is not None
    return build_services(replace(world.ports, store=store))


def test_a_writer_slower_than_the_grace_period_finds_its_version_void_and_allocates_again(
    site: World,
) -> None:
    def a_reader_meanwhile(change: DoorChange) -> None:
        # The writer stalls past the grace period; the door asks for its update meanwhile.
        site.clock.advance(CHANGE_GRACE_SECONDS)
        update = site.services.doors.door_update(SITE, "flat-1")
        assert (update.version, update.entries) == (1, ())

    slow = _with_store(site, _BeforeFirstChange(site.store, a_reader_meanwhile))
    view = slow.keys.create_access_medium(
        SITE, holder_id="h", card_uid="c", door_ids=["flat-1"], valid_from=T0, actor="a"
    )
    key_id = view.record.key_id
    assert view.record.rows[0].change_version == 2
    changes = check_versions(site, "flat-1", [key_id])
    assert [(v, c.action) for v, c in sorted(changes.items())] == [(1, "void"), (2, "deploy")]
    update = site.services.doors.door_update(SITE, "flat-1")
    assert update.version == 2
    assert [entry.key_id for entry in update.entries] == [key_id]
    site.sync("flat-1", 2)
    assert site.key(key_id)["status"]["code"] == "active"


def test_a_void_marker_that_loses_to_the_slow_writer_reads_its_change_back(site: World) -> None:
    landed: list[bool] = []

    class WriterLandsFirst:
        """The reader's store: just before its void marker, the writer's change lands."""

        def __init__(self, inner: Any, change: DoorChange) -> None:
            self._inner, self._change = inner, change

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def put_change(self, change: DoorChange) -> bool:
            assert change.void
            landed.append(bool(self._inner.put_change(self._change)))
            return bool(self._inner.put_change(change))

    def a_reader_racing(change: DoorChange) -> bool:
        site.clock.advance(CHANGE_GRACE_SECONDS)
        reader = _with_store(site, WriterLandsFirst(site.store, change))
        update = reader.doors.door_update(SITE, "flat-1")
        assert update.version == 1
        assert [entry.key_id for entry in update.entries] == [change.refs[0].key_id]
        return landed[0]

    slow = _with_store(site, _BeforeFirstChange(site.store, a_reader_racing))
    view = slow.keys.create_access_medium(
        SITE, holder_id="h", card_uid="c", door_ids=["flat-1"], valid_from=T0, actor="a"
    )
    assert landed == [True]
    assert view.record.rows[0].change_version == 1
    changes = check_versions(site, "flat-1", [view.record.key_id])
    assert not changes[1].void
    site.sync("flat-1", 1)
    assert site.key(view.record.key_id)["status"]["code"] == "active"


def test_a_door_confirming_while_a_change_is_in_flight_stops_before_it(site: World) -> None:
    seen: dict[str, Any] = {}

    def another_create_and_a_confirmation(change: DoorChange) -> None:
        # Version 1 is allocated, its change not written yet; another key gets version 2.
        seen["other"] = site.access_medium(["flat-1"], card_uid="card-2")
        seen["update"] = site.services.doors.door_update(SITE, "flat-1")
        seen["sync"] = site.sync("flat-1", 2)

    slow = _with_store(site, _BeforeFirstChange(site.store, another_create_and_a_confirmation))
    first = slow.keys.create_access_medium(
        SITE, holder_id="h", card_uid="c", door_ids=["flat-1"], valid_from=T0, actor="a"
    ).record.key_id
    other = seen["other"]
    # While version 1 was in flight the door was given nothing, and confirming 2 confirmed
    # nothing: the change in flight would otherwise never have reached it.
    assert (seen["update"].version, seen["update"].entries) == (0, ())
    assert seen["sync"].stale
    assert seen["sync"].door.confirmed_version == 0
    assert site.key(other)["status"]["code"] == "door_update_pending"
    check_versions(site, "flat-1", [first, other])
    update = site.services.doors.door_update(SITE, "flat-1")
    assert update.version == 2
    assert {entry.key_id for entry in update.entries} == {first, other}
    result = site.sync("flat-1", 2)
    assert set(result.completed_key_ids) == {first, other}
    for key_id in (first, other):
        assert site.key(key_id)["status"]["code"] == "active"
        check_key(site, key_id)


def test_duplicate_and_stale_confirmations_race_without_loss(site: World) -> None:
    keys = [site.access_medium(["flat-1"], card_uid=f"card-{n}") for n in range(3)]
    run_together(
        *[lambda: site.sync("flat-1", 3) for _ in range(3)],
        *[lambda: site.sync("flat-1", 2) for _ in range(2)],
        lambda: site.sync("flat-1", 1),
    )
    door = site.services.doors.get_door(SITE, "flat-1")
    assert (door.confirmed_version, door.desired_version, door.pending_since) == (3, 3, None)
    assert site.services.doors.worklist(SITE) == []
    assert site.store.query_doors_to_visit(SITE) == []
    for key_id in keys:
        check_key(site, key_id)
        assert site.key(key_id)["status"]["code"] == "active"
        actions = [e.action for e in site.services.queries.history(SITE, key_id)]
        assert actions.count("door_confirmed") == 1
    assert site.sync("flat-1", 2).stale


# ------------------------------------------------------------- a batch's new keys


class _BeforeFirstKey:
    """Wraps the store; ``hook`` runs once, when the first key is about to be written (a
    batch's door changes are made by then): what happens meanwhile on other Lambdas."""

    def __init__(self, inner: Any, hook: Callable[[KeyRecord], None]) -> None:
        self._inner = inner
        self._hook: Callable[[KeyRecord], None] | None = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def save_key(self, record: KeyRecord) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook(record)
        self._inner.save_key(record)


def _batch(*card_uids: str, door_ids: tuple[str, ...] = ("flat-1",)) -> list[Any]:
    from keyworker.domain.commands import CreateAccessMedium

    return [
        CreateAccessMedium(
            site_id=SITE,
            holder_id=f"h-{uid}",
            card_uid=uid,
            door_ids=door_ids,
            valid_from=T0,
            actor="a",
            request_id=f"batch.{uid}",
        )
        for uid in card_uids
    ]


def test_a_batchs_keys_are_written_once_carrying_their_door_versions(site: World) -> None:
    views = site.services.keys.create_many(_batch("c1", "c2"))
    key_ids = [view.record.key_id for view in views]
    for view in views:
        assert view.record.version == 1  # one write: created with its door version
        assert view.record.rows[0].change_version == 1
    check_versions(site, "flat-1", key_ids)
    _door_gets_and_confirms(site, key_ids)
    for key_id in key_ids:
        check_key(site, key_id)


def _door_gets_and_confirms(site: World, key_ids: list[str]) -> None:
    """flat-1's update is version 1 with these keys, and confirming it activates them."""
    update = site.services.doors.door_update(SITE, "flat-1")
    assert update.version == 1
    assert {entry.key_id for entry in update.entries} == set(key_ids)
    assert set(site.sync("flat-1", 1).completed_key_ids) == set(key_ids)
    for key_id in key_ids:
        assert site.key(key_id)["status"]["code"] == "active"


def test_a_door_asked_while_a_batch_writes_its_keys_waits_for_them(site: World) -> None:
    """The batch's change is there before its keys: a door asking meanwhile is given nothing
    of it, and a door claiming it confirms nothing (no door could have got it)."""
    seen: dict[str, Any] = {}

    def a_door_meanwhile(record: KeyRecord) -> None:
        seen["update"] = site.services.doors.door_update(SITE, "flat-1")
        seen["sync"] = site.sync("flat-1", 1)

    batch = _with_store(site, _BeforeFirstKey(site.store, a_door_meanwhile))
    key_ids = [view.record.key_id for view in batch.keys.create_many(_batch("c1", "c2"))]
    assert (seen["update"].version, seen["update"].entries) == (0, ())
    assert seen["sync"].stale
    assert seen["sync"].door.confirmed_version == 0
    _door_gets_and_confirms(site, key_ids)


def test_a_batch_that_died_before_its_keys_holds_the_door_back_only_for_the_grace_period(
    site: World,
) -> None:
    class Crash(Exception):
        pass

    def die(record: KeyRecord) -> None:
        raise Crash

    batch = _with_store(site, _BeforeFirstKey(site.store, die))
    with pytest.raises(Crash):
        batch.keys.create_many(_batch("c1", "c2"))
    later = site.access_medium(["flat-1"], card_uid="later")
    assert site.services.doors.door_update(SITE, "flat-1").version == 0  # version 1 in flight
    site.clock.advance(CHANGE_GRACE_SECONDS)
    # The dead batch's refs are skipped; the door gets both versions, the later key only.
    update = site.services.doors.door_update(SITE, "flat-1")
    assert update.version == 2
    assert [entry.key_id for entry in update.entries] == [later]
    site.door("flat-1", connectivity="online")  # a connectivity change reads the refs too
    result = site.sync("flat-1", 2)
    assert result.completed_key_ids == (later,)
    assert site.services.doors.get_door(SITE, "flat-1").confirmed_version == 2
    # The client's retry of the batch creates its keys, with a door change of their own.
    key_ids = [view.record.key_id for view in site.services.keys.create_many(_batch("c1", "c2"))]
    check_versions(site, "flat-1", key_ids)
    site.sync("flat-1")
    for key_id in key_ids:
        assert site.key(key_id)["status"]["code"] == "active"


def test_a_batch_whose_key_writes_outlast_its_early_versions_hands_its_rows_again(
    site: World,
) -> None:
    """Readers take a change naming an unwritten key as in flight only for the grace period;
    a batch slower than half of it no longer trusts its early versions: its keys forget
    them and get a second change (a door may have applied the first without them)."""
    from keyworker.domain.engine import CARRY_WITHIN_SECONDS

    def stall(record: KeyRecord) -> None:
        site.clock.advance(CARRY_WITHIN_SECONDS)

    batch = _with_store(site, _BeforeFirstKey(site.store, stall))
    views = batch.keys.create_many(_batch("c1", "c2"))
    key_ids = [view.record.key_id for view in views]
    for view in views:
        assert view.record.rows[0].change_version == 2
    changes = check_versions(site, "flat-1", key_ids)
    assert sorted(changes) == [1, 2]
    site.sync("flat-1")
    for key_id in key_ids:
        assert site.key(key_id)["status"]["code"] == "active"
        check_key(site, key_id)
