"""A ``keyworker local`` prepared for the console's end-to-end tests: the demo's scripted day
on a small site, and a walk-through site whose doors, keys and run are known exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from local_stack_harness import Api, RunningStack

DEMO_SITE = "demo-console"
WALK_SITE = "walk"


@dataclass
class ConsoleSite:
    stack: RunningStack
    demo_site: str
    walk_site: str
    #: ids on the walk-through site: ``card`` (entrance online + apt-1 offline), ``run``.
    facts: dict[str, Any]

    def api(self, site: str) -> Api:
        return Api(self.stack.api, self.stack.token(site), site)

    def console_url(self, site: str) -> str:
        """What ``keyworker console --site SITE`` prints for this stack (run as a user would)."""
        return _keyworker(self.stack, "console", "--site", site).strip()


def _keyworker(stack: RunningStack, *args: str) -> str:
    env = {**os.environ, "KEYWORKER_STATE_DIR": str(stack.state_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "keyworker.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=stack.state_dir.parent,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def prepare(stack: RunningStack) -> ConsoleSite:
    # The demo's day at a small site: doors online and offline, keys issued, a technician's
    # visits, a blocked phone, a bulk revocation; offline doors keep work pending.
    _keyworker(stack, "demo", "--site", DEMO_SITE, "--keys", "30", "--doors", "6", "--no-progress")

    walk = Api(stack.api, stack.token(WALK_SITE), WALK_SITE)
    walk.ok(
        "PUT", "/doors/entrance", {"name": "Entrance", "kind": "common", "connectivity": "online"}
    )
    walk.ok(
        "PUT", "/doors/apt-1", {"name": "Apartment 1", "kind": "unit", "connectivity": "offline"}
    )
    card = walk.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "tenant-1",
            "card_uid": "04A1B2C3",
            "door_ids": ["entrance", "apt-1"],
            "valid_from": "2026-01-01T00:00:00Z",
        },
        **{"Idempotency-Key": "console-card-1"},
    )
    leaving = walk.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "tenant-2",
            "card_uid": "04A1B2C4",
            "door_ids": ["apt-1"],
            "valid_from": "2026-01-01T00:00:00Z",
        },
        **{"Idempotency-Key": "console-card-2"},
    )
    run = walk.ok(
        "POST",
        "/revocations",
        {"selector": {"key_ids": [leaving["key_id"]]}, "reason": "moved out"},
    )
    deadline = time.monotonic() + 60
    while walk.ok("GET", f"/revocations/{run['run_id']}")["state"] != "done":
        assert time.monotonic() < deadline, "the revocation run did not finish in 60 s"
        time.sleep(0.5)
    # The online entrance confirms the card by itself (the door simulator): wait for it, so
    # the card's rows and history hold still while the tests read them.
    while _row_state(walk.ok("GET", f"/keys/{card['key_id']}"), "entrance") != "deployed":
        assert time.monotonic() < deadline, "the entrance did not confirm the card in 60 s"
        time.sleep(0.5)
    return ConsoleSite(
        stack,
        DEMO_SITE,
        WALK_SITE,
        {"card": card["key_id"], "leaving": leaving["key_id"], "run": run["run_id"]},
    )


def _row_state(key: dict[str, Any], door_id: str) -> str | None:
    [row] = [row for row in key["doors"] if row["door_id"] == door_id]
    return None if row["status"] is None else str(row["status"]["code"])
