"""DynamoDB access of revocation runs: run, plan, chunk and report items, the site-wide read
that feeds the planner, and batched audit events.

Items (``docs/data-model.md``, "Revocation runs"):

| item | ``pk`` | ``sk`` |
|---|---|---|
| run | ``SITE#<site>`` | ``RUN#<run>`` |
| plan of a planning attempt | ``SITE#<site>#RUN#<run>`` | ``PLAN#<attempt>`` |
| chunk of a planning attempt | ``SITE#<site>#RUN#<run>`` | ``CHUNK#<attempt>#<n, 6 digits>`` |
| report | ``SITE#<site>#RUN#<run>`` | ``REPORT`` |

Every change of a run item is an UpdateItem with a condition (on its state, or on the chunk
not being counted yet), so the counters, which only ``ADD`` up, are never overwritten by a
whole-item write. Throttling is retried here with exponential backoff and full jitter, on top
of botocore's own retries (``Backoff``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from keyworker.adapters.dynamodb.client import Backoff, TableClient
from keyworker.adapters.dynamodb.key_store import (
    door_from_item,
    event_sk,
    event_to_values,
    events_pk,
    from_item,
    key_sk,
    rows_of_item,
    site_pk,
    to_attribute,
    to_item,
)
from keyworker.domain.models import AuditEvent, Door
from keyworker.errors import ConcurrentUpdate, StoreError
from keyworker.revocation.models import (
    CANCELLED,
    CANCELLING,
    DONE,
    OUTCOMES,
    PLANNING,
    RUNNING,
    ChunkOutcome,
    ChunkRecord,
    DoorChangeMade,
    Failure,
    RunRecord,
    zero_counts,
)
from keyworker.revocation.planner import KeyFactsRow
from keyworker.revocation.selectors import Selector

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")


def run_sk(run_id: str) -> str:
    return f"RUN#{run_id}"


def run_pk(site_id: str, run_id: str) -> str:
    return f"SITE#{site_id}#RUN#{run_id}"


def plan_sk(attempt: str) -> str:
    return f"PLAN#{attempt}"


def chunk_sk(attempt: str, number: int) -> str:
    return f"CHUNK#{attempt}#{number:06d}"


REPORT_SK = "REPORT"


@dataclass(frozen=True, slots=True)
class SiteSnapshot:
    """What the planner reads of a site: key facts, the doors by id, and every key item as
    read (DynamoDB JSON, by key id) for the chunks' snapshots."""

    keys: tuple[KeyFactsRow, ...]
    doors: dict[str, Door]
    items: dict[str, dict[str, Any]]


def _projection(attributes: Sequence[str]) -> dict[str, Any]:
    """A ProjectionExpression of top-level ``attributes``, every name escaped."""
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


# A chunk item must stay far below DynamoDB's 400 KB item limit; a chunk whose snapshot would
# not reads its keys instead.
MAX_SNAPSHOT_BYTES = 300 * 1024


def _pack_snapshot(items: Iterable[dict[str, Any]]) -> bytes | None:
    packed = zlib.compress(json.dumps(list(items), separators=(",", ":")).encode(), 6)
    return packed if len(packed) <= MAX_SNAPSHOT_BYTES else None


def unpack_snapshot(blob: bytes) -> list[dict[str, Any]]:
    """The key items of a chunk's snapshot (DynamoDB JSON)."""
    items: list[dict[str, Any]] = json.loads(zlib.decompress(blob))
    return items


def key_facts_from_item(item: Mapping[str, Any]) -> KeyFactsRow:
    """A key's planner facts from a (projected) key item in DynamoDB's JSON."""
    rows = rows_of_item(item)
    valid_until = item.get("valid_until")

    def flag(name: str) -> bool:
        return bool(item.get(name, {}).get("BOOL", False))

    return KeyFactsRow(
        key_id=item["key_id"]["S"],
        key_type=item["key_type"]["S"],
        holder_id=item["holder_id"]["S"],
        # The planner looks at the set of a key's rows, not their order.
        rows=tuple((door, row["state"]) for door, row in rows.items()),
        valid_from=int(item["valid_from"]["N"]),
        valid_until=None if valid_until is None else int(valid_until["N"]),
        revoked=flag("revoked"),
        phone_blocked=flag("phone_blocked"),
        delivered=flag("delivered"),
        app_reloaded=flag("app_reloaded"),
        has_schedule="schedule" in item,
    )


