"""Modifying a key through ``keyworker.status``: the plan, and what the portal and the home app
show while the doors (or the re-signed credential) catch up, in the seed's words.

Every state here comes from ``plan_modification`` and ``next_door_state``; the statuses from
``evaluate`` (docs/status-rules.md, "Modifying a key").
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from keyworker import status
from keyworker.errors import IllegalTransition, InvalidKeyData, InvalidModification
from keyworker.status import DoorFacts, DoorPlan, KeyFacts, Schedule, Window

DAY = 86_400
NOW = 1_700_000_000
OFFICE_HOURS = Schedule(
    time_zone="Europe/Zurich",
    windows=(Window(frozenset({"mon", "tue", "wed", "thu", "fri"}), 7 * 60, 19 * 60),),
)
ONLINE = {"entrance": True, "garage": True, "flat-12": False, "cellar": False}


def _facts(key_type: str, rows: list[tuple[str, str]], **flags: bool) -> KeyFacts:
    return KeyFacts(
        key_type=key_type,
        revoked=False,
        valid_from=NOW - 30 * DAY,
        valid_until=None,
        doors=tuple(DoorFacts(state, ONLINE[door]) for door, state in rows),
        **flags,
    )


def _apply(rows: list[tuple[str, str]], plan: tuple[DoorPlan, ...]) -> list[tuple[str, str]]:
    return [(p.door_id, p.state_after) for p in plan]


def _shown(facts: KeyFacts) -> tuple[str, str | None, list[str | None]]:
    result = status.evaluate(facts, NOW)
    home = None if result.home_status is None else result.home_status.label
    return result.status.label, home, [d.label if d else None for d in result.doors]


ACTIVE_CARD = [("entrance", "deployed"), ("flat-12", "deployed")]


def test_plan_is_typed_and_frozen() -> None:
    plan = status.plan_modification("access_medium", ACTIVE_CARD, ["entrance", "garage"], False)
    assert plan == (
        DoorPlan("entrance", "nothing", "deployed"),
        DoorPlan("flat-12", "revoke", "revocation_pending"),
        DoorPlan("garage", "deploy", "deployment_pending"),
    )
    assert status.DOOR_ACTIONS == ("nothing", "deploy", "revoke", "update")
    with pytest.raises(FrozenInstanceError):
        plan[0].action = "update"  # type: ignore[misc]


def test_access_medium_door_added_and_removed_shows_door_update_pending() -> None:
    rows = _apply(
        ACTIVE_CARD,
        status.plan_modification("access_medium", ACTIVE_CARD, ["entrance", "garage"], False),
    )
    assert _shown(_facts("access_medium", rows)) == (
        "Door update pending",
        # flat-12 is offline: someone must update it by hand.
        "Please update the door",
        [
            None if False else "Deployed",
            "(manual) Revocation pending",
            "(automated) Deployment pending",
        ],
    )
    # flat-12 confirms: its row is removed and leaves the key; garage still pending online.
    rows[1] = ("flat-12", status.next_door_state("access_medium", rows[1][1], "confirm"))
    assert rows[1][1] == "removed"
    rows = [r for r in rows if r[1] != "removed"]
    assert _shown(_facts("access_medium", rows)) == (
        "Door update pending",
        "Updating common doors",
        ["Deployed", "(automated) Deployment pending"],
    )
    rows[1] = ("garage", status.next_door_state("access_medium", rows[1][1], "confirm"))
    assert _shown(_facts("access_medium", rows)) == ("Active", "Always", ["Deployed", "Deployed"])


def test_access_medium_only_a_removed_door_pending_is_still_door_update_pending() -> None:
    # The key is not being revoked as a whole: "Door update pending", not "Revocation pending".
    rows = _apply(
        ACTIVE_CARD, status.plan_modification("access_medium", ACTIVE_CARD, ["flat-12"], False)
    )
    assert _shown(_facts("access_medium", rows)) == (
        "Door update pending",
        "Updating common doors",
        ["(automated) Revocation pending", "Deployed"],
    )


def test_access_medium_changed_entry_is_redeployed_at_every_door() -> None:
    plan = status.plan_modification("access_medium", ACTIVE_CARD, ["entrance", "flat-12"], True)
    assert [p.action for p in plan] == ["update", "update"]
    facts = replace(_facts("access_medium", _apply(ACTIVE_CARD, plan)), schedule=OFFICE_HOURS)
    assert _shown(facts) == (
        "Door update pending",
        "Please update the door",
        ["(automated) Deployment pending", "(manual) Deployment pending"],
    )
    # A planned key stays "Planned" while its doors catch up (the tenant has not moved in).
    planned = replace(facts, valid_from=NOW + DAY)
    assert status.evaluate(planned, NOW).status.code == "planned"


def test_access_medium_door_added_back_while_its_removal_is_pending() -> None:
    rows = _apply(
        ACTIVE_CARD, status.plan_modification("access_medium", ACTIVE_CARD, ["entrance"], False)
    )
    plan = status.plan_modification("access_medium", rows, ["entrance", "flat-12"], False)
    assert plan[1] == DoorPlan("flat-12", "deploy", "deployment_pending")
    # Left out again: nothing new happens at the door that is already being cleared.
    plan = status.plan_modification("access_medium", rows, ["entrance"], True)
    assert plan == (
        DoorPlan("entrance", "update", "deployment_pending"),
        DoorPlan("flat-12", "nothing", "revocation_pending"),
    )


def test_digital_key_being_redelivered_keeps_its_home_status() -> None:
    rows = [("entrance", "deployed"), ("flat-12", "deployed")]
    delivered = replace(_facts("digital_key", rows, delivered=True), schedule=OFFICE_HOURS)
    assert _shown(delivered) == ("Deployed", "Mon–Fri 07:00–19:00", ["Deployed", "Deployed"])
    plan = status.plan_modification("digital_key", rows, ["entrance", "garage"], False)
    assert plan == (
        DoorPlan("entrance", "nothing", "deployed"),
        DoorPlan("flat-12", "revoke", "deployed"),
        DoorPlan("garage", "deploy", "none"),
    )
    # The re-signed credential is on its way: the old one still works, so the app keeps it.
    redelivering = replace(delivered, doors=_facts("digital_key", _apply(rows, plan)).doors)
    redelivering = replace(redelivering, delivered=False)
    assert _shown(redelivering) == (
        "Deployment pending",
        "Mon–Fri 07:00–19:00",
        ["Deployed", "Deployed", None],
    )
    # A digital key never delivered is still not shown.
    never = _facts("digital_key", [("entrance", "none")])
    assert _shown(never) == ("Deployment pending", None, [None])


def test_digital_key_changed_entry_touches_no_row() -> None:
    rows = [("entrance", "blocked"), ("cellar", "unblocking_pending")]
    plan = status.plan_modification("digital_key", rows, ["entrance", "cellar"], True)
    assert plan == (
        DoorPlan("entrance", "update", "blocked"),
        DoorPlan("cellar", "update", "unblocking_pending"),
    )
    # Delivery of the re-signed credential: rows that hold it refuse `deliver` and stay.
    for _, state in rows:
        with pytest.raises(IllegalTransition):
            status.next_door_state("digital_key", state, "deliver")
    assert status.next_door_state("digital_key", "none", "deliver") == "deployed"


def test_empty_door_set_is_a_revocation_not_a_modification() -> None:
    with pytest.raises(InvalidModification, match="revocation") as raised:
        status.plan_modification("access_medium", ACTIVE_CARD, [], True)
    assert raised.value.field == "door_ids"


@pytest.mark.parametrize(
    ("key_type", "rows", "new", "error", "field"),
    [
        (
            "access_medium",
            ACTIVE_CARD,
            ["garage", "entrance", "garage"],
            InvalidModification,
            "door_ids[2]",
        ),
        (
            "access_medium",
            [*ACTIVE_CARD, ("entrance", "deployed")],
            ["entrance"],
            InvalidModification,
            "rows[2].door_id",
        ),
        (
            "digital_key",
            [("entrance", "removed")],
            ["entrance"],
            InvalidModification,
            "rows[0].state",
        ),
        ("access_medium", [("entrance", "blocked")], ["entrance"], InvalidKeyData, "rows[0].state"),
        ("access_medium", [("entrance", "lost")], ["entrance"], InvalidKeyData, "rows[0].state"),
        ("access_medium", ACTIVE_CARD, "entrance", InvalidModification, "door_ids"),
    ],
)
def test_bad_modifications_name_the_field(
    key_type: str, rows: list[tuple[str, str]], new: list[str], error: type, field: str
) -> None:
    with pytest.raises(error) as raised:
        status.plan_modification(key_type, rows, new, False)
    assert raised.value.field == field


def test_access_medium_row_never_created_cannot_be_modified() -> None:
    with pytest.raises(IllegalTransition):
        status.plan_modification("access_medium", [("entrance", "none")], ["garage"], False)
