"""Every status of the user's three tables is reached through ``keyworker.status`` with its words.

One test row per row of the seed (the general Status table, the Deployment status table and the
home-app table; the home app's "Always Time/day information" row is two rows: Always, and a
time/day label). Each row reaches its status the way the service does, through
``next_door_state`` from an empty door, and the expected label is read from the seed file
itself, so a typo in the engine's labels fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyworker import status
from keyworker.status import DoorFacts, KeyFacts, Schedule, Window

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / "000_39e6b5a3c3c75de2.txt"
# A copy of the seed kept in the repository, so a checkout without shared/ beside it is tested
# the same; when shared/ is there, the copy must still equal it.
SEED_COPY = Path(__file__).resolve().parents[1] / "data" / "seed_status_tables.txt"
GENERAL, DEPLOYMENT, HOME = "Status", "Deployment status", "Status (resivo home app)"
TIME_DAY_ROW = "Always Time/day information"

DAY = 86_400
NOW = 1_700_000_000
MOVED_IN = NOW - 10 * DAY
MOVES_IN = NOW + 10 * DAY
OFFICE_HOURS = Schedule(
    time_zone="Europe/Zurich",
    windows=(Window(frozenset({"mon", "tue", "wed", "thu", "fri"}), 7 * 60, 19 * 60),),
)


@dataclass(frozen=True)
class SeedRow:
    table: str
    section: str | None  # the table's sub-heading ("Access medium", "Active", ...) if any
    label: str


def parse_seed(text: str) -> dict[str, list[SeedRow]]:
    """The three tables of the seed as rows of (table, sub-heading, status words).

    The seed is a table pasted as text: a table starts at its title line (the line before the
    ``Status |`` header), a sub-heading is a line ending ``| |||``, and a row's status is the
    line ending `` |`` that is followed by its meaning (a sentence ending ``. |``).
    """
    lines = [line.rstrip() for line in text.splitlines()]
    tables: dict[str, list[SeedRow]] = {}
    table: str | None = None
    section: str | None = None
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if following == "Status |" and not line.endswith("|"):
            table, section = line, None
            tables[table] = []
        elif table is None:
            continue
        elif line.endswith("| |||"):
            section = line.removesuffix("| |||").strip()
        elif line.endswith(" |") and not line.endswith(". |") and following.endswith(". |"):
            tables[table].append(SeedRow(table, section, line.removesuffix(" |").strip()))
    return tables


@pytest.fixture(scope="module")
def seed() -> dict[str, list[SeedRow]]:
    text = SEED_COPY.read_text(encoding="utf-8")
    if SEED.is_file():
        assert SEED.read_text(encoding="utf-8") == text, (
            f"{SEED_COPY} is out of date: copy {SEED} over it"
        )
    return parse_seed(text)


def test_seed_has_the_three_tables_with_their_rows(seed: dict[str, list[SeedRow]]) -> None:
    # The Deployment status table has ten rows: manual and automated for each of the four
    # pending states, plus Deployed and Blocked.
    assert {name: len(rows) for name, rows in seed.items()} == {
        GENERAL: 9,
        DEPLOYMENT: 10,
        HOME: 6,
    }


# --- reaching each state the way the service does ---


def door_after(key_type: str, *events: str) -> str:
    """The door row's state after these events, starting from a door without the key."""
    state = "none"
    for event in events:
        state = status.next_door_state(key_type, state, event)
    return state


def access_medium(*events: str, online: bool = False, valid_from: int = MOVED_IN) -> KeyFacts:
    return KeyFacts(
        key_type="access_medium",
        revoked="revoke" in events,
        valid_from=valid_from,
        valid_until=None,
        doors=(DoorFacts(door_after("access_medium", "create", *events), online=online),),
    )


def digital_key(
    *events: str,
    online: bool = False,
    valid_until: int | None = None,
    schedule: Schedule | None = None,
    revoked: bool = False,
) -> KeyFacts:
    delivered = "deliver" in events
    return KeyFacts(
        key_type="digital_key",
        revoked=revoked,
        valid_from=MOVED_IN,
        valid_until=valid_until,
        doors=(DoorFacts(door_after("digital_key", *events), online=online),),
        schedule=schedule,
        phone_blocked=events.count("block") > events.count("unblock"),
        delivered=delivered,
        app_reloaded="complete_revocation" in events,
    )


@dataclass(frozen=True)
class Case:
    """A seed row, the code the engine must report for it and the facts that lead there."""

    table: str
    section: str | None
    seed_label: str
    code: str
    facts: Callable[[], list[KeyFacts]]
    mode: str | None = None  # deployment status rows: expected mode of the door's status
    # The label when it is not the seed's words: the home app's "Always Time/day information"
    # row is two labels, "Always" or the schedule's time/day information.
    label: str | None = None

    @property
    def id(self) -> str:
        return f"{self.table}: {self.seed_label} ({self.code})"


