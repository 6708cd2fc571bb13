"""The failure paths of revocation runs: a worker killed in the middle of a chunk, the same
chunk delivered twice (one after the other, and at once), throttling on a fraction of writes,
a key changed by someone else while the run holds it. After each, every selected key ends
revoked (or reported as failed with a reason), the counters add up and match the table, and
nothing is revoked twice."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto_state import TABLE_NAME
from service_world import SITE

from keyworker.adapters.dynamodb import DynamoStore
from keyworker.domain.engine import SETTLE_LEASE_SECONDS
from keyworker.domain.models import KeyRecord
from keyworker.errors import DuplicateInProgress, StoreUnavailable
from keyworker.revocation.models import DONE
from revocation.run_world import RunWorld, build_run_world
from revocation.test_runs import all_keys, check_finished

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})


class WorkerKilled(BaseException):
    """The worker's process died: nothing after this point runs (not even a handler)."""


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}


class Faults:
    """Faults injected into the DynamoDB client's calls (botocore ``before-call`` hooks
    answer in place of the emulator, before botocore's own retries could hide them)."""

    def __init__(self, client: Any, seed: int = 7) -> None:
        self.kill_at: int | None = None
        self.throttle = 0.0
        self.unprocessed = 0.0
        self.writes = 0
        self.injected: Counter[str] = Counter()
        self.dead = False
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._request = threading.local()
        client.meta.events.register("before-parameter-build.dynamodb", self._keep_params)
        client.meta.events.register("before-call.dynamodb", self._before)

    def _keep_params(self, params: dict[str, Any], **_: Any) -> None:
        # The call's own parameters (before serialisation), to send back as unprocessed.
        self._request.raw = params

    def reset(self) -> None:
        with self._lock:
            self.kill_at, self.throttle, self.unprocessed = None, 0.0, 0.0
            self.dead = False

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        name = model.name
        with self._lock:
            if self.dead:
                raise WorkerKilled
            if name not in WRITES:
                return None
            self.writes += 1
            if self.kill_at is not None and self.writes >= self.kill_at:
                self.dead = True
                raise WorkerKilled
            roll = self._random.random()
            if name == "BatchWriteItem" and roll < self.unprocessed:
                self.injected["unprocessed"] += 1
                response = AWSResponse("http://emulator", 200, {}, None)
                # Nothing written: every item comes back unprocessed, as the caller sent it.
                return response, {"UnprocessedItems": self._request.raw["RequestItems"]}
            if roll < self.throttle:
                self.injected["throttled"] += 1
                return _Http(400), {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "injected",
                    }
                }
        return None


@pytest.fixture
def faults(runs: RunWorld) -> Faults:
    return Faults(runs.client)


def started(runs: RunWorld, flats: int = 3) -> tuple[str, list[str]]:
    keys = runs.building(flats)
    run = runs.service.start(SITE, {"all": True}, actor="admin")
    runs.plan()
    return run.run_id, all_keys(keys)


def work_like_sqs(runs: RunWorld, run_id: str, *, receives: int = 5) -> int:
    """Works off the run's chunk jobs the way SQS and the worker do: a job that fails with
    a retryable error (throttling past the backoff) is delivered again. Returns the
    redeliveries."""
    redelivered = 0
    for site_id, queued, number in list(runs.jobs.chunk_jobs):
        if queued != run_id:
            continue
        for receive in range(receives):
            try:
                runs.service.execute_chunk(site_id, queued, number)
                break
            except (StoreUnavailable, DuplicateInProgress):
                if receive == receives - 1:
                    raise
                redelivered += 1
                # The next receive comes after the queue's visibility timeout (180 s).
                runs.world.clock.advance(SETTLE_LEASE_SECONDS)
    return redelivered


def finish(runs: RunWorld, run_id: str, selected: list[str]) -> dict[str, Any]:
    work_like_sqs(runs, run_id)
    run = runs.service.get_run(SITE, run_id)
    assert run.state == DONE
    view = check_finished(runs, run, selected)
    # Every selected key is revoked, by this run, exactly once.
    assert view["counts"]["revoked"] == len(selected)
    for key_id in selected:
        events = runs.revoke_events(key_id)
        assert [e.actor for e in events] == [run.actor]
    return view


# ------------------------------------------------------------------------ killed worker


