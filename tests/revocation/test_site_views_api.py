"""``GET /summary``, ``GET /exposure`` (linked from a revocation run's report) and the
``door.heartbeat`` event, through the api and events Lambdas' handlers."""

from __future__ import annotations

import json

from handlers.handler_harness import SITE, Stack, cloud_event, sqs_event

from keyworker.handlers import events
from keyworker.local.apigw import LambdaContext
from revocation.run_world import api_site


def test_summary_exposure_and_heartbeat_over_http(stack: Stack) -> None:
    key_ids = api_site(stack, flats=2)
    summary = stack.api("GET", "/summary")
    assert summary.status == 200, summary.body
    assert summary.body["keys"]["total"] == len(key_ids)
    assert {d["door_id"] for d in summary.body["doors"]} == {"entrance", "flat-0", "flat-1"}
    assert summary.body["oldest_pending"][0]["waiting_for"] in ("door", "technician")
    key = stack.api("GET", f"/keys/{key_ids[0]}").body
    assert {d["waiting_for"] for d in key["doors"]} <= {"door", "technician", None}
    assert set(key) >= {"pending_since", "waiting_for", "last_error"}

    started = stack.api("POST", "/revocations", {"selector": {"door_ids": ["flat-0"]}})
    assert started.status == 202, started.body
    stack.run_jobs()
    run = stack.api("GET", f"/revocations/{started.body['run_id']}").body
    assert run["state"] == "done"
    link = run["report"]["exposure"]
    assert link == f"/v1/sites/{SITE}/exposure"
    exposure = stack.api("GET", link)
    assert exposure.status == 200, exposure.body
    revoked = {i["key_id"] for i in exposure.body["items"]}
    assert revoked
    assert revoked <= set(key_ids)
    assert exposure.body["count"] == len(exposure.body["items"])
    assert {i["reason"] for i in exposure.body["items"]} == {"revoked"}
    assert any(i["technician_required"] for i in exposure.body["items"])

    # A heartbeat through POST /events, then one through the events queue.
    posted = stack.api(
        "POST", "/events", cloud_event("door.heartbeat", {"site_id": SITE, "door_id": "entrance"})
    )
    assert posted.status == 200, posted.body
    assert posted.body["outcome"]["last_seen"] is not None
    door = stack.api("GET", "/doors/entrance").body
    assert door["last_seen"] == "2026-01-05T08:00:00Z"
    later = cloud_event("door.heartbeat", {"site_id": SITE, "door_id": "flat-1"})
    result = events.handler(
        sqs_event([json.dumps(later)], arn=stack.events.arn), LambdaContext("keyworker-events")
    )
    assert result["batchItemFailures"] == []
    assert stack.api("GET", "/doors/flat-1").body["last_seen"] == "2026-01-05T08:00:00Z"
    # A heartbeat of a door that does not exist is refused, naming the door.
    missing = stack.api(
        "POST", "/events", cloud_event("door.heartbeat", {"site_id": SITE, "door_id": "nope"})
    )
    assert missing.status == 404
