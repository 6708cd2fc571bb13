"""``POST /revocations``, ``GET /revocations/{run_id}`` and cancel, through the api Lambda's
handler (API Gateway HTTP API events) and the worker Lambda on the jobs queue (moto SQS)."""

from __future__ import annotations

from typing import Any

import pytest
from handlers.handler_harness import SITE, Stack

from revocation.run_world import api_site


def _follow(stack: Stack, run_id: str) -> dict[str, Any]:
    stack.run_jobs()  # the plan job queues the chunk jobs; draining runs them too
    got = stack.api("GET", f"/revocations/{run_id}")
    assert got.status == 200, got.body
    return dict(got.body)


def test_a_run_through_the_api_and_the_worker(stack: Stack) -> None:
    key_ids = api_site(stack)
    started = stack.api(
        "POST",
        "/revocations",
        {"selector": {"door_ids": ["flat-0", "flat-2"]}, "reason": "contractor left"},
        headers={"idempotency-key": "run-1"},
    )
    assert started.status == 202, started.body
    assert started.body["state"] == "planning"
    run_id = started.body["run_id"]
    assert started.headers["Location"] == f"/v1/sites/{SITE}/revocations/{run_id}"
    # The same request again is the same run.
    again = stack.api(
        "POST",
        "/revocations",
        {"selector": {"door_ids": ["flat-0", "flat-2"]}, "reason": "contractor left"},
        headers={"idempotency-key": "run-1"},
    )
    assert again.body["run_id"] == run_id
    run = _follow(stack, run_id)
    assert run["state"] == "done"
    assert run["counts"] == {"revoked": 4, "already_revoked": 0, "failed": 0, "cancelled": 0}
    assert run["plan"]["to_revoke"] == 4
    report = run["report"]
    assert {d["door_id"] for d in report["doors_to_visit"]} == {"flat-0", "flat-2"}
    assert [d["door_id"] for d in report["online_doors"]] == ["entrance"]
    for entry in report["doors_to_visit"]:
        assert entry["pending_changes"] >= 1
    statuses = {k: stack.api("GET", f"/keys/{k}").body["status"]["code"] for k in key_ids}
    assert sorted(statuses.values()).count("revocation_pending") == 4
    history = stack.api("GET", f"/keys/{key_ids[0]}/history").body["events"]
    assert history[-1]["actor"] == f"run:{run_id}"
    assert history[-1]["reason"] == "contractor left"


def test_a_dry_run_and_a_cancel_through_the_api(stack: Stack) -> None:
    api_site(stack, flats=2)
    dry = stack.api("POST", "/revocations", {"selector": {"all": True}, "dry_run": True})
    assert dry.status == 202
    planned = _follow(stack, dry.body["run_id"])
    assert planned["state"] == "planned"
    assert planned["plan"]["by_status"] == {"door_update_pending": 4}
    assert planned["plan"]["doors_to_visit_total"] == 2
    refused = stack.api("POST", f"/revocations/{dry.body['run_id']}/cancel")
    assert refused.status == 409
    run = stack.api("POST", "/revocations", {"selector": {"all": True}})
    cancelled = stack.api("POST", f"/revocations/{run.body['run_id']}/cancel")
    assert cancelled.status == 202
    assert cancelled.body["state"] == "cancelled"  # still planning: cancelled at once
    assert _follow(stack, run.body["run_id"])["state"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"selector": {"door_ids": ["nowhere"]}}, 404, "selector.door_ids"),
        ({"selector": {"all": True, "door_ids": ["flat-0"]}}, 400, "selector"),
        ({"selector": {"door_ids": ["flat-0"], "status": ["gone"]}}, 400, "selector.status.0"),
        ({"selector": {"phones": ["+41 12"]}}, 400, "selector.phones.0"),
        ({"selector": {"phones": ["12"]}}, 400, "selector.phones.0"),
        ({"selector": {"all": True}, "dry_run": "yes"}, 400, "dry_run"),
        ({"selector": {"colour": "red"}}, 400, "selector.colour"),
    ],
)
def test_bad_requests_name_the_field(
    stack: Stack, body: dict[str, Any], status: int, field: str
) -> None:
    stack.door("flat-0")
    answer = stack.api("POST", "/revocations", body)
    assert answer.status == status, answer.body
    assert answer.content_type == "application/problem+json"
    assert answer.body["field"] == field
    assert stack.peek_jobs() == []


def test_runs_of_other_sites_stay_hidden(stack: Stack) -> None:
    api_site(stack, flats=1)
    run = stack.api("POST", "/revocations", {"selector": {"all": True}})
    run_id = run.body["run_id"]
    assert stack.api("GET", "/revocations/unknown-run").status == 404
    other = stack.api("GET", f"/v1/sites/site-2/revocations/{run_id}", sites=["site-2"])
    assert other.status == 404
    forbidden = stack.api("GET", f"/revocations/{run_id}", sites=["site-2"])
    assert forbidden.status == 403
