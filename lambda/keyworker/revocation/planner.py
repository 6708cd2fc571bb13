"""Typed Python over the core's revocation planner (``keyworker._core.plan_revocation`` and
``revoke_chunk``; the rules and their encodings live in ``rust/keyworker-core/src/revocation``).

Keys go to the core as the status engine's columns (``docs/status-engine.md``) plus two index
columns: per door row the door's index in a door list, per key the keyholder's index. This
module only builds those columns from stored facts and gives names back to the indexes the
core returns; it decides nothing about a key.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keyworker import _core, status
from keyworker.domain.models import Door, KeyRecord
from keyworker.errors import StoreError

DECISIONS: tuple[str, ...] = _core.REVOCATION_DECISIONS
"""What a run does with a key, by the core's decision code: ``revoke``, ``already_revoked``,
``cannot_revoke``."""
REVOKE, ALREADY_REVOKED, CANNOT_REVOKE = DECISIONS
DEFAULT_CHUNK_KEYS: int = _core.DEFAULT_CHUNK_KEYS
MAX_CHUNK_KEYS: int = _core.MAX_CHUNK_KEYS

_STATE_CODE = {name: code for code, name in enumerate(status.DOOR_STATES)}
_STATUS_CODE = {name: code for code, name in enumerate(status.GENERAL_STATUSES)}
_KEY_TYPE_CODE = {name: code for code, name in enumerate(status.KEY_TYPES)}


@dataclass(frozen=True, slots=True)
class KeyFactsRow:
    """The facts of one key the planner reads (a projection of the stored key item)."""

    key_id: str
    key_type: str
    holder_id: str
    rows: tuple[tuple[str, str], ...]  # (door id, door state code), in the key's door order
    valid_from: int
    valid_until: int | None
    revoked: bool
    phone_blocked: bool
    delivered: bool
    app_reloaded: bool
    has_schedule: bool

    @classmethod
    def of(cls, record: KeyRecord) -> KeyFactsRow:
        return cls(
            key_id=record.key_id,
            key_type=record.key_type,
            holder_id=record.holder_id,
            rows=tuple((row.door_id, row.state) for row in record.rows),
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            revoked=record.revoked,
            phone_blocked=record.phone_blocked,
            delivered=record.delivered,
            app_reloaded=record.app_reloaded,
            has_schedule=record.schedule is not None,
        )

    @property
    def flags(self) -> int:
        return (
            (status.FLAG_REVOKED if self.revoked else 0)
            | (status.FLAG_PHONE_BLOCKED if self.phone_blocked else 0)
            | (status.FLAG_DELIVERED if self.delivered else 0)
            | (status.FLAG_APP_RELOADED if self.app_reloaded else 0)
            | (status.FLAG_HAS_SCHEDULE if self.has_schedule else 0)
        )


@dataclass(frozen=True, slots=True)
class KeyColumns:
    """Keys in the core's columnar form, with the lists the index columns point into."""

    key_ids: tuple[str, ...]
    door_ids: tuple[str, ...]
    holder_ids: tuple[str, ...]
    key_types: bytes
    flags: bytes
    valid_from: array[int]
    valid_until: array[int]
    door_offsets: array[int]
    door_states: bytes
    door_index: array[int]
    holder_index: array[int]

    @classmethod
    def build(cls, keys: Iterable[KeyFactsRow], doors: Mapping[str, Door]) -> KeyColumns:
        """Columns of ``keys``; ``doors`` gives each row's connectivity (the mode of its work).
        The door list is the doors the keys name, in order of first appearance."""
        key_ids: list[str] = []
        key_types = bytearray()
        flags = bytearray()
        valid_from = array("q")
        valid_until = array("q")
        door_offsets = array("I", [0])
        door_states = bytearray()
        door_index = array("I")
        holder_index = array("I")
        door_slots: dict[str, int] = {}
        holder_slots: dict[str, int] = {}
        online = status.DOOR_ONLINE
        for key in keys:
            key_ids.append(key.key_id)
            key_types.append(_KEY_TYPE_CODE[key.key_type])
            flags.append(key.flags)
            valid_from.append(key.valid_from)
            valid_until.append(status.NO_END if key.valid_until is None else key.valid_until)
            holder_index.append(holder_slots.setdefault(key.holder_id, len(holder_slots)))
            for door_id, state in key.rows:
                door = doors.get(door_id)
                if door is None:
                    raise StoreError(f"door {door_id} of key {key.key_id} is missing")
                door_index.append(door_slots.setdefault(door_id, len(door_slots)))
                door_states.append(_STATE_CODE[state] | (online if door.online else 0))
            door_offsets.append(len(door_states))
        return cls(
            key_ids=tuple(key_ids),
            door_ids=tuple(door_slots),
            holder_ids=tuple(holder_slots),
            key_types=bytes(key_types),
            flags=bytes(flags),
            valid_from=valid_from,
            valid_until=valid_until,
            door_offsets=door_offsets,
            door_states=bytes(door_states),
            door_index=door_index,
            holder_index=holder_index,
        )


@dataclass(frozen=True, slots=True)
class DoorWork:
    """What a run does at one door: rows that become work for it, and door versions added."""

    door_id: str
    keys: int
    changes: int


