"""Revocation runs end to end against moto: selectors, dry runs, the report against the table,
idempotent and cancellable execution."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest
from service_world import SITE

from keyworker.errors import (
    DoorNotFound,
    IdempotencyConflict,
    InvalidPhoneNumber,
    InvalidSelector,
    KeyNotFound,
    RunNotFound,
    RunStateConflict,
)
from keyworker.revocation.models import CANCELLED, CANCELLING, DONE, PLANNED, RunRecord
from keyworker.revocation.service import dispatch_order
from revocation.run_world import OTHER_SITE, RunWorld, counts_in_table


def all_keys(keys: dict[str, list[str]]) -> list[str]:
    return [k for ids in keys.values() for k in ids]


def check_finished(runs: RunWorld, run: RunRecord, selected: Iterable[str]) -> dict[str, Any]:
    """The invariants every finished run keeps; returns the run's view."""
    selected = list(selected)
    view = runs.service.get(SITE, run.run_id)
    counts = view["counts"]
    assert run.state in (DONE, CANCELLED)
    # Counters add up, and agree with the report and with the table.
    assert sum(counts.values()) == run.selected == len(selected)
    assert view["progress"]["keys_done"] == view["progress"]["keys_total"]
    assert view["report"]["counts"] == counts
    in_table = counts_in_table(runs, selected, run.actor)
    assert in_table["revoked"] == counts["revoked"]
    assert in_table["already_revoked"] == counts["already_revoked"]
    assert in_table["not_revoked"] == counts["failed"] + counts["cancelled"]
    assert view["report"]["failures_total"] == counts["failed"]
    for key_id in selected:
        # Nothing is revoked twice, by the run or by anyone.
        assert len(runs.revoke_events(key_id)) <= 1, key_id
        # Every pending row was handed to its door: a change at that version carries it.
        record = runs.world.store.get_key(SITE, key_id)
        assert record is not None
        for row in record.rows:
            if row.state == "revocation_pending":
                assert row.change_version is not None, (key_id, row)
                changes = runs.world.store.get_changes(SITE, row.door_id, [row.change_version])
                refs = changes[row.change_version].refs
                assert (key_id, row.seq) in {(r.key_id, r.seq) for r in refs}
    return view


def test_a_whole_site_is_revoked_and_reported(runs: RunWorld) -> None:
    keys = runs.building(5)
    earlier = keys["flat-3"][0]
    runs.world.services.keys.revoke(SITE, earlier, actor="admin")
    run = runs.run({"all": True}, reason="building sold")
    view = check_finished(runs, run, all_keys(keys))
    assert view["counts"] == {"revoked": 14, "already_revoked": 1, "failed": 0, "cancelled": 0}
    assert view["reason"] == "building sold"
    # The run revoked every key the selector took, as the run.
    for key_id in all_keys(keys):
        assert runs.world.key(key_id)["status"]["code"] == "revocation_pending"
    event = runs.revoke_events(keys["flat-0"][0])[0]
    assert event.actor == run.actor
    assert event.details["run_id"] == run.run_id
    # Online doors are asked to sync; the digital keys are taken back from their phones.
    synced = {d for _, d, _ in runs.world.door_gateway.requests}
    assert "entrance" in synced
    taken_back = {k for _, k, _ in runs.world.mobile.revoked}
    assert taken_back == {ids[2] for ids in keys.values()}
    report = view["report"]
    assert report["digital_keys_waiting_for_app"] == 5
    visit = {d["door_id"]: d for d in report["doors_to_visit"]}
    assert set(visit) == {"garage", *(f"flat-{f}" for f in range(5))}
    # The garage got its 9 cards in one change per chunk of the run, not one per card.
    assert visit["garage"]["keys"] == 9
    assert visit["garage"]["changes"] == view["plan"]["doors_to_visit"][0]["changes"]
    assert visit["garage"]["changes"] < 9
    assert {d["door_id"] for d in report["online_doors"]} == {"entrance"}
    assert report["doors_to_visit_total"] == 6


