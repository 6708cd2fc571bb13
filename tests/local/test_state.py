"""The state file that lets ``keyworker demo``/``revoke`` find the running stack."""

from pathlib import Path

from keyworker.local.state import clear_stack_state, read_stack_state, write_stack_state


def test_a_stopping_stack_removes_only_its_own_state_file(tmp_path: Path) -> None:
    write_stack_state(tmp_path, {"api": "http://127.0.0.1:8000", "aws": "x", "pid": 11})
    # A second stack started from the same directory wrote its endpoints meanwhile.
    write_stack_state(tmp_path, {"api": "http://127.0.0.1:8001", "aws": "y", "pid": 22})
    clear_stack_state(tmp_path, 11)  # the first one stops
    assert read_stack_state(tmp_path) == {"api": "http://127.0.0.1:8001", "aws": "y", "pid": 22}
    clear_stack_state(tmp_path, 22)
    assert read_stack_state(tmp_path) is None
    clear_stack_state(tmp_path, 22)  # nothing left: nothing to do