# 4 flats: chunk 0 holds four cards (19 writes: intents, events, four doors' change and
# version, records, outcome, count); the last chunk holds the four digital keys and finishes
# the run (9 writes: intents, events, outcome, count, report, state).
KILL_POINTS = [(False, k) for k in range(1, 20, 3)] + [(True, k) for k in range(1, 10, 2)]


@pytest.mark.parametrize(("last_chunk", "kill_at"), KILL_POINTS)
def test_a_worker_killed_in_the_middle_of_a_chunk(
    dynamodb: Any, kill_at: int, last_chunk: bool
) -> None:
    runs = build_run_world(dynamodb, TABLE_NAME, parallel_writes=1)
    faults = Faults(runs.client)
    run_id, selected = started(runs, flats=4)
    chunks = runs.jobs.chunks_of(run_id)
    victim = chunks[-1] if last_chunk else chunks[0]
    for number in chunks:
        if number != victim:
            runs.service.execute_chunk(SITE, run_id, number)
    faults.writes = 0
    faults.kill_at = kill_at
    with pytest.raises(WorkerKilled):
        runs.service.execute_chunk(SITE, run_id, victim)
    faults.reset()
    # SQS delivers the chunk again (after its visibility timeout, 180 s: past the lease the
    # killed worker held on its door work) to a fresh worker.
    runs.world.clock.advance(SETTLE_LEASE_SECONDS)
    result = runs.service.execute_chunk(SITE, run_id, victim)
    assert result.outcome.counts["revoked"] == len(
        runs.runs.get_chunk(  # type: ignore[union-attr]
            SITE, run_id, result.run.attempt or "", victim
        ).key_ids
    )
    finish(runs, run_id, selected)


def test_a_killed_worker_with_parallel_writers(runs: RunWorld, faults: Faults) -> None:
    run_id, selected = started(runs, flats=4)
    faults.kill_at = 4
    with pytest.raises(WorkerKilled):
        runs.service.execute_chunk(SITE, run_id, 0)
    faults.reset()
    runs.world.clock.advance(SETTLE_LEASE_SECONDS)  # the redelivery, after the visibility timeout
    finish(runs, run_id, selected)


# ------------------------------------------------------------------------ twice


def test_the_same_chunk_delivered_twice(runs: RunWorld) -> None:
    run_id, selected = started(runs)
    first = runs.service.execute_chunk(SITE, run_id, 0)
    again = runs.service.execute_chunk(SITE, run_id, 0)
    assert first.counted
    assert not again.counted
    assert again.outcome == first.outcome
    assert again.run.counts == first.run.counts
    view = finish(runs, run_id, selected)
    # After the run is done, a late duplicate changes nothing.
    late = runs.service.execute_chunk(SITE, run_id, 0)
    assert not late.counted
    assert runs.service.get(SITE, run_id)["counts"] == view["counts"]


def test_the_same_chunk_delivered_twice_at_once(runs: RunWorld) -> None:
    run_id, selected = started(runs, flats=4)
    store = runs.runs
    both_read = threading.Barrier(2, timeout=10)
    original = store.get_chunk
    local = threading.local()

    def get_chunk(site_id: str, run_id: str, attempt: str, number: int) -> Any:
        found = original(site_id, run_id, attempt, number)
        if not getattr(local, "synced", False):
            # Both deliveries read the chunk (and its keys) before either writes.
            local.synced = True
            both_read.wait()
        return found

    store.get_chunk = get_chunk  # type: ignore[method-assign]
    results: list[Any] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            results.append(runs.service.execute_chunk(SITE, run_id, 0))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.get_chunk = original  # type: ignore[method-assign]
    # Each delivery wrote some of the chunk's keys and left the others' door work to the
    # delivery holding them: one that ends while the other still holds some stops (a batch
    # item failure), and SQS delivers it again later, when it reads the recorded outcome.
    assert all(isinstance(error, DuplicateInProgress) for error in errors), errors
    for _ in errors:
        results.append(runs.service.execute_chunk(SITE, run_id, 0))
    assert sorted(r.counted for r in results) == [False, True]
    assert results[0].outcome == results[1].outcome
    # The recorded outcome has every door change of the chunk's keys, whichever delivery
    # wrote them (the run's report is made of it).
    run = runs.service.get_run(SITE, run_id)
    assert run.attempt is not None
    chunk = runs.runs.get_chunk(SITE, run_id, run.attempt, 0)
    assert chunk is not None
    records = runs.world.store.get_keys(SITE, chunk.key_ids)
    rows = Counter(row.door_id for record in records.values() for row in record.rows)
    assert {door: made.keys for door, made in results[0].outcome.doors.items()} == rows
    finish(runs, run_id, selected)