def test_the_plan_says_what_the_run_then_does(runs: RunWorld) -> None:
    keys = runs.building(4)
    dry = runs.run({"all": True}, dry_run=True)
    assert dry.state == PLANNED
    plan = runs.service.get(SITE, dry.run_id)["plan"]
    run = runs.run({"all": True})
    report = runs.service.get(SITE, run.run_id)["report"]
    assert plan["to_revoke"] == run.counts["revoked"] == len(all_keys(keys))
    assert plan["by_status_after"] == {"revocation_pending": 12}
    assert plan["digital_keys_waiting_for_app"] == report["digital_keys_waiting_for_app"] == 4
    for name in ("doors_to_visit", "online_doors"):
        planned = {(d["door_id"], d["keys"], d["changes"]) for d in plan[name]}
        done = {(d["door_id"], d["keys"], d["changes"]) for d in report[name]}
        assert planned == done


def test_a_dry_run_changes_no_key_door_or_event(runs: RunWorld) -> None:
    runs.building(3)
    before = [i for i in runs.table() if "RUN#" not in i["pk"]["S"] + i["sk"]["S"]]
    run = runs.run({"door_ids": ["garage"]}, dry_run=True)
    after = [i for i in runs.table() if "RUN#" not in i["pk"]["S"] + i["sk"]["S"]]
    assert after == before
    view = runs.service.get(SITE, run.run_id)
    assert view["state"] == PLANNED
    assert view["dry_run"] is True
    assert view["plan"]["selected"] == 9
    assert view["plan"]["by_status"] == {"door_update_pending": 6, "deployment_pending": 3}
    assert view["report"] is None
    assert runs.jobs.chunks_of(run.run_id) == []


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"door_ids": ["flat-1"]}, lambda k: k["flat-1"]),
        ({"door_ids": ["flat-1", "flat-2"]}, lambda k: k["flat-1"] + k["flat-2"]),
        ({"holder_ids": ["holder-2"]}, lambda k: k["flat-2"]),
        ({"phones": ["+41790010000"]}, lambda k: [k["flat-1"][2]]),
        ({"key_ids": None}, lambda k: [k["flat-0"][1], k["flat-3"][2]]),
        ({"all": True, "type": "digital_key"}, lambda k: [ids[2] for ids in k.values()]),
        (
            {"door_ids": ["flat-0"], "type": "access_medium"},
            lambda k: k["flat-0"][:2],
        ),
        ({"all": True, "status": ["deployment_pending"]}, lambda k: [ids[2] for ids in k.values()]),
    ],
)
def test_selectors_take_exactly_their_keys(
    runs: RunWorld, selector: dict[str, Any], expected: Any
) -> None:
    keys = runs.building(4)
    if "key_ids" in selector:
        selector = {"key_ids": expected(keys)}
    wanted = set(expected(keys))
    run = runs.run(selector)
    check_finished(runs, run, wanted)
    for key_id in all_keys(keys):
        revoked = runs.world.store.get_key(SITE, key_id).revoked  # type: ignore[union-attr]
        assert revoked == (key_id in wanted), key_id


def test_a_status_filter_sees_the_status_now(runs: RunWorld) -> None:
    keys = runs.building(2)
    runs.world.sync("flat-0")  # flat-0's cards: deployed at their flat door, still pending else
    runs.world.sync("garage")
    runs.world.sync("entrance")
    runs.world.services.keys.key_delivered(SITE, keys["flat-1"][2], actor="cloud")
    run = runs.run({"all": True, "status": ["active", "deployed"]})
    revoked = {k for k in all_keys(keys) if runs.world.store.get_key(SITE, k).revoked}  # type: ignore[union-attr]
    assert revoked == {*keys["flat-0"][:2], keys["flat-1"][2]}
    assert run.counts["revoked"] == 3


def test_a_selector_that_matches_nothing_finishes_at_once(runs: RunWorld) -> None:
    runs.building(2)
    run = runs.run({"holder_ids": ["nobody"]})
    view = check_finished(runs, run, [])
    assert view["state"] == DONE
    assert view["progress"] == {
        "keys_total": 0,
        "keys_done": 0,
        "chunks_total": 0,
        "chunks_done": 0,
    }
    assert view["report"]["doors_to_visit"] == []
    run = runs.run({"all": True, "type": "digital_key", "status": ["revoked"]})
    assert run.state == DONE
    assert run.selected == 0


