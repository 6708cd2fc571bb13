from pathlib import Path

import pytest

from keyworker.cli import main
from keyworker.local.tokens import LocalTokenIssuer


def test_token_is_accepted_by_a_stack_started_from_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEYWORKER_STATE_DIR", str(tmp_path))
    assert main(["token", "--site", "alpha", "--site", "beta"]) == 0
    token = capsys.readouterr().out.strip()
    assert LocalTokenIssuer.for_state_dir(tmp_path).verify(token)["sites"] == "alpha beta"


def test_token_needs_a_site(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["token"])
    assert exit_.value.code == 2
    assert "--site" in capsys.readouterr().err
