"""``keyworker revoke`` against the HTTP API: the api Lambda behind the local API Gateway
server (real HTTP, bearer token checked), the worker polling the jobs queue (moto SQS)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from handlers.handler_harness import SITE, Stack

from keyworker.cli import build_parser, main
from keyworker.local.apigw import ApiGatewayServer
from keyworker.local.tokens import LocalTokenIssuer
from keyworker.revocation import cli
from revocation.run_world import api_site


@contextlib.contextmanager
def _serve(stack: Stack, state_dir: Path, *, worker: bool) -> Iterator[tuple[Stack, str, str]]:
    """The API over HTTP on a free port and, with ``worker``, the worker polling the jobs
    queue; yields the stack, the API's URL and a token for the site."""
    from keyworker.handlers import api

    tokens = LocalTokenIssuer.for_state_dir(state_dir)
    server = ApiGatewayServer(api.handler, tokens, port=0)
    server.start()
    poller = stack.poller(stack.jobs, "worker")
    if worker:
        poller.start()
    try:
        yield stack, server.url, tokens.issue([SITE])
    finally:
        if worker:
            poller.stop()
        server.stop()


@pytest.fixture
def served(stack: Stack, tmp_path: Path) -> Iterator[tuple[Stack, str, str]]:
    with _serve(stack, tmp_path, worker=True) as running:
        yield running


@pytest.fixture
def served_idle(stack: Stack, tmp_path: Path) -> Iterator[tuple[Stack, str, str]]:
    """As ``served``, but nobody works off the jobs queue until the test says so."""
    with _serve(stack, tmp_path, worker=False) as running:
        yield running


def _revoke(url: str, token: str, *args: str) -> tuple[int, str]:
    parsed = build_parser().parse_args(
        ["revoke", "--site", SITE, "--api", url, "--token", token, "--interval", "0.05", *args]
    )
    out = io.StringIO()
    code = cli.run(parsed, state_dir=Path("/nonexistent"), out=out)
    return code, out.getvalue()


def test_revoke_follows_a_run_and_prints_its_report(served: tuple[Stack, str, str]) -> None:
    stack, url, token = served
    api_site(stack, flats=3)
    code, text = _revoke(url, token, "--door", "flat-0", "flat-1", "--reason", "keys lost")
    assert code == 0, text
    assert ": done" in text
    assert "counts: revoked 4, already revoked 0, failed 0, cancelled 0" in text
    assert "offline doors to visit (2):" in text
    assert "flat-1" in text
    assert "online doors, updated automatically (1):" in text
    assert "reason: keys lost" in text


def test_revoke_json_dry_run_then_status_of(served: tuple[Stack, str, str]) -> None:
    stack, url, token = served
    api_site(stack, flats=2)
    code, text = _revoke(url, token, "--all", "--type", "access_medium", "--dry-run", "--json")
    assert code == 0
    planned = json.loads(text)
    assert planned["state"] == "planned"
    assert planned["plan"]["to_revoke"] == 4
    assert planned["selector"] == {"all": True, "type": "access_medium"}
    code, text = _revoke(url, token, "--status-of", planned["run_id"], "--json")
    assert code == 0
    assert json.loads(text)["run_id"] == planned["run_id"]


def test_revoke_no_follow_and_cancel(served_idle: tuple[Stack, str, str]) -> None:
    stack, url, token = served_idle
    api_site(stack, flats=1)
    code, text = _revoke(url, token, "--all", "--no-follow")
    assert code == 0
    assert text.startswith("run ")
    assert text.split()[2] == "planning"
    run_id = text.split()[1]
    code, text = _revoke(url, token, "--cancel", run_id, "--json")
    assert code == 0
    assert json.loads(text)["state"] == "cancelled"  # nothing planned yet: cancelled at once
    stack.run_jobs()  # the plan job finds the run cancelled and does nothing
    code, text = _revoke(url, token, "--status-of", run_id)
    assert code == 0
    assert ": cancelled" in text


def test_revoke_reports_api_errors(served: tuple[Stack, str, str]) -> None:
    _stack, url, token = served
    code, _ = _revoke(url, token, "--door", "nowhere")
    assert code == 1
    code, _ = _revoke(url, "not-a-token", "--all")
    assert code == 1


def test_revoke_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYWORKER_TOKEN", raising=False)
    monkeypatch.setenv("KEYWORKER_STATE_DIR", str(tmp_path))
    with pytest.raises(SystemExit, match="no token"):
        main(["revoke", "--site", SITE, "--all", "--api", "http://127.0.0.1:9"])


def test_a_long_door_list_is_shortened_for_people() -> None:
    doors = [
        {"door_id": f"flat-{i}", "name": "", "kind": "unit", "keys": 1, "changes": 1}
        for i in range(25)
    ]
    view = {
        "run_id": "r",
        "state": "planned",
        "dry_run": True,
        "selector": {"all": True},
        "reason": None,
        "counts": {},
        "report": None,
        "plan": {
            "selected": 25,
            "by_status": {"active": 25},
            "to_revoke": 25,
            "already_revoked": 0,
            "cannot_revoke": [],
            "not_found": [],
            "complete_at_once": 0,
            "digital_keys_waiting_for_app": 0,
            "chunks": 1,
            "doors_to_visit": doors,
            "doors_to_visit_total": 30,
            "online_doors": [],
            "online_doors_total": 0,
        },
    }
    out = io.StringIO()
    cli.print_run(view, out)
    text = out.getvalue()
    assert "flat-19" in text
    assert "flat-20" not in text
    assert "... and 10 more (--json lists them)" in text