def test_a_selector_for_another_site_is_refused_and_changes_nothing(runs: RunWorld) -> None:
    theirs = runs.building(2, site=OTHER_SITE, prefix="b-")
    runs.building(1)
    before = runs.table()
    with pytest.raises(DoorNotFound) as door_error:
        runs.service.start(SITE, {"door_ids": ["b-flat-0"]}, actor="admin")
    assert door_error.value.field == "selector.door_ids"
    with pytest.raises(KeyNotFound) as key_error:
        runs.service.start(SITE, {"key_ids": theirs["b-flat-1"]}, actor="admin")
    assert key_error.value.field == "selector.key_ids"
    assert runs.table() == before
    assert runs.jobs.plan_jobs == []
    # Their keyholders are nobody here: the run takes nothing of theirs.
    run = runs.run({"holder_ids": ["holder-0", "holder-1"], "type": "access_medium"})
    assert run.selected == 2  # this site's holder-0's two cards
    for key_id in all_keys(theirs):
        assert not runs.world.store.get_key(OTHER_SITE, key_id).revoked  # type: ignore[union-attr]
    # Reading a run through another site finds nothing.
    with pytest.raises(RunNotFound):
        runs.service.get(OTHER_SITE, run.run_id)


@pytest.mark.parametrize(
    ("selector", "field"),
    [
        ({}, "selector"),
        ({"all": True, "door_ids": ["a"]}, "selector"),
        ({"all": False}, "selector.all"),
        ({"door_ids": []}, "selector.door_ids"),
        ({"door_ids": ["ok", "bad#id"]}, "selector.door_ids[1]"),
        ({"holder_ids": "holder-1"}, "selector.holder_ids"),
        ({"all": True, "type": "fob"}, "selector.type"),
        ({"all": True, "status": ["active", "gone"]}, "selector.status[1]"),
        ({"all": True, "colour": "red"}, "selector.colour"),
        ({"phones": ["+41 79 000"]}, "selector.phones[0]"),
    ],
)
def test_bad_selectors_name_their_field_and_write_nothing(
    runs: RunWorld, selector: dict[str, Any], field: str
) -> None:
    runs.building(1)
    before = runs.table()
    expected = InvalidPhoneNumber if "phones" in selector else InvalidSelector
    with pytest.raises(expected) as error:
        runs.service.start(SITE, selector, actor="admin")
    assert error.value.field == field
    assert runs.table() == before


def test_a_repeated_start_is_the_same_run(runs: RunWorld) -> None:
    runs.building(1)
    first = runs.service.start(SITE, {"all": True}, actor="admin", request_id="req-1")
    again = runs.service.start(SITE, {"all": True}, actor="admin", request_id="req-1")
    assert again.run_id == first.run_id
    with pytest.raises(IdempotencyConflict):
        runs.service.start(SITE, {"door_ids": ["garage"]}, actor="admin", request_id="req-1")
    # Each start queued the (idempotent) plan job; planning twice plans once.
    runs.plan()
    runs.work(first.run_id)
    assert runs.service.get_run(SITE, first.run_id).state == DONE
    assert len(runs.jobs.chunks_of(first.run_id)) == 1


def test_cancelling_stops_the_chunks_not_started(runs: RunWorld) -> None:
    keys = runs.building(4)  # 12 keys, chunks of 4
    run = runs.service.start(SITE, {"all": True}, actor="admin")
    runs.plan()
    assert sorted(runs.jobs.chunks_of(run.run_id)) == [0, 1, 2]
    runs.service.execute_chunk(SITE, run.run_id, 0)
    assert runs.service.cancel(SITE, run.run_id).state == CANCELLING
    assert runs.service.cancel(SITE, run.run_id).state == CANCELLING  # again: no change
    runs.work(run.run_id, skip=lambda n: n == 0)
    run = runs.service.get_run(SITE, run.run_id)
    assert run.state == CANCELLED
    view = check_finished(runs, run, all_keys(keys))
    assert view["counts"] == {"revoked": 4, "already_revoked": 0, "failed": 0, "cancelled": 8}
    assert runs.service.cancel(SITE, run.run_id).state == CANCELLED  # again: no change


