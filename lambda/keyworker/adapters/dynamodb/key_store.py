"""The DynamoDB adapter of :class:`keyworker.domain.ports.KeyStore`.

One table, items typed by key prefix (the layout is documented in ``docs/data-model.md``).
Key and phone items are written whole with a condition on the revision read, so a lost race is a
:class:`ConcurrentUpdate` that the services retry with fresh state; a door item is written by
updates of named attributes, each with its own condition (an atomic version allocation must
never be overwritten by a whole-item write of a stale door). Hot paths use only
GetItem, BatchGetItem and single-item conditional writes: their cost does not depend on how many
items the table holds. ``ClientError`` codes become domain exceptions here and nowhere else.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from keyworker.adapters.dynamodb.client import Backoff, TableClient
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
from keyworker.errors import ConcurrentUpdate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Index names, as in infra/template.yaml.
KEYS_BY_STATUS = "keys_by_status"
KEYS_BY_BOUNDARY = "keys_by_boundary"
DOORS_TO_VISIT = "doors_to_visit"

# Keys with a time boundary are spread over this many index partitions so that no single
# partition of the boundary index becomes hot; the time service queries each of them.
BOUNDARY_SHARDS = 8
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

T = TypeVar("T")


def make_client(endpoint_url: str | None = None, region_name: str | None = None) -> DynamoDBClient:
    """A DynamoDB client with botocore's standard retry mode (call it at composition time)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region_name,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
    )


def boundary_shard(site_id: str, key_id: str) -> str:
    return f"BOUNDARY#{zlib.crc32(f'{site_id}#{key_id}'.encode()) % BOUNDARY_SHARDS}"


def sync_shard(site_id: str, door_id: str) -> str:
    return f"SYNC#{zlib.crc32(f'{site_id}#{door_id}'.encode()) % BOUNDARY_SHARDS}"


def site_pk(site_id: str) -> str:
    return f"SITE#{site_id}"


def door_sk(door_id: str) -> str:
    return f"DOOR#{door_id}"


def key_sk(key_id: str) -> str:
    return f"KEY#{key_id}"


def phone_sk(phone_hash: str) -> str:
    return f"PHONE#{phone_hash}"


def changes_pk(site_id: str, door_id: str) -> str:
    return f"SITE#{site_id}#DOOR#{door_id}"


def change_sk(version: int) -> str:
    return f"CHANGE#{version:010d}"


def events_pk(site_id: str, key_id: str) -> str:
    return f"SITE#{site_id}#KEY#{key_id}"


def event_sk(seq: int) -> str:
    return f"EVENT#{seq:010d}"


