"""The DynamoDB adapter: item round trips, conditional writes, batch reads, indexes, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import Stubber
from moto_state import TABLE_NAME

from keyworker.adapters.dynamodb import DynamoStore
from keyworker.adapters.dynamodb.run_store import key_facts_from_item
from keyworker.domain.models import (
    AuditEvent,
    ChangeRef,
    Door,
    DoorChange,
    DoorRow,
    IndexedStatus,
    KeyRecord,
    PhoneRecord,
    StatusSnapshot,
)
from keyworker.errors import ConcurrentUpdate, StoreError, StoreUnavailable

SITE = "site-a"


def _key(key_id: str, *, version: int = 1, status: str = "planned", **kw: Any) -> KeyRecord:
    return KeyRecord(
        site_id=kw.pop("site_id", SITE),
        key_id=key_id,
        key_type=kw.pop("key_type", "access_medium"),
        holder_id="holder",
        rows=(DoorRow("d1", "deployment_pending", 1, None), DoorRow("d2", "deployed", 2, 7)),
        valid_from=100,
        valid_until=kw.pop("valid_until", None),
        schedule={"time_zone": "Europe/Zurich", "windows": []},
        created_at=50,
        updated_at=60,
        card_uid="card",
        version=version,
        indexed=IndexedStatus(status, "always", 60, kw.pop("next_boundary_at", None)),
        **kw,
    )


def test_door_round_trip_and_optimistic_locking(store: DynamoStore) -> None:
    door = Door(SITE, "d1", "Entrance", "common", "offline", rev=1)
    store.save_door(door)
    assert store.get_door(SITE, "d1") == door
    assert store.get_door(SITE, "nope") is None
    with pytest.raises(ConcurrentUpdate):
        store.save_door(door)  # creating again: it exists
    renamed = replace(door, name="Main entrance", connectivity="online", rev=2)
    store.save_door(renamed)
    with pytest.raises(ConcurrentUpdate):
        store.save_door(renamed)  # rev 2 was written from rev 1 already
    assert store.get_door(SITE, "d1") == renamed
    assert store.get_door("other-site", "d1") is None


def test_a_lost_key_or_phone_write_brings_back_the_stored_item(store: DynamoStore) -> None:
    """ReturnValuesOnConditionCheckFailure: the loser of a race decides again without a read."""
    first = _key("k1")
    store.save_key(first)
    second = replace(first, holder_id="someone else", version=2)
    store.save_key(second)
    with pytest.raises(ConcurrentUpdate) as lost:
        store.save_key(replace(first, version=2))  # decided from version 1, too
    assert lost.value.current == second
    with pytest.raises(ConcurrentUpdate) as again:
        store.save_key(first)  # a create of a key that exists
    assert again.value.current == second
    phone = PhoneRecord(SITE, "hash-1", key_ids=frozenset({"k1"}), rev=1)
    store.save_phone(phone)
    with pytest.raises(ConcurrentUpdate) as phone_lost:
        store.save_phone(replace(phone, key_ids=frozenset()))
    assert phone_lost.value.current == phone


def test_a_description_write_never_moves_the_versions(store: DynamoStore) -> None:
    store.save_door(Door(SITE, "d1", "Entrance", "common", "offline", rev=1))
    allocated = store.allocate_door_version(SITE, "d1", connectivity="offline", now=100)
    # A description written from the door as read before the allocation loses: a whole-item
    # write of it would have taken the allocated version back.
    stale = Door(SITE, "d1", "Renamed", "common", "offline", rev=2)
    with pytest.raises(ConcurrentUpdate):
        store.save_door(stale)
    store.save_door(replace(allocated, name="Renamed", connectivity="online", rev=2))
    door = store.get_door(SITE, "d1")
    assert door is not None
    assert (door.name, door.connectivity, door.desired_version) == ("Renamed", "online", 1)
    # Moved to the online doors' sync partition of the index with its connectivity.
    assert store.query_doors_to_visit(SITE) == []
    assert [d.door_id for d in store.query_doors_to_sync(1_000, limit=10)] == ["d1"]


def test_allocation_is_an_atomic_increment_that_files_the_door_once(store: DynamoStore) -> None:
    store.save_door(Door(SITE, "d1", "Entrance", "common", "offline", rev=1))
    first = store.allocate_door_version(SITE, "d1", connectivity="offline", now=100)
    second = store.allocate_door_version(SITE, "d1", connectivity="offline", now=200)
    assert (first.desired_version, first.pending_since, first.allocated_at) == (1, 100, 100)
    # Still pending since the oldest unconfirmed allocation; the latest allocation is recorded.
    assert (second.desired_version, second.pending_since, second.allocated_at) == (2, 100, 200)
    assert second.rev == 1  # the description's revision does not move
    assert [d.door_id for d in store.query_doors_to_visit(SITE)] == ["d1"]
    with pytest.raises(ConcurrentUpdate):  # the door is not online
        store.allocate_door_version(SITE, "d1", connectivity="online", now=300)
    with pytest.raises(ConcurrentUpdate):  # no such door: nothing is created
        store.allocate_door_version(SITE, "nope", connectivity="offline", now=300)
    assert store.get_door(SITE, "nope") is None


def test_confirmation_rises_only_and_leaves_the_index_only_when_caught_up(
    store: DynamoStore,
) -> None:
    store.save_door(Door(SITE, "d1", "Entrance", "common", "offline", rev=1))
    for now in (100, 200, 300):
        store.allocate_door_version(SITE, "d1", connectivity="offline", now=now)
    with pytest.raises(ConcurrentUpdate):  # version 1 is not the desired one (3)
        store.confirm_door_version(SITE, "d1", 1, pending_since=None)
    door = store.confirm_door_version(SITE, "d1", 2, pending_since=300)
    assert (door.confirmed_version, door.pending_since) == (2, 300)
    with pytest.raises(ConcurrentUpdate):  # stale: 1 is below what is confirmed
        store.confirm_door_version(SITE, "d1", 1, pending_since=200)
    with pytest.raises(ConcurrentUpdate):  # duplicate
        store.confirm_door_version(SITE, "d1", 2, pending_since=300)
    assert [d.door_id for d in store.query_doors_to_visit(SITE)] == ["d1"]
    door = store.confirm_door_version(SITE, "d1", 3, pending_since=None)
    assert (door.confirmed_version, door.desired_version, door.pending_since) == (3, 3, None)
    assert store.query_doors_to_visit(SITE) == []
    again = store.allocate_door_version(SITE, "d1", connectivity="offline", now=400)
    assert (again.desired_version, again.pending_since) == (4, 400)
    assert [d.door_id for d in store.query_doors_to_visit(SITE)] == ["d1"]


def test_key_round_trip_keeps_row_order_and_all_facts(store: DynamoStore) -> None:
    event = AuditEvent(
        SITE,
        "k1",
        1,
        60,
        "created",
        "admin",
        None,
        None,
        StatusSnapshot("planned", None, {"d1": "deployment_pending"}),
        {"version": 3},
    )
    record = _key("k1", phone_hash="ab" * 32, event_seq=1, last_event=event, valid_until=900)
    store.save_key(record)
    assert store.get_key(SITE, "k1") == record
    with pytest.raises(ConcurrentUpdate):
        store.save_key(_key("k1", version=3))  # stored version is 1, not 2


def test_rows_and_last_event_are_packed_and_the_nested_form_still_reads(
    store: DynamoStore, dynamodb: Any
) -> None:
    event = AuditEvent(
        SITE, "k9", 1, 60, "created", "admin", None, None, StatusSnapshot("planned", None, {}), {}
    )
    record = _key("k9", event_seq=1, last_event=event)
    store.save_key(record)
    key = {"pk": {"S": f"SITE#{SITE}"}, "sk": {"S": "KEY#k9"}}
    item = dynamodb.get_item(TableName=TABLE_NAME, Key=key)["Item"]
    assert set(item["rows"]) == {"S"}
    assert set(item["last_event"]) == {"S"}
    assert json.loads(item["rows"]["S"])["d2"] == {
        "state": "deployed",
        "seq": 2,
        "change_version": 7,
    }
    assert key_facts_from_item(item).rows == (("d1", "deployment_pending"), ("d2", "deployed"))
    # An item written before the rows were packed: nested maps.
    item["rows"] = {
        "M": {
            door: {"M": {"state": {"S": state}, "seq": {"N": str(seq)}}}
            for door, state, seq in (("d1", "deployment_pending", 1), ("d2", "deployed", 2))
        }
    }
    item["last_event"] = TypeSerializer().serialize(json.loads(item["last_event"]["S"]))
    item["version"] = {"N": "5"}
    dynamodb.put_item(TableName=TABLE_NAME, Item=item)
    old = store.get_key(SITE, "k9")
    assert old is not None
    assert [(r.door_id, r.state, r.seq, r.change_version) for r in old.rows] == [
        ("d1", "deployment_pending", 1, None),
        ("d2", "deployed", 2, None),
    ]
    assert old.last_event == event
    assert key_facts_from_item(item).rows == (("d1", "deployment_pending"), ("d2", "deployed"))


def test_batch_reads_span_more_than_one_hundred_items(store: DynamoStore) -> None:
    for number in range(130):
        store.save_door(Door(SITE, f"d{number}", "D", "unit", "online", rev=1))
    doors = store.get_doors(SITE, [f"d{n}" for n in range(130)] + ["missing", "d5"])
    assert len(doors) == 130


def test_phone_round_trip_with_and_without_keys(store: DynamoStore) -> None:
    empty = PhoneRecord(SITE, "h1", blocked=True, rev=1)
    store.save_phone(empty)
    assert store.get_phone(SITE, "h1") == empty
    with_keys = PhoneRecord(SITE, "h1", blocked=False, key_ids=frozenset({"a", "b"}), rev=2)
    store.save_phone(with_keys)
    assert store.get_phone(SITE, "h1") == with_keys


def test_changes_and_events_are_written_once(store: DynamoStore) -> None:
    change = DoorChange(SITE, "d1", 1, 10, "deploy", (ChangeRef("k1", 1, "deployment_pending"),))
    assert store.put_change(change) is True
    assert store.put_change(DoorChange(SITE, "d1", 1, 99, "revoke", ())) is False
    assert store.get_changes(SITE, "d1", [1, 2]) == {1: change}
    events = [
        AuditEvent(SITE, "k1", seq, seq, "x", "a", None, None, StatusSnapshot("active", None, {}))
        for seq in (2, 1, 3)
    ]
    for event in events:
        assert store.put_event(event) is True
    assert store.put_event(events[0]) is False
    assert [e.seq for e in store.list_events(SITE, "k1")] == [1, 2, 3]
    assert store.list_events(SITE, "k2") == []


def test_query_keys_by_status_and_type_pages_through_the_site(store: DynamoStore) -> None:
    for number in range(5):
        store.save_key(_key(f"a{number}", status="active"))
    store.save_key(_key("dk", status="active", key_type="digital_key"))
    store.save_key(_key("p", status="planned"))
    store.save_key(_key("other", status="active", site_id="site-b"))
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = store.query_keys(
            SITE, status="active", key_type="access_medium", limit=2, cursor=cursor
        )
        seen.extend(r.key_id for r in page)
        if cursor is None:
            break
    assert sorted(seen) == [f"a{n}" for n in range(5)]
    all_active, _ = store.query_keys(SITE, status="active", key_type=None, limit=50, cursor=None)
    assert {r.key_id for r in all_active} == {"a0", "a1", "a2", "a3", "a4", "dk"}
    digital, _ = store.query_keys(SITE, status=None, key_type="digital_key", limit=50, cursor=None)
    assert [r.key_id for r in digital] == ["dk"]


def test_boundary_index_holds_only_keys_with_a_boundary_ahead(store: DynamoStore) -> None:
    store.save_key(_key("soon", next_boundary_at=500))
    store.save_key(_key("later", next_boundary_at=5_000))
    store.save_key(_key("never"))
    assert store.query_due_keys(1_000, limit=10) == [(SITE, "soon")]
    assert sorted(store.query_due_keys(10_000, limit=10)) == [(SITE, "later"), (SITE, "soon")]


def test_worklist_index_holds_offline_doors_with_pending_work(store: DynamoStore) -> None:
    store.save_door(Door(SITE, "idle", "D", "unit", "offline", 3, 3, None, rev=1))
    store.save_door(Door(SITE, "online", "D", "unit", "online", 3, 1, 100, rev=1))
    store.save_door(Door(SITE, "old", "D", "unit", "offline", 3, 1, 100, rev=1))
    store.save_door(Door(SITE, "new", "D", "unit", "offline", 1, 0, 200, rev=1))
    assert [d.door_id for d in store.query_doors_to_visit(SITE)] == ["old", "new"]


def test_client_errors_become_domain_errors(dynamodb: Any) -> None:
    missing = DynamoStore(dynamodb, "no-such-table")
    with pytest.raises(StoreError) as caught:
        missing.get_key(SITE, "k")
    assert not isinstance(caught.value, StoreUnavailable)
    assert caught.value.__cause__ is not None

    store = DynamoStore(dynamodb, TABLE_NAME)
    with Stubber(dynamodb) as stub:
        stub.add_client_error("get_item", service_error_code="ThrottlingException")
        with pytest.raises(StoreUnavailable):
            store.get_door(SITE, "d")
        stub.add_client_error(
            "batch_get_item", service_error_code="ProvisionedThroughputExceededException"
        )
        with pytest.raises(StoreUnavailable):
            store.get_doors(SITE, ["d"])


def test_clients_use_the_standard_retry_mode() -> None:
    from keyworker.adapters.dynamodb import make_client

    client = make_client(region_name="us-east-1")
    assert client.meta.config.retries["mode"] == "standard"