def test_cancelling_while_planning_plans_nothing(runs: RunWorld) -> None:
    runs.building(2)
    run = runs.service.start(SITE, {"all": True}, actor="admin")
    assert runs.service.cancel(SITE, run.run_id).state == CANCELLED
    runs.plan()
    assert runs.service.get_run(SITE, run.run_id).state == CANCELLED
    assert runs.jobs.chunk_jobs == []
    dry = runs.run({"all": True}, dry_run=True)
    with pytest.raises(RunStateConflict):
        runs.service.cancel(SITE, dry.run_id)


def _comparable(runs: RunWorld, key_id: str, prefix: str) -> Any:
    """A stored key with what differs between twins by construction taken out: ids, card
    and phone, door id prefixes, which door version carries a row (doors count their own
    versions), and the run's own details in the audit event."""
    record = runs.world.store.get_key(SITE, key_id)
    assert record is not None
    assert record.last_event is not None

    def doors(states: dict[str, str]) -> dict[str, str]:
        return {door.removeprefix(prefix): state for door, state in states.items()}

    event = record.last_event
    assert event.before is not None
    return replace(
        record,
        key_id="",
        card_uid=None,
        phone_e164=None,
        phone_hash=None,
        request_fingerprint=None,
        rows=tuple(
            replace(
                r, door_id=r.door_id.removeprefix(prefix), change_version=r.change_version and 1
            )
            for r in record.rows
        ),
        last_event=replace(
            event,
            key_id="",
            details={},
            reason=None,
            before=replace(event.before, doors=doors(dict(event.before.doors))),
            after=replace(event.after, doors=doors(dict(event.after.doors))),
        ),
    )


def test_a_run_writes_what_a_single_revoke_writes(runs: RunWorld) -> None:
    """The run builds each key's record from the core's chunk computation; a single revoke
    builds it through the per-key engine. The same facts give the same stored key."""
    keys = runs.building(2)
    twins = runs.building(2, prefix="twin-")
    runs.world.sync("flat-1")  # some rows deployed, some still deploying
    runs.world.sync("twin-flat-1")
    run = runs.run({"door_ids": ["flat-0", "flat-1"]})
    assert run.counts["revoked"] == 6
    for ids in twins.values():
        for key_id in ids:
            runs.world.services.keys.revoke(SITE, key_id, actor=run.actor)
    for flat in ("flat-0", "flat-1"):
        for mine, twin in zip(keys[flat], twins[f"twin-{flat}"], strict=True):
            assert _comparable(runs, mine, "") == _comparable(runs, twin, "twin-")


def test_counts_per_outcome_add_up_with_keys_revoked_meanwhile(runs: RunWorld) -> None:
    keys = runs.building(3)
    run = runs.service.start(SITE, {"all": True}, actor="admin")
    runs.plan()
    # Between planning and execution someone revokes two keys by hand.
    runs.world.services.keys.revoke(SITE, keys["flat-2"][0], actor="admin")
    runs.world.services.keys.revoke(SITE, keys["flat-0"][2], actor="admin")
    runs.work(run.run_id)
    run = runs.service.get_run(SITE, run.run_id)
    view = check_finished(runs, run, all_keys(keys))
    assert view["counts"]["already_revoked"] == 2
    assert view["counts"]["revoked"] == 7
    assert Counter(len(runs.revoke_events(k)) for k in all_keys(keys)) == Counter({1: 9})


@pytest.mark.parametrize("chunks", [0, 1, 2, 3, 10, 99, 100, 101, 1000])
def test_chunks_go_out_strided(chunks: int) -> None:
    order = dispatch_order(chunks)
    assert sorted(order) == list(range(chunks))
    if chunks >= 4:
        # Neighbours in the plan (which share doors) are not sent one after the other.
        assert all(abs(a - b) > 1 for a, b in itertools.pairwise(order) if b > a)