class RunStore:
    """Revocation runs in the state table (``client``: a boto3 DynamoDB client)."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, backoff: Backoff | None = None
    ) -> None:
        self._table_client = TableClient(client, table_name, backoff)
        self._client = client
        self._table = table_name
        self.backoff = self._table_client.backoff

    # -- calls (the one client wrapper: errors, retries, batches)

    def _call(self, operation: Callable[..., T], **kwargs: Any) -> T:
        return self._table_client.call(operation, **kwargs)

    def _update(self, key: tuple[str, str], **kwargs: Any) -> dict[str, Any] | None:
        """UpdateItem; None when its condition failed."""
        try:
            response = self._call(
                self._client.update_item,
                TableName=self._table,
                Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
                **kwargs,
            )
        except ConcurrentUpdate:
            return None
        return dict(response.get("Attributes") or {})

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self._table_client.get(pk, sk)

    def batch_get(
        self, keys: Sequence[tuple[str, str]], projection: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Items by key, 100 per call; unprocessed keys asked again with backoff."""
        return self._table_client.batch_get(keys, _projection(projection) if projection else None)

    def batch_put(self, items: Iterable[dict[str, Any]]) -> int:
        """Unconditional puts, 25 per BatchWriteItem. Returns the number of calls."""
        return self._table_client.batch_put(items)

    # -- the site, for the planner

    def site_snapshot(self, site_id: str) -> SiteSnapshot:
        """Every key and every door of the site, whole: one paginated Query of the site's
        partition over the sort keys from ``DOOR#`` to ``KEY#...`` (doors and keys are next to
        each other: ``D`` < ``K``). Whole items, because the chunks write from them (see
        ``put_chunks``); DynamoDB bills a read by the item's size whatever it returns, and
        the emulator answers a projected read more slowly than a whole one."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": site_pk(site_id)},
                ":first": {"S": "DOOR#"},
                # '$' sorts right after '#': every KEY#... is below KEY$.
                ":last": {"S": "KEY$"},
            },
            "ConsistentRead": True,
        }
        keys: list[KeyFactsRow] = []
        doors: dict[str, Door] = {}
        items: dict[str, dict[str, Any]] = {}
        while True:
            response = self._call(self._client.query, **kwargs)
            for item in response.get("Items", []):
                if "key_id" in item:
                    facts = key_facts_from_item(item)
                    keys.append(facts)
                    items[facts.key_id] = item
                elif "door_id" in item:
                    door = door_from_item(item)
                    doors[door.door_id] = door
            last = response.get("LastEvaluatedKey")
            if not last:
                return SiteSnapshot(tuple(keys), doors, items)
            kwargs["ExclusiveStartKey"] = last

    def key_items(self, site_id: str, key_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The given keys' items, whole (missing keys are absent)."""
        items = self.batch_get([(site_pk(site_id), key_sk(k)) for k in key_ids])
        return {item["key_id"]["S"]: item for item in items}

    def phone_key_ids(self, site_id: str, phone_hashes: Sequence[str]) -> list[str]:
        """The digital keys registered with the given phones (by keyed hash)."""
        items = self.batch_get(
            [(site_pk(site_id), f"PHONE#{h}") for h in phone_hashes], projection=["key_ids"]
        )
        key_ids: set[str] = set()
        for item in items:
            key_ids.update(v for v in item.get("key_ids", {}).get("SS", []))
        return sorted(key_ids)

    # -- runs

    def create_run(self, run: RunRecord) -> bool:
        """Writes a new run; False if a run with this id exists."""
        values: dict[str, Any] = {
            "pk": site_pk(run.site_id),
            "sk": run_sk(run.run_id),
            "item_type": "revocation_run",
            "site_id": run.site_id,
            "run_id": run.run_id,
            "selector": run.selector.as_stored(),
            "reason": run.reason,
            "dry_run": run.dry_run,
            "state": run.state,
            "started_by": run.started_by,
            "created_at": run.created_at,
            "chunk_size": run.chunk_size,
            "request_fingerprint": run.request_fingerprint,
            "dispatched": False,
            "chunk_count": 0,
            "keys_total": 0,
            "keys_done": 0,
            "chunks_done": 0,
            "selected": 0,
            **zero_counts(),
        }
        try:
            self._call(
                self._client.put_item,
                TableName=self._table,
                Item=to_item(values),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConcurrentUpdate:
            return False
        return True

    @staticmethod
    def _run_from(item: Mapping[str, Any]) -> RunRecord:
        data = from_item(item)
        return RunRecord(
            site_id=data["site_id"],
            run_id=data["run_id"],
            selector=Selector.from_stored(data["selector"]),
            reason=data.get("reason"),
            dry_run=bool(data.get("dry_run", False)),
            state=data["state"],
            started_by=data["started_by"],
            created_at=int(data["created_at"]),
            chunk_size=int(data["chunk_size"]),
            request_fingerprint=data.get("request_fingerprint"),
            planned_at=data.get("planned_at"),
            finished_at=data.get("finished_at"),
            attempt=data.get("attempt"),
            selected=int(data.get("selected", 0)),
            chunk_count=int(data.get("chunk_count", 0)),
            keys_total=int(data.get("keys_total", 0)),
            keys_done=int(data.get("keys_done", 0)),
            chunks_done=int(data.get("chunks_done", 0)),
            dispatched=bool(data.get("dispatched", False)),
            counts={name: int(data.get(name, 0)) for name in OUTCOMES},
        )

    def get_run(self, site_id: str, run_id: str) -> RunRecord | None:
        item = self._get(site_pk(site_id), run_sk(run_id))
        if item is None or item.get("item_type", {}).get("S") != "revocation_run":
            return None
        return self._run_from(item)

    def commit_plan(
        self,
        site_id: str,
        run_id: str,
        *,
        attempt: str,
        state: str,
        planned_at: int,
        selected: int,
        chunk_count: int,
        keys_total: int,
        counts: Mapping[str, int],
    ) -> RunRecord | None:
        """``planning`` → ``state`` with the attempt's plan; None if the run is no longer
        planning (cancelled, or another planning attempt committed first)."""
        values: dict[str, Any] = {
            ":planning": PLANNING,
            ":state": state,
            ":attempt": attempt,
            ":planned_at": planned_at,
            ":selected": selected,
            ":chunk_count": chunk_count,
            ":keys_total": keys_total,
        }
        sets = [
            "#state = :state",
            "attempt = :attempt",
            "planned_at = :planned_at",
            "selected = :selected",
            "chunk_count = :chunk_count",
            "keys_total = :keys_total",
        ]
        for name, count in counts.items():
            values[f":{name}"] = count
            sets.append(f"{name} = :{name}")
        attributes = self._update(
            (site_pk(site_id), run_sk(run_id)),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="#state = :planning",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={k: to_attribute(v) for k, v in values.items()},
            ReturnValues="ALL_NEW",
        )
        return None if attributes is None else self._run_from(attributes)

    def mark_dispatched(self, site_id: str, run_id: str) -> None:
        self._update(
            (site_pk(site_id), run_sk(run_id)),
            UpdateExpression="SET dispatched = :yes",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    def move_state(
        self, site_id: str, run_id: str, from_state: str, to_state: str, *, at: int | None = None
    ) -> RunRecord | None:
        """``from_state`` → ``to_state`` (with ``finished_at`` when given); None if the run was
        not in ``from_state``."""
        sets = "#state = :to" + (", finished_at = :at" if at is not None else "")
        values: dict[str, Any] = {":from": {"S": from_state}, ":to": {"S": to_state}}
        if at is not None:
            values[":at"] = {"N": str(at)}
        attributes = self._update(
            (site_pk(site_id), run_sk(run_id)),
            UpdateExpression=f"SET {sets}",
            ConditionExpression="#state = :from",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return None if attributes is None else self._run_from(attributes)

    def tally(
        self, site_id: str, run_id: str, number: int, outcome: ChunkOutcome
    ) -> tuple[RunRecord, bool]:
        """Adds a chunk's counts to the run, once: the chunk number joins the run's set of
        counted chunks in the same atomic update, whose condition is that it is not there yet.
        Returns the run afterwards and whether this call counted the chunk."""
        values: dict[str, Any] = {
            ":chunk": {"SS": [str(number)]},
            ":chunk_name": {"S": str(number)},
            ":one": {"N": "1"},
            ":keys": {"N": str(outcome.keys)},
        }
        adds = ["counted :chunk", "chunks_done :one", "keys_done :keys"]
        for name in OUTCOMES:
            values[f":{name}"] = {"N": str(outcome.counts.get(name, 0))}
            adds.append(f"{name} :{name}")
        attributes = self._update(
            (site_pk(site_id), run_sk(run_id)),
            UpdateExpression="ADD " + ", ".join(adds),
            ConditionExpression="attribute_exists(pk) AND NOT contains(counted, :chunk_name)",
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        if attributes is not None:
            return self._run_from(attributes), True
        run = self.get_run(site_id, run_id)
        if run is None:
            raise StoreError(f"revocation run {run_id} is missing")
        return run, False

    def request_cancel(self, site_id: str, run_id: str, at: int) -> RunRecord | None:
        """``planning`` → ``cancelled`` or ``running`` → ``cancelling``; None when the run is in
        neither state (the caller reads it and decides)."""
        moved = self.move_state(site_id, run_id, PLANNING, CANCELLED, at=at)
        if moved is None:
            moved = self.move_state(site_id, run_id, RUNNING, CANCELLING)
        return moved

    def finish(self, run: RunRecord, at: int) -> RunRecord | None:
        target = CANCELLED if run.state == CANCELLING else DONE
        return self.move_state(run.site_id, run.run_id, run.state, target, at=at)

    # -- plan, chunks, report

    def put_plan(self, site_id: str, run_id: str, attempt: str, plan: Mapping[str, Any]) -> None:
        item = to_item(
            {
                "pk": run_pk(site_id, run_id),
                "sk": plan_sk(attempt),
                "item_type": "revocation_plan",
                "plan": dict(plan),
            }
        )
        self._call(self._client.put_item, TableName=self._table, Item=item)

    def get_plan(self, site_id: str, run_id: str, attempt: str) -> dict[str, Any] | None:
        item = self._get(run_pk(site_id, run_id), plan_sk(attempt))
        return None if item is None else dict(from_item(item)["plan"])

    def put_chunks(
        self,
        site_id: str,
        run_id: str,
        attempt: str,
        chunks: Sequence[Sequence[str]],
        snapshot: Mapping[str, dict[str, Any]] | None = None,
    ) -> int:
        """The attempt's chunks, batched (new items under a fresh attempt id: nothing to
        overwrite but a crashed duplicate of the same attempt).

        With ``snapshot`` (key items as the plan read them) each chunk also carries its
        access media's items, compressed into one binary attribute, so the chunk writes
        them without reading them again: every key is read once per run. A chunk's write
        is conditional on the version in the snapshot, so a key changed since is read again
        then. Digital keys are left out: their items hold the phone number, which is kept
        on the key item only."""
        pk = run_pk(site_id, run_id)

        def item(number: int, key_ids: Sequence[str]) -> dict[str, Any]:
            values: dict[str, Any] = {
                "pk": pk,
                "sk": chunk_sk(attempt, number),
                "item_type": "revocation_chunk",
                "key_ids": list(key_ids),
            }
            if snapshot is not None:
                blob = _pack_snapshot(
                    snapshot[k]
                    for k in key_ids
                    if k in snapshot and "phone_e164" not in snapshot[k]
                )
                if blob is not None:
                    values["snapshot"] = blob
            return to_item(values)

        return self.batch_put(item(number, key_ids) for number, key_ids in enumerate(chunks))

    @staticmethod
    def _outcome_to_values(outcome: ChunkOutcome) -> dict[str, Any]:
        return {
            "counts": dict(outcome.counts),
            "failures": [f.as_api() for f in outcome.failures],
            "doors": {
                d: {"version": c.version, "keys": c.keys, "changes": c.changes}
                for d, c in outcome.doors.items()
            },
            "finished_at": outcome.finished_at,
            "revoked_digital_keys": outcome.revoked_digital_keys,
        }

    @staticmethod
    def _chunk_from(site_id: str, run_id: str, item: Mapping[str, Any]) -> ChunkRecord:
        data = from_item(item)
        _, attempt, number = str(data["sk"]).split("#")
        stored = data.get("outcome")
        outcome = None
        if stored is not None:
            outcome = ChunkOutcome(
                counts={name: int(stored["counts"].get(name, 0)) for name in OUTCOMES},
                failures=tuple(Failure(f["key_id"], f["reason"]) for f in stored["failures"]),
                doors={
                    d: DoorChangeMade(int(c["version"]), int(c["keys"]), int(c.get("changes", 1)))
                    for d, c in stored["doors"].items()
                },
                finished_at=int(stored["finished_at"]),
                revoked_digital_keys=int(stored.get("revoked_digital_keys", 0)),
            )
        snapshot = data.get("snapshot")
        return ChunkRecord(
            site_id=site_id,
            run_id=run_id,
            attempt=attempt,
            number=int(number),
            key_ids=tuple(data["key_ids"]),
            outcome=outcome,
            snapshot=None if snapshot is None else bytes(snapshot.value),
        )

    def get_chunk(self, site_id: str, run_id: str, attempt: str, number: int) -> ChunkRecord | None:
        item = self._get(run_pk(site_id, run_id), chunk_sk(attempt, number))
        return None if item is None else self._chunk_from(site_id, run_id, item)

    def get_chunks(
        self, site_id: str, run_id: str, attempt: str, numbers: Iterable[int]
    ) -> dict[int, ChunkRecord]:
        pk = run_pk(site_id, run_id)
        items = self.batch_get([(pk, chunk_sk(attempt, n)) for n in numbers])
        chunks = (self._chunk_from(site_id, run_id, item) for item in items)
        return {chunk.number: chunk for chunk in chunks}

    def finish_chunk(
        self, site_id: str, run_id: str, attempt: str, number: int, outcome: ChunkOutcome
    ) -> bool:
        """Records the chunk's outcome once; False if one is recorded already."""
        done = self._update(
            (run_pk(site_id, run_id), chunk_sk(attempt, number)),
            # The snapshot has served: the keys' copies go (the key items are their record).
            UpdateExpression="SET outcome = :outcome REMOVE #snapshot",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(outcome)",
            ExpressionAttributeNames={"#snapshot": "snapshot"},
            ExpressionAttributeValues={":outcome": to_attribute(self._outcome_to_values(outcome))},
        )
        return done is not None

    def put_report(self, site_id: str, run_id: str, report: Mapping[str, Any]) -> None:
        item = to_item(
            {
                "pk": run_pk(site_id, run_id),
                "sk": REPORT_SK,
                "item_type": "revocation_report",
                "report": dict(report),
            }
        )
        self._call(self._client.put_item, TableName=self._table, Item=item)

    def get_report(self, site_id: str, run_id: str) -> dict[str, Any] | None:
        item = self._get(run_pk(site_id, run_id), REPORT_SK)
        return None if item is None else dict(from_item(item)["report"])

    # -- the keys a chunk revokes

    def put_events(self, events: Iterable[AuditEvent]) -> int:
        """Audit events, batched (BatchWriteItem cannot be conditional: an event's id is the
        key's event sequence and its content is fixed by the intent write that made it, so
        writing it again writes the same item). Returns the number of calls."""

        def item(event: AuditEvent) -> dict[str, Any]:
            values = event_to_values(event)
            values.update(
                pk=events_pk(event.site_id, event.key_id), sk=event_sk(event.seq), item_type="event"
            )
            return to_item(values)

        return self.batch_put(item(e) for e in events)


__all__ = ["CANCELLED", "CANCELLING", "DONE", "Backoff", "RunStore", "SiteSnapshot"]
