"""Every endpoint of the HTTP API through API Gateway HTTP API (2.0) proxy events, under moto:
happy paths and failures (problem+json naming the field; 401/403 revealing nothing)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from handler_harness import OTHER_SITE, PHONE, SITE, Stack, cloud_event

from keyworker.jobs.queue import SqsJobQueue

FROM = "2026-01-05T00:00:00Z"


def medium(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "holder_id": "holder-1",
        "card_uid": "card-0001",
        "door_ids": ["front", "flat-1"],
        "valid_from": FROM,
    }
    body.update(overrides)
    return body


def digital(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "holder_id": "holder-1",
        "phone": PHONE,
        "door_ids": ["front"],
        "valid_from": FROM,
    }
    body.update(overrides)
    return body


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.content_type == "application/problem+json"
    body = response.body
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    if field is not None:
        assert body["field"] == field, body
    return dict(body)


@pytest.fixture
def doors(stack: Stack) -> Stack:
    stack.door("front", connectivity="online", kind="common")
    stack.door("flat-1", connectivity="offline", kind="unit")
    stack.queued(stack.jobs)
    return stack


# ------------------------------------------------------------------------ authorization


def test_no_token_is_401_before_anything_else(stack: Stack) -> None:
    response = stack.api("PUT", "/doors/d1", {"name": ""}, sites=None)
    problem = assert_problem(response, 401)
    assert response.headers.get("WWW-Authenticate") == "Bearer"
    assert problem["type"] == "/problems/unauthenticated"


def test_other_site_is_403_and_reveals_nothing(doors: Stack) -> None:
    # The site exists (it has doors) for one caller; for another it looks like any other site.
    existing = doors.api("GET", f"/v1/sites/{SITE}/doors/front", sites=[OTHER_SITE])
    missing = doors.api("GET", "/v1/sites/no-such-site/doors/front", sites=[OTHER_SITE])
    invalid = doors.api("PUT", f"/v1/sites/{SITE}/doors/x", {"bad": 1}, sites=[OTHER_SITE])
    assert_problem(existing, 403)
    assert existing.body == missing.body == invalid.body
    assert existing.headers == missing.headers


def test_a_token_with_several_sites_grants_each(doors: Stack) -> None:
    response = doors.api("GET", "/doors/front", sites=[OTHER_SITE, SITE])
    assert response.status == 200


def test_unknown_route_is_404_problem(stack: Stack) -> None:
    assert_problem(stack.api("GET", "/nothing-here"), 404)


# ------------------------------------------------------------------------------- doors


def test_put_and_get_door(stack: Stack) -> None:
    response = stack.api(
        "PUT", "/doors/lobby", {"name": "Lobby", "kind": "common", "connectivity": "online"}
    )
    assert response.status == 200
    assert response.body == {
        "door_id": "lobby",
        "name": "Lobby",
        "kind": "common",
        "connectivity": "online",
        "desired_version": 0,
        "confirmed_version": 0,
        "pending_changes": [],
        "last_seen": None,
        "unreachable_since": None,
    }
    assert stack.api("GET", "/doors/lobby").body == response.body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Lobby", "kind": "garage", "connectivity": "online"}, "kind"),
        ({"name": "", "kind": "unit", "connectivity": "online"}, "name"),
        ({"kind": "unit", "connectivity": "online"}, "name"),
        ({"name": "x", "kind": "unit", "connectivity": "wifi"}, "connectivity"),
        ({"name": "x", "kind": "unit", "connectivity": "online", "extra": 1}, "extra"),
    ],
)
def test_put_door_bad_input_names_the_field(stack: Stack, body: Any, field: str) -> None:
    assert_problem(stack.api("PUT", "/doors/lobby", body), 400, field)
    assert_problem(stack.api("GET", "/doors/lobby"), 404, "door_id")


def test_body_that_is_not_json(stack: Stack) -> None:
    assert_problem(stack.api("PUT", "/doors/lobby", raw_body=b"{not json"), 400, "body")


def test_bad_door_id_names_the_field(stack: Stack) -> None:
    body = {"name": "x", "kind": "unit", "connectivity": "online"}
    assert_problem(stack.api("PUT", "/doors/-bad", body), 400, "door_id")


def test_get_unknown_door_is_404(stack: Stack) -> None:
    assert_problem(stack.api("GET", "/doors/nope"), 404, "door_id")


def test_door_update_and_sync(doors: Stack) -> None:
    created = doors.api("POST", "/access-media", medium())
    assert created.status == 202
    door = doors.api("GET", "/doors/flat-1").body
    assert door["desired_version"] == 1
    assert door["pending_changes"][0]["keys"] == [
        {"key_id": created.body["key_id"], "state": "deployment_pending"}
    ]
    update = doors.api("GET", "/doors/flat-1/update").body
    assert update["version"] == 1
    assert update["from_version"] == 0
    assert update["entries"] == 1
    # base64url without padding: decodable, and a COSE_Mac0 (CBOR tag 17 = 0xd1).
    payload = base64.urlsafe_b64decode(update["payload"] + "=" * (-len(update["payload"]) % 4))
    assert payload[0] == 0xD1

    synced = doors.api("POST", "/doors/flat-1/sync", {"version": 1})
    assert synced.status == 200
    assert synced.body["completed_key_ids"] == [created.body["key_id"]]
    assert synced.body["stale"] is False
    again = doors.api("POST", "/doors/flat-1/sync", {"version": 1})
    assert again.body["stale"] is True
    assert again.body["completed_key_ids"] == []
    key = doors.api("GET", f"/keys/{created.body['key_id']}").body
    states = {d["door_id"]: d["status"]["code"] for d in key["doors"]}
    assert states == {"front": "deployment_pending", "flat-1": "deployed"}


def test_sync_beyond_desired_or_malformed(doors: Stack) -> None:
    assert_problem(doors.api("POST", "/doors/flat-1/sync", {"version": 9}), 400, "version")
    assert_problem(doors.api("POST", "/doors/flat-1/sync", {"version": "1"}), 400, "version")
    assert_problem(doors.api("POST", "/doors/flat-1/sync", {"version": -1}), 400, "version")
    assert_problem(doors.api("POST", "/doors/nope/sync", {"version": 1}), 404, "door_id")


def test_worklist(doors: Stack) -> None:
    doors.api("POST", "/access-media", medium())
    response = doors.api("GET", "/doors?visit=needed")
    assert response.status == 200
    assert [d["door_id"] for d in response.body["doors"]] == ["flat-1"]
    assert response.body["doors"][0]["pending_changes"] == 1
    assert_problem(doors.api("GET", "/doors"), 400, "visit")
    assert_problem(doors.api("GET", "/doors?visit=all"), 400, "visit")


# -------------------------------------------------------------------------------- keys


def test_create_access_medium_answers_the_documented_key(doors: Stack) -> None:
    response = doors.api("POST", "/access-media", medium(valid_until="2026-12-31T00:00:00+01:00"))
    assert response.status == 202
    key = response.body
    assert response.headers["Location"] == f"/v1/sites/{SITE}/keys/{key['key_id']}"
    assert key["type"] == "access_medium"
    assert key["valid_from"] == FROM
    assert key["valid_until"] == "2026-12-30T23:00:00Z"
    assert key["status"] == {"code": "door_update_pending", "label": "Door update pending"}
    assert key["home_status"] == {
        "code": "please_update_door",
        "label": "Please update the door",
        "category": "active",
    }
    # Who must act, since when (the same instant for both rows: the creation).
    since = key["pending_since"]
    assert since is not None
    assert (key["waiting_for"], key["last_error"]) in (("door", None), ("technician", None))
    pending = [
        (d.pop("pending_since"), d.pop("waiting_for"), d.pop("last_error")) for d in key["doors"]
    ]
    assert pending == [(since, "door", None), (since, "technician", None)]
    assert key["doors"] == [
        {
            "door_id": "front",
            "status": {
                "code": "deployment_pending",
                "mode": "automated",
                "label": "(automated) Deployment pending",
            },
        },
        {
            "door_id": "flat-1",
            "status": {
                "code": "deployment_pending",
                "mode": "manual",
                "label": "(manual) Deployment pending",
            },
        },
    ]
    # The online door's update is left to the worker: a sync job, nothing sent inline.
    jobs = doors.queued(doors.jobs)
    assert [(j["kind"], j["params"]["door_id"]) for j in jobs] == [("sync_door", "front")]
    assert doors.queued(doors.door_commands) == []


def test_create_is_idempotent_with_the_header(doors: Stack) -> None:
    headers = {"Idempotency-Key": "req-42"}
    first = doors.api("POST", "/access-media", medium(), headers=headers)
    second = doors.api("POST", "/access-media", medium(), headers=headers)
    assert first.status == second.status == 202
    assert first.body["key_id"] == second.body["key_id"]
    listed = doors.api("GET", "/keys").body["items"]
    assert [k["key_id"] for k in listed] == [first.body["key_id"]]
    other = doors.api("POST", "/access-media", medium(card_uid="card-9"), headers=headers)
    assert_problem(other, 409)
    assert other.body["type"] == "/problems/idempotency-conflict"
    assert_problem(
        doors.api("POST", "/access-media", medium(), headers={"Idempotency-Key": "#x"}),
        400,
        "Idempotency-Key",
    )


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"door_ids": []}, 400, "door_ids"),
        ({"door_ids": ["front", "front"]}, 400, "door_ids"),
        ({"door_ids": ["front", "elsewhere"]}, 404, "door_ids"),
        ({"valid_until": "2025-01-01T00:00:00Z"}, 400, "valid_until"),
        ({"valid_from": "2026-01-05T00:00:00"}, 400, "valid_from"),
        ({"valid_from": "tomorrow"}, 400, "valid_from"),
        ({"holder_id": None}, 400, "holder_id"),
        ({"card_uid": "has space"}, 400, "card_uid"),
        (
            {
                "schedule": {
                    "time_zone": "Europe/Zurich",
                    "windows": [{"days": ["mon"], "start": "19:00", "end": "07:00"}],
                }
            },
            400,
            None,
        ),
        (
            {
                "schedule": {
                    "time_zone": "Mars/Base",
                    "windows": [{"days": ["mon"], "start": "07:00", "end": "19:00"}],
                }
            },
            400,
            None,
        ),
    ],
)
def test_create_access_medium_bad_input(
    doors: Stack, overrides: dict[str, Any], status: int, field: str | None
) -> None:
    problem = assert_problem(doors.api("POST", "/access-media", medium(**overrides)), status, field)
    if field is None:
        assert problem["field"].startswith("schedule")
    assert doors.api("GET", "/keys").body["items"] == []
    assert doors.queued(doors.jobs) == []


def test_create_with_schedule_shows_time_day(doors: Stack) -> None:
    schedule = {
        "time_zone": "Europe/Zurich",
        "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}
        ],
    }
    key = doors.api("POST", "/access-media", medium(door_ids=["front"], schedule=schedule)).body
    doors.run_jobs()
    doors.api("POST", "/doors/front/sync", {"version": 1})
    shown = doors.api("GET", f"/keys/{key['key_id']}").body
    assert shown["status"]["code"] == "active"
    assert shown["home_status"] == {
        "code": "time_day",
        "label": "Mon–Fri 07:00–19:00",
        "category": "active",
    }


def test_digital_key_delivery_goes_through_the_worker(doors: Stack) -> None:
    created = doors.api("POST", "/digital-keys", digital())
    assert created.status == 202
    key_id = created.body["key_id"]
    assert created.body["status"]["code"] == "deployment_pending"
    assert created.body["home_status"] is None
    # Nothing was signed or sent inline: one delivery job.
    assert doors.mobile.requests == []
    assert [j["kind"] for j in doors.peek_jobs()] == ["deliver_digital_key"]
    doors.run_jobs()
    [(path, body)] = doors.mobile.delivered()
    assert path == f"/v1/sites/{SITE}/keys/{key_id}"
    assert body["phone"] == "+41791234567"
    assert body["credential"]
    delivered = doors.api(
        "POST", "/events", cloud_event("key.delivered", {"site_id": SITE, "key_id": key_id})
    )
    assert delivered.status == 200
    assert delivered.body["duplicate"] is False
    key = doors.api("GET", f"/keys/{key_id}").body
    assert key["status"] == {"code": "deployed", "label": "Deployed"}
    assert key["home_status"]["code"] == "always"


def test_digital_key_bad_phone(doors: Stack) -> None:
    problem = assert_problem(doors.api("POST", "/digital-keys", digital(phone="123")), 400, "phone")
    assert problem["type"] == "/problems/invalid-phone-number"
    assert_problem(doors.api("POST", "/digital-keys", digital(phone=None)), 400, "phone")


def test_get_key_and_unknown_key(doors: Stack) -> None:
    key_id = doors.api("POST", "/access-media", medium()).body["key_id"]
    assert doors.api("GET", f"/keys/{key_id}").body["key_id"] == key_id
    assert_problem(doors.api("GET", "/keys/00000000-0000-0000-0000-000000000000"), 404, "key_id")
    # A key of this site is not found under another site, even with a token for both.
    other = doors.api("GET", f"/v1/sites/{OTHER_SITE}/keys/{key_id}", sites=[SITE, OTHER_SITE])
    assert_problem(other, 404, "key_id")


def test_list_keys_by_status_and_type_with_pages(doors: Stack) -> None:
    ids = [
        doors.api("POST", "/access-media", medium(card_uid=f"card-{i}")).body["key_id"]
        for i in range(3)
    ]
    digital_id = doors.api("POST", "/digital-keys", digital()).body["key_id"]
    pending = doors.api("GET", "/keys?status=door_update_pending&type=access_medium").body
    assert sorted(k["key_id"] for k in pending["items"]) == sorted(ids)
    only_digital = doors.api("GET", "/keys?type=digital_key").body
    assert [k["key_id"] for k in only_digital["items"]] == [digital_id]
    seen: list[str] = []
    path = "/keys?limit=1"
    for _ in range(10):
        page = doors.api("GET", path).body
        seen.extend(k["key_id"] for k in page["items"])
        if page["cursor"] is None:
            break
        path = f"/keys?limit=1&cursor={page['cursor']}"
    assert sorted(seen) == sorted([*ids, digital_id])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=shiny", "status"),
        ("type=card", "type"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
def test_list_keys_bad_query(doors: Stack, query: str, field: str) -> None:
    assert_problem(doors.api("GET", f"/keys?{query}"), 400, field)


def test_history_oldest_first(doors: Stack) -> None:
    key_id = doors.api("POST", "/access-media", medium()).body["key_id"]
    doors.api("POST", f"/keys/{key_id}/revoke", {"reason": "moved out"})
    history = doors.api("GET", f"/keys/{key_id}/history").body
    assert history["key_id"] == key_id
    actions = [e["action"] for e in history["events"]]
    assert actions == ["created", "revoked"]
    assert history["events"][0]["actor"] == "user:admin-1"
    assert history["events"][1]["reason"] == "moved out"
    assert_problem(doors.api("GET", "/keys/unknown-key/history"), 404, "key_id")


def test_revoke(doors: Stack) -> None:
    key_id = doors.api("POST", "/access-media", medium()).body["key_id"]
    doors.queued(doors.jobs)
    revoked = doors.api("POST", f"/keys/{key_id}/revoke")
    assert revoked.status == 202
    assert revoked.body["status"]["code"] == "revocation_pending"
    assert {d["status"]["code"] for d in revoked.body["doors"]} == {"revocation_pending"}
    assert [j["kind"] for j in doors.queued(doors.jobs)] == ["sync_door"]
    again = doors.api("POST", f"/keys/{key_id}/revoke")
    assert again.status == 202
    assert again.body["version"] == revoked.body["version"]
    assert_problem(doors.api("POST", "/keys/unknown/revoke"), 404, "key_id")
    assert_problem(doors.api("POST", f"/keys/{key_id}/revoke", {"why": "x"}), 400, "why")


def test_revoking_a_digital_key_takes_it_back_through_the_worker(doors: Stack) -> None:
    key_id = doors.api("POST", "/digital-keys", digital()).body["key_id"]
    doors.run_jobs()
    revoked = doors.api("POST", f"/keys/{key_id}/revoke").body
    assert revoked["status"]["code"] == "revocation_pending"
    assert doors.mobile.revoked() == []
    doors.run_jobs()
    assert doors.mobile.revoked() == [f"/v1/sites/{SITE}/keys/{key_id}"]


# ------------------------------------------------------------------------------ phones


def test_block_and_unblock_phone(doors: Stack) -> None:
    key_id = doors.api("POST", "/digital-keys", digital()).body["key_id"]
    doors.run_jobs()
    doors.api("POST", "/events", cloud_event("key.delivered", {"site_id": SITE, "key_id": key_id}))
    blocked = doors.api("POST", "/phones/+41791234567/block")
    assert blocked.status == 202
    assert blocked.body == {
        "phone": "+41*******67",
        "blocked": True,
        "key_ids": [key_id],
        "changed": True,
    }
    key = doors.api("GET", f"/keys/{key_id}").body
    assert key["home_status"]["code"] == "blocked"
    assert key["doors"][0]["status"]["code"] == "blocking_pending"
    # Percent-encoded number, same phone.
    unblocked = doors.api("POST", "/phones/%2B41791234567/unblock")
    assert unblocked.status == 202
    assert unblocked.body["blocked"] is False
    assert_problem(doors.api("POST", "/phones/12/block"), 400, "phone")


# ------------------------------------------------------------------------------ events


def test_post_events_duplicates_and_unknown_types(doors: Stack) -> None:
    key_id = doors.api("POST", "/access-media", medium()).body["key_id"]
    event = cloud_event("door.synced", {"site_id": SITE, "door_id": "flat-1", "version": 1})
    first = doors.api("POST", "/events", event)
    assert first.status == 200
    assert first.body["duplicate"] is False
    assert first.body["outcome"]["completed_key_ids"] == [key_id]
    second = doors.api("POST", "/events", event)
    assert second.body["duplicate"] is True
    assert second.body["outcome"] == first.body["outcome"]

    unknown = doors.api("POST", "/events", cloud_event("door.exploded", {"site_id": SITE}))
    problem = assert_problem(unknown, 400, "type")
    assert problem["type"] == "/problems/unknown-event-type"
    bad = cloud_event("door.synced", {"site_id": SITE, "door_id": "flat-1", "version": "x"})
    assert_problem(doors.api("POST", "/events", bad), 400, "data.version")
    no_id = cloud_event("door.synced", {"site_id": SITE, "door_id": "flat-1", "version": 1})
    del no_id["id"]
    assert_problem(doors.api("POST", "/events", no_id), 400, "id")
    assert_problem(doors.api("POST", "/events", raw_body=b"[]"), 400, "body")


def test_post_events_for_another_site_is_forbidden(doors: Stack) -> None:
    event = cloud_event("door.synced", {"site_id": OTHER_SITE, "door_id": "flat-1", "version": 1})
    assert_problem(doors.api("POST", "/events", event), 403)


# ------------------------------------------------------------ failures of the jobs queue


def test_enqueue_failure_is_503_and_the_retry_finishes_the_work(
    doors: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = SqsJobQueue.put
    calls = {"n": 0}

    def failing_once(self: SqsJobQueue, job: Any, *, delay_seconds: int = 0) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            from keyworker.errors import JobQueueUnavailable

            raise JobQueueUnavailable("queue down")
        real_put(self, job, delay_seconds=delay_seconds)

    monkeypatch.setattr(SqsJobQueue, "put", failing_once)
    headers = {"Idempotency-Key": "retry-me"}
    failed = doors.api("POST", "/digital-keys", digital(), headers=headers)
    problem = assert_problem(failed, 503)
    assert failed.headers["Retry-After"]
    assert "queue" not in problem["detail"].lower() or "retry" in problem["detail"].lower()
    assert doors.peek_jobs() == []
    retried = doors.api("POST", "/digital-keys", digital(), headers=headers)
    assert retried.status == 202
    assert [j["kind"] for j in doors.peek_jobs()] == ["deliver_digital_key"]
    doors.run_jobs()
    assert len(doors.mobile.delivered()) == 1


@pytest.mark.parametrize("command", ["create", "revoke"])
def test_a_lost_door_sync_request_is_made_again_by_the_retry(
    doors: Stack, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from keyworker.errors import JobQueueUnavailable

    key_id = None
    if command == "revoke":
        key_id = doors.api("POST", "/access-media", medium()).body["key_id"]
        doors.queued(doors.jobs)
    real_put = SqsJobQueue.put
    failing = {"on": True}

    def put(self: SqsJobQueue, job: Any, *, delay_seconds: int = 0) -> None:
        if failing["on"]:
            raise JobQueueUnavailable("queue down")
        real_put(self, job, delay_seconds=delay_seconds)

    monkeypatch.setattr(SqsJobQueue, "put", put)
    headers = {"Idempotency-Key": "lost-sync"}

    def call() -> Any:
        if command == "create":
            return doors.api("POST", "/access-media", medium(), headers=headers)
        return doors.api("POST", f"/keys/{key_id}/revoke")

    assert_problem(call(), 503)
    failing["on"] = False
    assert call().status == 202
    jobs = doors.queued(doors.jobs)
    assert [(j["kind"], j["params"]["door_id"]) for j in jobs] == [("sync_door", "front")]
    desired = doors.api("GET", "/doors/front").body["desired_version"]
    assert jobs[0]["params"]["version"] == desired


def test_unexpected_error_is_500_without_internals(
    doors: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyworker.domain.queries import KeyQueries

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals /var/task/x.py")

    monkeypatch.setattr(KeyQueries, "get_key", boom)
    problem = assert_problem(doors.api("GET", "/keys/k1"), 500)
    assert "internals" not in str(problem)