CASES = [
    # General status, access medium.
    Case(GENERAL, "Access medium", "Planned", "planned",
         lambda: [access_medium(valid_from=MOVES_IN)]),
    Case(GENERAL, "Access medium", "Active", "active", lambda: [access_medium("confirm")]),
    Case(GENERAL, "Access medium", "Door update pending", "door_update_pending",
         lambda: [access_medium()]),
    Case(GENERAL, "Access medium", "Revocation pending", "revocation_pending",
         lambda: [access_medium("confirm", "revoke")]),
    Case(GENERAL, "Access medium", "Revoked", "revoked",
         lambda: [access_medium("confirm", "revoke", "confirm")]),
    # General status, digital key.
    Case(GENERAL, "Digital key", "Deployment pending", "deployment_pending",
         lambda: [digital_key()]),
    Case(GENERAL, "Digital key", "Deployed", "deployed", lambda: [digital_key("deliver")]),
    Case(GENERAL, "Digital key", "Revocation pending", "revocation_pending",
         lambda: [digital_key("deliver", revoked=True)]),
    Case(GENERAL, "Digital key", "Revoked", "revoked",
         lambda: [digital_key("deliver", "complete_revocation", revoked=True)]),
    # Deployment status at a door (offline door: manual, online door: automated).
    Case(DEPLOYMENT, None, "(manual) Deployment pending", "deployment_pending",
         lambda: [access_medium(online=False)], mode="manual"),
    Case(DEPLOYMENT, None, "(automated) Deployment pending", "deployment_pending",
         lambda: [access_medium(online=True)], mode="automated"),
    Case(DEPLOYMENT, None, "Deployed", "deployed",
         lambda: [access_medium("confirm"), digital_key("deliver")]),
    Case(DEPLOYMENT, None, "(manual) Revocation pending", "revocation_pending",
         lambda: [access_medium("confirm", "revoke", online=False)], mode="manual"),
    Case(DEPLOYMENT, None, "(automated) Revocation pending", "revocation_pending",
         lambda: [access_medium("revoke", online=True)], mode="automated"),
    Case(DEPLOYMENT, None, "(manual) Blocking pending", "blocking_pending",
         lambda: [digital_key("deliver", "block", online=False)], mode="manual"),
    Case(DEPLOYMENT, None, "(automated) Blocking pending", "blocking_pending",
         lambda: [digital_key("deliver", "block", online=True)], mode="automated"),
    Case(DEPLOYMENT, None, "Blocked", "blocked",
         lambda: [digital_key("deliver", "block", "confirm")]),
    Case(DEPLOYMENT, None, "(manual) Unblocking pending", "unblocking_pending",
         lambda: [digital_key("deliver", "block", "confirm", "unblock", online=False)],
         mode="manual"),
    Case(DEPLOYMENT, None, "(automated) Unblocking pending", "unblocking_pending",
         lambda: [digital_key("deliver", "block", "unblock", online=True)], mode="automated"),
    # Home app.
    Case(HOME, "Active", TIME_DAY_ROW, "always",
         lambda: [access_medium("confirm"), digital_key("deliver")], label="Always"),
    # The label format of docs/status-rules.md, whose example this is.
    Case(HOME, "Active", TIME_DAY_ROW, "time_day", label="Mon–Fri 07:00–19:00", facts=
         lambda: [
             digital_key("deliver", schedule=OFFICE_HOURS),
             KeyFacts("access_medium", False, MOVED_IN, None,
                      (DoorFacts(door_after("access_medium", "create", "confirm"), True),),
                      schedule=OFFICE_HOURS),
         ]),
    Case(HOME, "Active", "Updating common doors", "updating_common_doors",
         lambda: [access_medium(online=True), access_medium("revoke", online=True)]),
    Case(HOME, "Active", "Please update the door", "please_update_door",
         lambda: [access_medium(online=False), access_medium("confirm", "revoke", online=False)]),
    Case(HOME, "Active", "Deactivation in progress", "deactivation_in_progress",
         lambda: [digital_key("deliver", revoked=True)]),
    Case(HOME, "Inactive", "Expired", "expired",
         lambda: [digital_key("deliver", valid_until=NOW)]),
    Case(HOME, "Inactive", "Blocked", "blocked",
         lambda: [digital_key("deliver", "block"), digital_key("deliver", "block", "confirm")]),
]  # fmt: skip


def test_every_seed_row_has_a_case(seed: dict[str, list[SeedRow]]) -> None:
    covered = {SeedRow(c.table, c.section, c.seed_label) for c in CASES}
    assert covered == {row for rows in seed.values() for row in rows}


def test_the_time_day_row_is_always_or_time_day_information() -> None:
    assert TIME_DAY_ROW.split(" ", 1) == ["Always", "Time/day information"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_seed_row_is_reached_with_its_words(case: Case, seed: dict[str, list[SeedRow]]) -> None:
    assert SeedRow(case.table, case.section, case.seed_label) in seed[case.table]
    expected = case.label or case.seed_label
    for facts in case.facts():
        result = status.evaluate(facts, NOW)
        if case.table == GENERAL:
            assert result.status == status.Status(case.code, expected)
        elif case.table == HOME:
            category = (case.section or "").lower()
            assert result.home_status == status.HomeStatus(case.code, expected, category)
        else:
            (door,) = facts.doors
            shown = status.DoorStatus(case.code, case.mode, expected)
            assert result.doors == (shown,)
            assert status.door_status(door.state, door.online) == shown
