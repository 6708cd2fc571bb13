"""The local stack's state directory: what a second command run from the same directory
needs to find the running stack (its endpoints) and to be trusted by it (the token secret)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATE_FILE = "stack.json"


#: Where the local stack's AWS emulator tells how many calls it has served (``{"calls": N}``;
#: a path no AWS service has).
EMULATOR_CALLS_PATH = "/_keyworker/calls"


def write_stack_state(state_dir: Path, state: dict[str, Any]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).write_text(json.dumps(state))


def read_stack_state(state_dir: Path) -> dict[str, Any] | None:
    """The running stack's endpoints (``api``, ``aws``, ``pid``), or None."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def clear_stack_state(state_dir: Path, pid: int) -> None:
    """Remove the state file if it is the stack ``pid``'s: a stack started meanwhile from the
    same directory has written its own, which must stay."""
    try:
        state = read_stack_state(state_dir)
    except (OSError, ValueError):
        return
    if state is not None and state.get("pid") == pid:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