@dataclass(frozen=True, slots=True)
class Plan:
    """What revoking the keys a selector takes does (the core's plan, with ids)."""

    selected: int
    status_counts: dict[str, int]
    status_after_counts: dict[str, int]
    already_revoked: int
    cannot_revoke: tuple[str, ...]
    complete_at_once: int
    app_reload_waits: int
    chunks: tuple[tuple[str, ...], ...]
    doors: tuple[DoorWork, ...]

    @property
    def to_revoke(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


def _u32(data: bytes) -> memoryview:
    return memoryview(data).cast("I")


def plan(
    columns: KeyColumns,
    now: int,
    *,
    door_ids: Sequence[str] | None = None,
    holder_ids: Sequence[str] | None = None,
    key_type: str | None = None,
    statuses: Sequence[str] = (),
    chunk_size: int = DEFAULT_CHUNK_KEYS,
    threads: int | None = None,
) -> Plan:
    """The plan for the keys of ``columns`` that the selector takes: every key, or those at
    one of ``door_ids``, or those of one of ``holder_ids``; narrowed to ``key_type`` and to the
    current general ``statuses`` when given. Ids absent from the columns match nothing."""
    target: str = "all"
    members: array[int] | None = None
    if door_ids is not None:
        slots = {door_id: i for i, door_id in enumerate(columns.door_ids)}
        target, members = "doors", array("I", (slots[d] for d in door_ids if d in slots))
    elif holder_ids is not None:
        slots = {holder: i for i, holder in enumerate(columns.holder_ids)}
        target, members = "holders", array("I", (slots[h] for h in holder_ids if h in slots))
    key_types_mask = 0 if key_type is None else 1 << _KEY_TYPE_CODE[key_type]
    statuses_mask = 0
    for code in statuses:
        statuses_mask |= 1 << _STATUS_CODE[code]
    raw = plan_columns(
        columns,
        now,
        target=target,
        members=members,
        key_types_mask=key_types_mask,
        statuses_mask=statuses_mask,
        chunk_size=chunk_size,
        threads=threads,
    )
    (
        selected,
        status_counts,
        status_after_counts,
        already_revoked,
        cannot_revoke,
        complete_at_once,
        app_reload_waits,
        order,
        chunk_offsets,
        door_rows,
        door_changes,
    ) = raw
    key_ids = columns.key_ids
    ordered = [key_ids[i] for i in _u32(order)]
    offsets = _u32(chunk_offsets)
    return Plan(
        selected=selected,
        status_counts=dict(zip(status.GENERAL_STATUSES, status_counts, strict=True)),
        status_after_counts=dict(zip(status.GENERAL_STATUSES, status_after_counts, strict=True)),
        already_revoked=already_revoked,
        cannot_revoke=tuple(key_ids[i] for i in _u32(cannot_revoke)),
        complete_at_once=complete_at_once,
        app_reload_waits=app_reload_waits,
        chunks=tuple(tuple(ordered[offsets[c] : offsets[c + 1]]) for c in range(len(offsets) - 1)),
        doors=tuple(
            DoorWork(door_id, rows, changes)
            for door_id, rows, changes in zip(
                columns.door_ids, _u32(door_rows), _u32(door_changes), strict=True
            )
            if rows
        ),
    )


def plan_columns(columns: Any, now: int, **selector: Any) -> tuple[Any, ...]:
    """The core's plan over raw columns (any object with the column attributes of
    :class:`KeyColumns`, e.g. numpy arrays), as the core returns it: counts and u32 arrays as
    bytes. For callers that keep their data columnar (benchmarks, very large sites)."""
    return _core.plan_revocation(
        columns.key_types,
        columns.flags,
        columns.valid_from,
        columns.valid_until,
        columns.door_offsets,
        columns.door_states,
        columns.door_index,
        len(columns.door_ids),
        columns.holder_index,
        len(columns.holder_ids),
        now,
        **selector,
    )


@dataclass(frozen=True, slots=True)
class KeyRevocation:
    """What revoking one key of a chunk does: the decision, its door states after (in row
    order), and its general and home-app status codes before and after."""

    key_id: str
    decision: str
    states_after: tuple[str, ...]
    status_before: str
    home_before: str | None
    status_after: str
    home_after: str | None


@dataclass(frozen=True, slots=True)
class ChunkRevocation:
    """The core's computation for one chunk: per key, and per door the keys whose row there
    becomes work for the door (the refs of the door's one change for this chunk)."""

    keys: tuple[KeyRevocation, ...]
    door_work: dict[str, tuple[str, ...]]


def _home(code: int) -> str | None:
    return None if code == status.NO_HOME_STATUS else status.HOME_STATUSES[code]


def revoke_chunk(
    records: Sequence[KeyRecord], doors: Mapping[str, Door], now: int
) -> ChunkRevocation:
    """What revoking ``records`` does at ``now`` (``doors``: every door they name)."""
    columns = KeyColumns.build((KeyFactsRow.of(r) for r in records), doors)
    (
        decisions,
        door_states,
        status_before,
        home_before,
        status_after,
        home_after,
        door_key_offsets,
        door_keys,
    ) = _core.revoke_chunk(
        columns.key_types,
        columns.flags,
        columns.valid_from,
        columns.valid_until,
        columns.door_offsets,
        columns.door_states,
        columns.door_index,
        len(columns.door_ids),
        now,
    )
    offsets = columns.door_offsets
    states = status.DOOR_STATES
    keys = tuple(
        KeyRevocation(
            key_id=key_id,
            decision=DECISIONS[decisions[i]],
            states_after=tuple(states[s] for s in door_states[offsets[i] : offsets[i + 1]]),
            status_before=status.GENERAL_STATUSES[status_before[i]],
            home_before=_home(home_before[i]),
            status_after=status.GENERAL_STATUSES[status_after[i]],
            home_after=_home(home_after[i]),
        )
        for i, key_id in enumerate(columns.key_ids)
    )
    starts = _u32(door_key_offsets)
    members = _u32(door_keys)
    door_work = {
        door_id: tuple(columns.key_ids[k] for k in members[starts[d] : starts[d + 1]])
        for d, door_id in enumerate(columns.door_ids)
        if starts[d + 1] > starts[d]
    }
    return ChunkRevocation(keys=keys, door_work=door_work)