def to_attribute(value: Any) -> dict[str, Any]:
    return dict(_serializer.serialize(value))


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as a DynamoDB item (None values left out): the one item codec of the table."""
    return {name: to_attribute(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; keyworker's numbers are all integers."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ------------------------------------------------------------------------- item <-> model


def door_to_item(door: Door) -> dict[str, Any]:
    values: dict[str, Any] = {
        "pk": site_pk(door.site_id),
        "sk": door_sk(door.door_id),
        "item_type": "door",
        "site_id": door.site_id,
        "door_id": door.door_id,
        "name": door.name,
        "kind": door.kind,
        "connectivity": door.connectivity,
        "desired_version": door.desired_version,
        "confirmed_version": door.confirmed_version,
        "pending_since": door.pending_since,
        "rev": door.rev,
        "allocated_at": door.allocated_at,
        "last_seen": door.last_seen,
        "last_error": door.last_error,
        "online_since": door.online_since,
    }
    if door.pending_changes > 0 and door.pending_since is not None:
        values["visit_pk"] = visit_partition(door.site_id, door.door_id, door.connectivity)
    return to_item(values)


def visit_partition(site_id: str, door_id: str, connectivity: str) -> str:
    """The door's partition of the sparse ``doors_to_visit`` index while it has unconfirmed
    changes. Offline doors are filed under their site (the technician's worklist); online doors
    under a sync shard, so the scheduled sweeper finds online doors whose sync request got lost
    (ids never hold '#', so the two kinds of partition cannot meet)."""
    return sync_shard(site_id, door_id) if connectivity == "online" else site_id


def door_from_item(item: Mapping[str, Any]) -> Door:
    data = from_item(item)
    return Door(
        site_id=data["site_id"],
        door_id=data["door_id"],
        name=data["name"],
        kind=data["kind"],
        connectivity=data["connectivity"],
        desired_version=int(data["desired_version"]),
        confirmed_version=int(data["confirmed_version"]),
        pending_since=_opt_int(data.get("pending_since")),
        rev=int(data["rev"]),
        allocated_at=_opt_int(data.get("allocated_at")),
        last_seen=_opt_int(data.get("last_seen")),
        last_error=data.get("last_error"),
        online_since=_opt_int(data.get("online_since")),
    )


def _snapshot_to_map(snapshot: StatusSnapshot | None) -> dict[str, Any] | None:
    return None if snapshot is None else snapshot.as_dict()


def event_to_values(event: AuditEvent) -> dict[str, Any]:
    return {
        "site_id": event.site_id,
        "key_id": event.key_id,
        "seq": event.seq,
        "at": event.at,
        "action": event.action,
        "actor": event.actor,
        "reason": event.reason,
        "before": _snapshot_to_map(event.before),
        "after": event.after.as_dict(),
        "details": dict(event.details),
    }


def event_from_values(data: Mapping[str, Any]) -> AuditEvent:
    before = data.get("before")
    return AuditEvent(
        site_id=data["site_id"],
        key_id=data["key_id"],
        seq=int(data["seq"]),
        at=int(data["at"]),
        action=data["action"],
        actor=data["actor"],
        reason=data.get("reason"),
        before=None if before is None else StatusSnapshot.from_dict(before),
        after=StatusSnapshot.from_dict(data["after"]),
        details=dict(data.get("details", {})),
    )


def _packed(value: Mapping[str, Any]) -> str:
    """A key's per-door rows and embedded last event are one JSON string attribute each, not
    nested maps: no expression ever addresses inside them, and every attribute value costs
    (de)serialization time on both ends of every read and write (in the local emulator most
    of all, see docs/data-model.md)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _unpacked(value: Any) -> Any:
    """The packed form (a JSON string) or the nested map earlier items carry."""
    return json.loads(value) if isinstance(value, str) else value


def rows_of_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A key item's rows by door (``{state, seq, change_version?}``), from its DynamoDB JSON
    without decoding the rest: the packed form, or the nested map earlier items carry."""
    attribute = item.get("rows")
    if not attribute:
        return {}
    if "S" in attribute:
        packed: dict[str, dict[str, Any]] = json.loads(attribute["S"])
        return packed
    return from_item(attribute["M"])


def _row_to_map(row: DoorRow) -> dict[str, Any]:
    # Optional fields only when set: older readers and items stay as they were.
    values: dict[str, Any] = {"state": row.state, "seq": row.seq}
    if row.change_version is not None:
        values["change_version"] = row.change_version
    if row.since is not None:
        values["since"] = row.since
    if row.last_error is not None:
        values["last_error"] = row.last_error
    if row.overdue_noted:
        values["overdue_noted"] = True
    return values


def key_to_item(record: KeyRecord) -> dict[str, Any]:
    rows = {row.door_id: _row_to_map(row) for row in record.rows}
    values: dict[str, Any] = {
        "pk": site_pk(record.site_id),
        "sk": key_sk(record.key_id),
        "item_type": "key",
        "site_id": record.site_id,
        "key_id": record.key_id,
        "key_type": record.key_type,
        "holder_id": record.holder_id,
        "door_ids": list(record.door_ids),
        "rows": _packed(rows),
        "valid_from": record.valid_from,
        "valid_until": record.valid_until,
        "schedule": None if record.schedule is None else dict(record.schedule),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "revoked": record.revoked,
        "delivered": record.delivered,
        "app_reloaded": record.app_reloaded,
        "phone_blocked": record.phone_blocked,
        "phone_blocked_rev": record.phone_blocked_rev,
        "card_uid": record.card_uid,
        "phone_e164": record.phone_e164,
        "phone_hash": record.phone_hash,
        "request_fingerprint": record.request_fingerprint,
        "version": record.version,
        "event_seq": record.event_seq,
        "status_since": record.status_since,
        "last_error": record.last_error,
        "overdue_noted": True if record.overdue_noted else None,
        "overdue_at": record.overdue_at,
        "delivery_events": list(record.delivery_events) or None,
        "last_event": (
            None if record.last_event is None else _packed(event_to_values(record.last_event))
        ),
    }
    indexed = record.indexed
    if indexed is not None:
        values["status"] = indexed.status
        values["home_status"] = indexed.home_status
        values["evaluated_at"] = indexed.evaluated_at
        values["status_pk"] = f"{record.site_id}#{indexed.status}"
        values["status_sk"] = f"{record.key_type}#{record.key_id}"
        if indexed.next_boundary_at is not None:
            values["boundary_pk"] = boundary_shard(record.site_id, record.key_id)
            values["next_boundary_at"] = indexed.next_boundary_at
    return to_item(values)


# What a key's status, pending rows and exposure need (``DynamoStore.query_site_keys``).
_SITE_KEY_FACTS = (
    "site_id",
    "key_id",
    "key_type",
    "holder_id",
    "door_ids",
    "rows",
    "valid_from",
    "valid_until",
    "schedule",
    "created_at",
    "updated_at",
    "revoked",
    "delivered",
    "app_reloaded",
    "phone_blocked",
    "version",
    "event_seq",
    "status_since",
    "last_error",
    "overdue_noted",
    "overdue_at",
)


def key_from_item(item: Mapping[str, Any]) -> KeyRecord:
    stored_rows = rows_of_item(item)
    data = from_item(item)
    rows = tuple(_row_from_map(door_id, stored_rows[door_id]) for door_id in data["door_ids"])
    indexed = None
    if "status" in data:
        indexed = IndexedStatus(
            status=data["status"],
            home_status=data.get("home_status"),
            evaluated_at=int(data["evaluated_at"]),
            next_boundary_at=_opt_int(data.get("next_boundary_at")),
        )
    last_event = _unpacked(data.get("last_event"))
    return KeyRecord(
        site_id=data["site_id"],
        key_id=data["key_id"],
        key_type=data["key_type"],
        holder_id=data["holder_id"],
        rows=rows,
        valid_from=int(data["valid_from"]),
        valid_until=_opt_int(data.get("valid_until")),
        schedule=data.get("schedule"),
        created_at=int(data["created_at"]),
        updated_at=int(data["updated_at"]),
        revoked=bool(data.get("revoked", False)),
        delivered=bool(data.get("delivered", False)),
        app_reloaded=bool(data.get("app_reloaded", False)),
        phone_blocked=bool(data.get("phone_blocked", False)),
        phone_blocked_rev=int(data.get("phone_blocked_rev", 0)),
        card_uid=data.get("card_uid"),
        phone_e164=data.get("phone_e164"),
        phone_hash=data.get("phone_hash"),
        request_fingerprint=data.get("request_fingerprint"),
        version=int(data["version"]),
        event_seq=int(data.get("event_seq", 0)),
        last_event=None if last_event is None else event_from_values(last_event),
        indexed=indexed,
        status_since=_opt_int(data.get("status_since")),
        last_error=data.get("last_error"),
        overdue_noted=bool(data.get("overdue_noted", False)),
        overdue_at=_opt_int(data.get("overdue_at")),
        delivery_events=tuple(data.get("delivery_events") or ()),
    )


def _row_from_map(door_id: str, stored: Mapping[str, Any]) -> DoorRow:
    return DoorRow(
        door_id=door_id,
        state=stored["state"],
        seq=int(stored["seq"]),
        change_version=_opt_int(stored.get("change_version")),
        since=_opt_int(stored.get("since")),
        last_error=stored.get("last_error"),
        overdue_noted=bool(stored.get("overdue_noted", False)),
    )


def phone_to_item(phone: PhoneRecord) -> dict[str, Any]:
    return to_item(
        {
            "pk": site_pk(phone.site_id),
            "sk": phone_sk(phone.phone_hash),
            "item_type": "phone",
            "site_id": phone.site_id,
            "phone_hash": phone.phone_hash,
            "blocked": phone.blocked,
            # A string set cannot be empty in DynamoDB: an absent attribute means no keys.
            "key_ids": set(phone.key_ids) or None,
            "rev": phone.rev,
            "blocked_rev": phone.blocked_rev,
        }
    )


def phone_from_item(item: Mapping[str, Any]) -> PhoneRecord:
    data = from_item(item)
    return PhoneRecord(
        site_id=data["site_id"],
        phone_hash=data["phone_hash"],
        blocked=bool(data["blocked"]),
        key_ids=frozenset(data.get("key_ids", set())),
        rev=int(data["rev"]),
        blocked_rev=int(data.get("blocked_rev", 0)),
    )


def change_to_item(change: DoorChange) -> dict[str, Any]:
    return to_item(
        {
            "pk": changes_pk(change.site_id, change.door_id),
            "sk": change_sk(change.version),
            "item_type": "door_change",
            "site_id": change.site_id,
            "door_id": change.door_id,
            "version": change.version,
            "created_at": change.created_at,
            "action": change.action,
            "refs": [{"key_id": r.key_id, "seq": r.seq, "state": r.state} for r in change.refs],
        }
    )


def event_to_item(event: AuditEvent) -> dict[str, Any]:
    values = event_to_values(event)
    values.update(
        pk=events_pk(event.site_id, event.key_id), sk=event_sk(event.seq), item_type="event"
    )
    return to_item(values)


def change_from_item(item: Mapping[str, Any]) -> DoorChange:
    data = from_item(item)
    return DoorChange(
        site_id=data["site_id"],
        door_id=data["door_id"],
        version=int(data["version"]),
        created_at=int(data["created_at"]),
        action=data["action"],
        refs=tuple(
            ChangeRef(key_id=r["key_id"], seq=int(r["seq"]), state=r["state"])
            for r in data.get("refs", [])
        ),
    )


# ------------------------------------------------------------------------------- the store


class DynamoStore:
    """:class:`KeyStore` on one DynamoDB table; ``client`` is a boto3 DynamoDB client."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, backoff: Backoff | None = None
    ) -> None:
        self._table_client = TableClient(client, table_name, backoff)
        self._client = client
        self._table = table_name

    # -- calls (the one client wrapper: errors, retries, batches)

    def _call(self, operation: Callable[..., T], **kwargs: Any) -> T:
        return self._table_client.call(operation, **kwargs)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self._table_client.get(pk, sk)

    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return self._table_client.batch_get(keys)

    def _put_versioned(
        self,
        item: dict[str, Any],
        attribute: str,
        new_value: int,
        decode: Callable[[dict[str, Any]], Any],
    ) -> None:
        """Put ``item`` if its stored ``attribute`` is ``new_value - 1`` (absent for 1); a lost
        race raises ``ConcurrentUpdate`` with the stored item, ``decode``d, as ``current``."""
        try:
            self._put_if_revision(item, attribute, new_value)
        except ConcurrentUpdate as lost:
            current = None if lost.current is None else decode(lost.current)
            raise ConcurrentUpdate(str(lost), current=current) from lost

    def _put_if_revision(self, item: dict[str, Any], attribute: str, new_value: int) -> None:
        if new_value == 1:
            condition = "attribute_not_exists(pk)"
            names: dict[str, str] = {}
            values: dict[str, Any] = {}
        else:
            condition = "#rev = :expected"
            names = {"#rev": attribute}
            values = {":expected": {"N": str(new_value - 1)}}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": condition,
            # A lost race brings the item as it is: the writer decides again without a read.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
            kwargs["ExpressionAttributeValues"] = values
        self._call(self._client.put_item, **kwargs)

    def _put_if_absent(self, item: dict[str, Any]) -> bool:
        try:
            self._call(
                self._client.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConcurrentUpdate:
            return False
        return True

    # -- doors

    def get_door(self, site_id: str, door_id: str) -> Door | None:
        item = self._get(site_pk(site_id), door_sk(door_id))
        return None if item is None else door_from_item(item)

    def get_doors(self, site_id: str, door_ids: Iterable[str]) -> dict[str, Door]:
        items = self._batch_get([(site_pk(site_id), door_sk(d)) for d in door_ids])
        doors = (door_from_item(item) for item in items)
        return {door.door_id: door for door in doors}

    def _update_door(
        self,
        site_id: str,
        door_id: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
    ) -> Door:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": site_pk(site_id)}, "sk": {"S": door_sk(door_id)}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {
                name: _serializer.serialize(value) for name, value in values.items()
            },
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        response = self._call(self._client.update_item, **kwargs)
        return door_from_item(response["Attributes"])

    def save_door(self, door: Door) -> None:
        if door.rev == 1:
            self._put_versioned(door_to_item(door), "rev", door.rev, door_from_item)
            return
        # Only the description and the index partition, which follows the connectivity: the
        # versions move by their own updates, and the condition that they are the ones read
        # keeps this write from filing a door under a partition its versions no longer call for.
        pending = door.pending_changes > 0 and door.pending_since is not None
        update = "SET #name = :name, #kind = :kind, #connectivity = :connectivity, #rev = :rev"
        values: dict[str, Any] = {
            ":name": door.name,
            ":kind": door.kind,
            ":connectivity": door.connectivity,
            ":rev": door.rev,
            ":read": door.rev - 1,
            ":desired": door.desired_version,
            ":confirmed": door.confirmed_version,
        }
        if door.online_since is not None:
            update += ", online_since = :online_since"
            values[":online_since"] = door.online_since
        if pending:
            update += ", visit_pk = :visit"
            values[":visit"] = visit_partition(door.site_id, door.door_id, door.connectivity)
        else:
            update += " REMOVE visit_pk"
        self._update_door(
            door.site_id,
            door.door_id,
            update,
            "#rev = :read AND desired_version = :desired AND confirmed_version = :confirmed",
            values,
            {"#name": "name", "#kind": "kind", "#connectivity": "connectivity", "#rev": "rev"},
        )

    def allocate_door_version(
        self, site_id: str, door_id: str, *, connectivity: str, now: int
    ) -> Door:
        # One atomic ADD: concurrent writers each get their own version, none waits or retries.
        # A door that was up to date becomes pending now (if_not_exists keeps the oldest
        # pending instant of a door that already was). The index partition depends on the
        # connectivity, hence the condition (a connectivity change races this rarely).
        return self._update_door(
            site_id,
            door_id,
            "ADD desired_version :one SET allocated_at = :now,"
            " pending_since = if_not_exists(pending_since, :now),"
            " visit_pk = if_not_exists(visit_pk, :visit)",
            "#connectivity = :connectivity",
            {
                ":one": 1,
                ":now": now,
                ":visit": visit_partition(site_id, door_id, connectivity),
                ":connectivity": connectivity,
            },
            {"#connectivity": "connectivity"},
        )

    def confirm_door_version(
        self,
        site_id: str,
        door_id: str,
        version: int,
        *,
        pending_since: int | None,
        seen_at: int | None = None,
    ) -> Door:
        # A confirmation is the door being heard from: last_seen rides on this write.
        seen = "" if seen_at is None else ", last_seen = :seen"
        seen_value = {} if seen_at is None else {":seen": seen_at}
        if pending_since is None:
            # Caught up: out of the index, unless a version was allocated meanwhile.
            return self._update_door(
                site_id,
                door_id,
                f"SET confirmed_version = :v{seen} REMOVE pending_since, visit_pk, last_error",
                "confirmed_version < :v AND desired_version = :v",
                {":v": version, **seen_value},
            )
        return self._update_door(
            site_id,
            door_id,
            f"SET confirmed_version = :v, pending_since = :since{seen} REMOVE last_error",
            "confirmed_version < :v AND desired_version > :v",
            {":v": version, ":since": pending_since, **seen_value},
        )

    def door_failed(self, site_id: str, door_id: str, reason: str) -> None:
        try:
            self._update_door(
                site_id, door_id, "SET last_error = :r", "attribute_exists(pk)", {":r": reason}
            )
        except ConcurrentUpdate:
            return  # no such door: nothing to note it on

    def door_seen(self, site_id: str, door_id: str, seen_at: int) -> Door | None:
        try:
            return self._update_door(
                site_id,
                door_id,
                "SET last_seen = :seen",
                "attribute_exists(pk) AND (attribute_not_exists(last_seen) OR last_seen < :seen)",
                {":seen": seen_at},
            )
        except ConcurrentUpdate:
            # No such door, or it was heard from at or after seen_at already.
            return self.get_door(site_id, door_id)

    # -- keys

    def get_key(self, site_id: str, key_id: str) -> KeyRecord | None:
        item = self._get(site_pk(site_id), key_sk(key_id))
        return None if item is None else key_from_item(item)

    def get_keys(self, site_id: str, key_ids: Iterable[str]) -> dict[str, KeyRecord]:
        items = self._batch_get([(site_pk(site_id), key_sk(k)) for k in key_ids])
        records = (key_from_item(item) for item in items)
        return {record.key_id: record for record in records}

    def save_key(self, record: KeyRecord) -> None:
        self._put_versioned(key_to_item(record), "version", record.version, key_from_item)

    # -- phones

    def get_phone(self, site_id: str, phone_hash: str) -> PhoneRecord | None:
        item = self._get(site_pk(site_id), phone_sk(phone_hash))
        return None if item is None else phone_from_item(item)

    def get_phones(self, site_id: str, phone_hashes: Iterable[str]) -> dict[str, PhoneRecord]:
        items = self._batch_get([(site_pk(site_id), phone_sk(h)) for h in phone_hashes])
        phones = (phone_from_item(item) for item in items)
        return {phone.phone_hash: phone for phone in phones}

    def save_phone(self, phone: PhoneRecord) -> None:
        self._put_versioned(phone_to_item(phone), "rev", phone.rev, phone_from_item)

    # -- door changes

    def put_change(self, change: DoorChange) -> bool:
        return self._put_if_absent(change_to_item(change))

    def get_changes(
        self, site_id: str, door_id: str, versions: Iterable[int]
    ) -> dict[int, DoorChange]:
        pk = changes_pk(site_id, door_id)
        items = self._batch_get([(pk, change_sk(v)) for v in versions])
        changes = (change_from_item(item) for item in items)
        return {change.version: change for change in changes}

    # -- audit trail

    def put_event(self, event: AuditEvent) -> bool:
        return self._put_if_absent(event_to_item(event))

    def put_events(self, events: Iterable[AuditEvent]) -> None:
        """Audit events, 25 per BatchWriteItem. Not conditional (BatchWriteItem cannot be): an
        event's id is its key's event sequence and its content is fixed by the key write that
        made it, so writing it again writes the same item."""
        items = {(e.key_id, e.seq): event_to_item(e) for e in events}
        self._table_client.batch_put(items.values())

    def list_events(self, site_id: str, key_id: str) -> list[AuditEvent]:
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": events_pk(site_id, key_id)},
                ":prefix": {"S": "EVENT#"},
            },
            ScanIndexForward=True,
            ConsistentRead=True,
        )
        return [event_from_values(from_item(item)) for item in items]

    # -- queries (not on per-key paths)

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        return self._table_client.query_all(**kwargs)

    def query_keys(
        self,
        site_id: str,
        *,
        status: str | None,
        key_type: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
    ) -> tuple[list[KeyRecord], Mapping[str, Any] | None]:
        kwargs: dict[str, Any] = {"TableName": self._table, "Limit": limit}
        if status is not None:
            kwargs["IndexName"] = KEYS_BY_STATUS
            values: dict[str, Any] = {":p": {"S": f"{site_id}#{status}"}}
            condition = "status_pk = :p"
            if key_type is not None:
                condition += " AND begins_with(status_sk, :t)"
                values[":t"] = {"S": f"{key_type}#"}
            kwargs["KeyConditionExpression"] = condition
            kwargs["ExpressionAttributeValues"] = values
        else:
            kwargs["KeyConditionExpression"] = "pk = :pk AND begins_with(sk, :prefix)"
            values = {":pk": {"S": site_pk(site_id)}, ":prefix": {"S": "KEY#"}}
            if key_type is not None:
                kwargs["FilterExpression"] = "key_type = :t"
                values[":t"] = {"S": key_type}
            kwargs["ExpressionAttributeValues"] = values
            kwargs["ConsistentRead"] = True
        if cursor:
            kwargs["ExclusiveStartKey"] = {name: {"S": str(v)} for name, v in cursor.items()}
        response = self._call(self._client.query, **kwargs)
        records = [key_from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        next_cursor = None if not last else {name: value["S"] for name, value in last.items()}
        return records, next_cursor

    def query_due_keys(self, now: int, *, limit: int) -> list[tuple[str, str]]:
        due: list[tuple[str, str]] = []
        for shard in range(BOUNDARY_SHARDS):
            kwargs: dict[str, Any] = {
                "IndexName": KEYS_BY_BOUNDARY,
                "KeyConditionExpression": "boundary_pk = :b AND next_boundary_at <= :now",
                "ExpressionAttributeValues": {
                    ":b": {"S": f"BOUNDARY#{shard}"},
                    ":now": {"N": str(now)},
                },
            }
            for item in self._query_all(**kwargs):
                site = item["pk"]["S"].removeprefix("SITE#")
                key = item["sk"]["S"].removeprefix("KEY#")
                due.append((site, key))
                if len(due) >= limit:
                    return due
        return due

    def query_doors_to_visit(self, site_id: str) -> list[Door]:
        items = self._query_all(
            IndexName=DOORS_TO_VISIT,
            KeyConditionExpression="visit_pk = :s",
            ExpressionAttributeValues={":s": {"S": site_id}},
            ScanIndexForward=True,
        )
        return [door_from_item(item) for item in items]

    def query_doors(self, site_id: str) -> list[Door]:
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": site_pk(site_id)},
                ":prefix": {"S": "DOOR#"},
            },
        )
        return [door_from_item(item) for item in items]

    def query_site_keys(self, site_id: str, *, max_keys: int) -> list[KeyRecord] | None:
        """Every key of the site with the facts its status needs (a paginated Query of the
        site's partition; the audit event, phone and card are not projected), or None when
        the site holds more than ``max_keys`` keys (the read stops there)."""
        names = {f"#a{i}": name for i, name in enumerate(_SITE_KEY_FACTS)}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": site_pk(site_id)},
                ":prefix": {"S": "KEY#"},
            },
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        records: list[KeyRecord] = []
        while True:
            response = self._call(self._client.query, TableName=self._table, **kwargs)
            records.extend(key_from_item(item) for item in response.get("Items", []))
            if len(records) > max_keys:
                return None
            last = response.get("LastEvaluatedKey")
            if not last:
                return records
            kwargs["ExclusiveStartKey"] = last

    def query_site_runs(self, site_id: str) -> list[tuple[str, str, int, int]]:
        """``(run_id, state, keys_total, keys_done)`` of every revocation run of the site."""
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": site_pk(site_id)}, ":prefix": {"S": "RUN#"}},
            ProjectionExpression="run_id, #state, keys_total, keys_done",
            ExpressionAttributeNames={"#state": "state"},
        )
        runs = []
        for item in items:
            data = from_item(item)
            runs.append(
                (
                    str(data["run_id"]),
                    str(data["state"]),
                    int(data.get("keys_total", 0)),
                    int(data.get("keys_done", 0)),
                )
            )
        return runs

    def query_doors_to_sync(self, pending_before: int, *, limit: int) -> list[Door]:
        """Online doors whose oldest unconfirmed change is older than ``pending_before``."""
        doors: list[Door] = []
        for shard in range(BOUNDARY_SHARDS):
            items = self._query_all(
                IndexName=DOORS_TO_VISIT,
                KeyConditionExpression="visit_pk = :s AND pending_since <= :t",
                ExpressionAttributeValues={
                    ":s": {"S": f"SYNC#{shard}"},
                    ":t": {"N": str(pending_before)},
                },
            )
            for item in items:
                doors.append(door_from_item(item))
                if len(doors) >= limit:
                    return doors
        return doors


if TYPE_CHECKING:
    from keyworker.domain.ports import KeyStore

    def _implements_the_port(store: DynamoStore) -> KeyStore:
        return store  # mypy checks here that DynamoStore is a KeyStore