# ------------------------------------------------------------------------ throttling


def test_throttling_on_a_fraction_of_writes(runs: RunWorld, faults: Faults) -> None:
    run_id, selected = started(runs, flats=5)
    faults.throttle = 0.25
    faults.unprocessed = 0.5
    view = finish(runs, run_id, selected)
    assert faults.injected["throttled"] > 5
    assert faults.injected["unprocessed"] > 0
    assert view["counts"]["failed"] == 0


def _retried(call: Any, attempts: int = 5) -> Any:
    """A caller that retries what failed retryably: the CLI retries a POST with the same
    idempotency key; SQS delivers a failed plan job again."""
    for attempt in range(attempts):
        try:
            return call()
        except StoreUnavailable:
            if attempt == attempts - 1:
                raise
    return None  # pragma: no cover


def test_throttling_while_starting_and_planning(runs: RunWorld, faults: Faults) -> None:
    keys = runs.building(3)
    faults.throttle = 0.3
    faults.unprocessed = 0.5
    run = _retried(lambda: runs.service.start(SITE, {"all": True}, actor="admin", request_id="r-1"))
    for site_id, run_id in list(runs.jobs.plan_jobs):
        _retried(lambda s=site_id, r=run_id: runs.service.plan_run(s, r))
    finish(runs, run.run_id, all_keys(keys))
    assert faults.injected["throttled"] > 0


# ------------------------------------------------------------------ changed meanwhile


def _change_first_write_of(runs: RunWorld, key_id: str, change: Any) -> list[str]:
    """Makes someone else change ``key_id`` right before the run's intent write lands."""
    store = runs.world.store
    original = store.save_key
    done: list[str] = []

    def save_key(record: KeyRecord) -> None:
        if record.key_id == key_id and record.revoked and not done:
            done.append(key_id)
            # Another command, with its own store on the same table.
            other = DynamoStore(runs.client, TABLE_NAME)
            store.save_key = other.save_key  # type: ignore[method-assign]
            try:
                change()
            finally:
                store.save_key = save_key  # type: ignore[method-assign]
        original(record)

    store.save_key = save_key  # type: ignore[method-assign]
    return done


@pytest.mark.parametrize("change", ["door_confirms", "phone_blocked", "revoked_by_hand"])
def test_a_key_changed_by_someone_else_while_the_run_holds_it(runs: RunWorld, change: str) -> None:
    keys = runs.building(3)
    services = runs.world.services
    card, digital = keys["flat-1"][0], keys["flat-1"][2]
    services.keys.key_delivered(SITE, digital, actor="cloud")
    run = runs.service.start(SITE, {"all": True}, actor="admin")
    runs.plan()
    if change == "door_confirms":
        target = card
        done = _change_first_write_of(runs, card, lambda: runs.world.sync("flat-1"))
    elif change == "phone_blocked":
        target = digital
        done = _change_first_write_of(
            runs, digital, lambda: services.phones.block(SITE, "+41790010000", actor="admin")
        )
    else:
        target = card
        done = _change_first_write_of(
            runs, card, lambda: services.keys.revoke(SITE, card, actor="admin")
        )
    runs.work(run.run_id)
    assert done == [target]
    run = runs.service.get_run(SITE, run.run_id)
    view = check_finished(runs, run, all_keys(keys))
    record = runs.world.store.get_key(SITE, target)
    assert record is not None
    assert record.revoked
    events = runs.revoke_events(target)
    assert len(events) == 1
    if change == "revoked_by_hand":
        assert events[0].actor == "admin"
        assert view["counts"] == {
            "revoked": 8,
            "already_revoked": 1,
            "failed": 0,
            "cancelled": 0,
        }
    else:
        assert events[0].actor == run.actor
        assert view["counts"]["revoked"] == 9
    if change == "door_confirms":
        # The run saw the confirmation: the flat door's row went deployed -> revocation pending.
        assert events[0].before is not None
        assert events[0].before.doors["flat-1"] == "deployed"
        assert {r.door_id: r.state for r in record.rows}["flat-1"] == "revocation_pending"
    if change == "phone_blocked":
        assert record.phone_blocked
