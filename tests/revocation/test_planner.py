"""The planner facade over the core: the core's plan agrees with a plain-Python statement of the
plan (``plan_oracle``) on any site; columns from stored facts; ids in, ids out; bad columns
are refused with the field named, never planned in part."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyworker import status
from keyworker.domain.models import Door
from keyworker.errors import InvalidBulkInput, StoreError
from keyworker.revocation import planner
from revocation import plan_oracle

NOW = 1_767_571_200
# Every state a key type's rows can be in; the usual ones more often, so that most access
# media can be revoked (rows in `none` or `removed` refuse it).
STATES_OF = {
    "access_medium": (
        *("deployed", "deployed", "deployment_pending", "deployment_pending"),
        *("none", "deployment_pending", "deployed", "revocation_pending", "removed"),
    ),
    "digital_key": (
        "none",
        "deployed",
        "removed",
        "blocking_pending",
        "blocked",
        "unblocking_pending",
    ),
}


@dataclass
class RawSite:
    key_types: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    valid_from: list[int] = field(default_factory=list)
    valid_until: list[int] = field(default_factory=list)
    door_offsets: list[int] = field(default_factory=lambda: [0])
    door_states: list[int] = field(default_factory=list)
    door_index: list[int] = field(default_factory=list)
    holder_index: list[int] = field(default_factory=list)
    door_ids: tuple[str, ...] = ()
    holder_ids: tuple[str, ...] = ()

    def arrays(self) -> Any:
        return planner.KeyColumns(
            key_ids=tuple(f"k{i}" for i in range(len(self.key_types))),
            door_ids=self.door_ids,
            holder_ids=self.holder_ids,
            key_types=bytes(self.key_types),
            flags=bytes(self.flags),
            valid_from=array("q", self.valid_from),
            valid_until=array("q", self.valid_until),
            door_offsets=array("I", self.door_offsets),
            door_states=bytes(self.door_states),
            door_index=array("I", self.door_index),
            holder_index=array("I", self.holder_index),
        )


@st.composite
def sites(draw: st.DrawFn) -> RawSite:
    doors = draw(st.integers(1, 10))
    holders = draw(st.integers(1, 5))
    site = RawSite(
        door_ids=tuple(f"d{i}" for i in range(doors)),
        holder_ids=tuple(f"h{i}" for i in range(holders)),
    )
    for _ in range(draw(st.integers(0, 40))):
        key_type = draw(st.sampled_from(status.KEY_TYPES))
        site.key_types.append(status.KEY_TYPES.index(key_type))
        site.flags.append(draw(st.integers(0, 0x1F)))
        start = NOW + draw(st.integers(-10_000, 10_000))
        site.valid_from.append(start)
        site.valid_until.append(
            draw(st.one_of(st.just(status.NO_END), st.integers(start + 1, start + 50_000)))
        )
        for door in draw(st.lists(st.integers(0, doors - 1), max_size=4, unique=True)):
            state = draw(st.sampled_from(STATES_OF[key_type]))
            online = status.DOOR_ONLINE if door % 3 == 0 else 0
            site.door_states.append(status.DOOR_STATES.index(state) | online)
            site.door_index.append(door)
        site.door_offsets.append(len(site.door_states))
        site.holder_index.append(draw(st.integers(0, holders - 1)))
    return site


def _u32(data: bytes) -> list[int]:
    return list(memoryview(data).cast("I"))


@given(
    site=sites(),
    target=st.sampled_from(["all", "doors", "holders"]),
    members=st.lists(st.integers(0, 4), max_size=3),
    key_types_mask=st.integers(0, 3),
    statuses_mask=st.integers(0, 0x7F),
    chunk_size=st.integers(1, 7),
)
def test_the_core_plans_as_the_plain_python_statement(
    site: RawSite,
    target: str,
    members: list[int],
    key_types_mask: int,
    statuses_mask: int,
    chunk_size: int,
) -> None:
    limit = len(site.door_ids) if target == "doors" else len(site.holder_ids)
    members = [m for m in members if m < limit]
    columns = site.arrays()
    raw = planner.plan_columns(
        columns,
        NOW,
        target=target,
        members=array("I", members),
        key_types_mask=key_types_mask,
        statuses_mask=statuses_mask,
        chunk_size=chunk_size,
    )
    expected = plan_oracle.plan(
        site,
        NOW,
        door_count=len(site.door_ids),
        target=target,
        members=members,
        key_types_mask=key_types_mask,
        statuses_mask=statuses_mask,
        chunk_size=chunk_size,
    )
    got = plan_oracle.OraclePlan(
        selected=raw[0],
        status_counts=raw[1],
        status_after_counts=raw[2],
        already_revoked=raw[3],
        cannot_revoke=_u32(raw[4]),
        complete_at_once=raw[5],
        app_reload_waits=raw[6],
        order=_u32(raw[7]),
        chunk_offsets=_u32(raw[8]),
        door_rows=_u32(raw[9]),
        door_changes=_u32(raw[10]),
    )
    assert got == expected


def _facts(key_id: str, key_type: str, holder: str, rows: tuple[tuple[str, str], ...], **kw: Any):
    return planner.KeyFactsRow(
        key_id=key_id,
        key_type=key_type,
        holder_id=holder,
        rows=rows,
        valid_from=NOW - 100,
        valid_until=None,
        revoked=kw.get("revoked", False),
        phone_blocked=False,
        delivered=kw.get("delivered", False),
        app_reloaded=False,
        has_schedule=False,
    )


DOORS = {
    "entrance": Door("s", "entrance", "Entrance", "common", "online"),
    "flat-1": Door("s", "flat-1", "Flat 1", "unit", "offline"),
    "flat-2": Door("s", "flat-2", "Flat 2", "unit", "offline"),
}
KEYS = [
    _facts("a", "access_medium", "h1", (("entrance", "deployed"), ("flat-1", "deployed"))),
    _facts(
        "b", "access_medium", "h2", (("entrance", "deployed"), ("flat-2", "deployment_pending"))
    ),
    _facts(
        "c", "digital_key", "h1", (("entrance", "deployed"), ("flat-1", "deployed")), delivered=True
    ),
    _facts("d", "access_medium", "h2", (("flat-2", "revocation_pending"),), revoked=True),
]


def test_a_plan_in_ids() -> None:
    columns = planner.KeyColumns.build(KEYS, DOORS)
    assert columns.door_ids == ("entrance", "flat-1", "flat-2")
    assert columns.holder_ids == ("h1", "h2")
    whole = planner.plan(columns, NOW, chunk_size=2)
    assert whole.selected == 4
    assert whole.already_revoked == 1
    assert whole.status_counts["active"] == 1
    assert whole.status_counts["door_update_pending"] == 1
    assert whole.status_after_counts == {
        **dict.fromkeys(status.GENERAL_STATUSES, 0),
        "revocation_pending": 4,
    }
    assert whole.chunks == (("a", "b"), ("c",))
    assert whole.to_revoke == 3
    assert whole.app_reload_waits == 1
    assert {d.door_id: (d.keys, d.changes) for d in whole.doors} == {
        "entrance": (2, 1),
        "flat-1": (1, 1),
        "flat-2": (1, 1),
    }
    by_holder = planner.plan(columns, NOW, holder_ids=["h1", "nobody"], key_type="digital_key")
    assert by_holder.chunks == (("c",),)
    by_door = planner.plan(columns, NOW, door_ids=["flat-2"], statuses=["revocation_pending"])
    assert by_door.selected == 1
    assert by_door.chunks == ()
    nothing = planner.plan(columns, NOW, door_ids=["elsewhere"])
    assert (nothing.selected, nothing.chunks, nothing.doors) == (0, (), ())


def test_a_chunk_in_ids() -> None:
    from keyworker.domain.models import DoorRow, KeyRecord

    def record(facts: planner.KeyFactsRow) -> KeyRecord:
        return KeyRecord(
            site_id="s",
            key_id=facts.key_id,
            key_type=facts.key_type,
            holder_id=facts.holder_id,
            rows=tuple(DoorRow(d, state, 1) for d, state in facts.rows),
            valid_from=facts.valid_from,
            valid_until=None,
            schedule=None,
            created_at=0,
            updated_at=0,
            revoked=facts.revoked,
            delivered=facts.delivered,
        )

    result = planner.revoke_chunk([record(k) for k in KEYS], DOORS, NOW)
    decisions = {k.key_id: k.decision for k in result.keys}
    assert decisions == {"a": "revoke", "b": "revoke", "c": "revoke", "d": "already_revoked"}
    b = result.keys[1]
    assert b.states_after == ("revocation_pending", "revocation_pending")
    assert (b.status_before, b.home_before) == ("door_update_pending", "please_update_door")
    assert (b.status_after, b.home_after) == ("revocation_pending", "please_update_door")
    c = result.keys[2]
    assert c.states_after == ("deployed", "deployed")
    assert c.home_after == "deactivation_in_progress"
    assert result.door_work == {"entrance": ("a", "b"), "flat-1": ("a",), "flat-2": ("b",)}


def test_a_door_missing_from_the_store_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="flat-1"):
        planner.KeyColumns.build(KEYS, {"entrance": DOORS["entrance"]})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.door_index.pop(), "door_index"),
        (lambda c: c.holder_index.append(0), "holder_index"),
        (lambda c: c.valid_until.__setitem__(0, 0), "valid_until"),
        (lambda c: c.door_offsets.__setitem__(1, 9), "door_offsets"),
    ],
)
def test_bad_columns_are_refused_naming_the_field(change: Any, field: str) -> None:
    columns = planner.KeyColumns.build(KEYS, DOORS)
    change(columns)
    with pytest.raises(InvalidBulkInput) as error:
        planner.plan(columns, NOW)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("selector", "field"),
    [
        ({"target": "doors", "members": array("I", [7])}, "doors"),
        ({"target": "holders", "members": array("I", [2])}, "holders"),
        ({"target": "everything"}, "target"),
        ({"key_types_mask": 4}, "key_types"),
        ({"statuses_mask": 0x80}, "statuses"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": planner.MAX_CHUNK_KEYS + 1}, "chunk_size"),
        ({"chunk_size": -1}, "chunk_size"),
        ({"members": b"abc", "target": "doors"}, "members"),
    ],
)
def test_bad_selectors_are_refused_naming_the_field(selector: dict[str, Any], field: str) -> None:
    columns = planner.KeyColumns.build(KEYS, DOORS)
    with pytest.raises(InvalidBulkInput) as error:
        planner.plan_columns(columns, NOW, **selector)
    assert error.value.field == field
