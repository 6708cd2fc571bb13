"""``POST /keys/batch``: many keys as one request, all or nothing for refusals, idempotent per
item, and one door change and one sync per door for the whole batch."""

from __future__ import annotations

from typing import Any

import pytest
from handler_harness import PHONE, SITE, Stack
from test_api_endpoints import assert_problem, digital, medium

from keyworker import limits


@pytest.fixture
def doors(stack: Stack) -> Stack:
    stack.door("front", connectivity="online", kind="common")
    stack.door("garage", connectivity="online", kind="common")
    stack.door("flat-1", connectivity="offline", kind="unit")
    stack.queued(stack.jobs)
    return stack


def cards(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        {"type": "access_medium", **medium(card_uid=f"card-{i:04d}", **overrides)} for i in range(n)
    ]


def keys_at_site(stack: Stack) -> list[dict[str, Any]]:
    return list(stack.api("GET", "/keys", sites=[SITE]).body["items"])


def test_a_batch_issues_every_key_in_order(doors: Stack) -> None:
    items = [*cards(3), {"type": "digital_key", **digital(door_ids=["front", "garage"])}]
    response = doors.api("POST", "/keys/batch", {"items": items})
    assert response.status == 202, response.body
    issued = response.body["items"]
    assert [k["type"] for k in issued] == ["access_medium"] * 3 + ["digital_key"]
    assert [k["holder_id"] for k in issued] == [item["holder_id"] for item in items]
    assert issued[0]["status"]["code"] == "door_update_pending"
    assert issued[3]["status"]["code"] == "deployment_pending"
    assert sorted(k["key_id"] for k in keys_at_site(doors)) == sorted(k["key_id"] for k in issued)
    # Each single read agrees with what the batch answered.
    for key in issued:
        assert doors.api("GET", f"/keys/{key['key_id']}").body["status"] == key["status"]


def test_a_batch_shares_one_door_change_and_one_sync_per_door(doors: Stack) -> None:
    response = doors.api("POST", "/keys/batch", {"items": cards(5)})
    assert response.status == 202, response.body
    for door_id in ("front", "flat-1"):
        door = doors.api("GET", f"/doors/{door_id}").body
        # Five keys, one version: the door applies them in one update.
        assert door["desired_version"] == 1, door
    jobs = doors.queued(doors.jobs)
    assert sorted((j["kind"], j["params"]["door_id"]) for j in jobs) == [("sync_door", "front")]


@pytest.mark.parametrize(
    ("bad", "status", "field"),
    [
        ({"door_ids": ["front", "elsewhere"]}, 404, "items.2.door_ids"),
        ({"door_ids": []}, 400, "items.2.door_ids"),
        ({"valid_until": "2025-01-01T00:00:00Z"}, 400, "items.2.valid_until"),
        ({"card_uid": "has space"}, 400, "items.2.card_uid"),
    ],
)
def test_one_bad_item_refuses_the_whole_batch_and_writes_nothing(
    doors: Stack, bad: dict[str, Any], status: int, field: str
) -> None:
    items = cards(4)
    items[2].update(bad)
    problem = assert_problem(doors.api("POST", "/keys/batch", {"items": items}), status)
    assert problem["field"] == field, problem
    assert keys_at_site(doors) == []
    assert doors.queued(doors.jobs) == []
    assert doors.api("GET", "/doors/front").body["desired_version"] == 0


def test_a_bad_phone_in_a_batch_names_its_item(doors: Stack) -> None:
    items = [*cards(1), {"type": "digital_key", **digital(phone="+41 12")}]
    problem = assert_problem(doors.api("POST", "/keys/batch", {"items": items}), 400)
    assert problem["field"] == "items.1.phone", problem
    assert keys_at_site(doors) == []


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {
            "items": [
                {"holder_id": "h", "door_ids": ["front"], "valid_from": "2026-01-05T00:00:00Z"}
            ]
        },
        {"items": [{"type": "key_card", **medium()}]},
        {"items": cards(limits.MAX_KEYS_PER_BATCH + 1)},
        {"keys": cards(1)},
    ],
    ids=["empty", "no-type", "unknown-type", "too-many", "no-items"],
)
def test_malformed_batches_are_400(doors: Stack, body: dict[str, Any]) -> None:
    assert_problem(doors.api("POST", "/keys/batch", body), 400)
    assert keys_at_site(doors) == []


def test_the_largest_batch_is_accepted(doors: Stack) -> None:
    items = cards(limits.MAX_KEYS_PER_BATCH, door_ids=["flat-1"])
    response = doors.api("POST", "/keys/batch", {"items": items})
    assert response.status == 202, response.body
    assert len(response.body["items"]) == limits.MAX_KEYS_PER_BATCH


def test_a_batch_is_idempotent_per_item_with_the_header(doors: Stack) -> None:
    headers = {"Idempotency-Key": "import-7"}
    first = doors.api("POST", "/keys/batch", {"items": cards(3)}, headers=headers)
    again = doors.api("POST", "/keys/batch", {"items": cards(3)}, headers=headers)
    assert first.status == again.status == 202
    assert [k["key_id"] for k in first.body["items"]] == [k["key_id"] for k in again.body["items"]]
    assert len(keys_at_site(doors)) == 3
    # Item 1's idempotency key is the single create's "import-7.1": the same key.
    single = doors.api(
        "POST", "/access-media", cards(3)[1] | {"type": None}, headers={"Idempotency-Key": "x"}
    )
    assert single.status == 400  # the single create has no "type"
    alone = {k: v for k, v in cards(3)[1].items() if k != "type"}
    same = doors.api("POST", "/access-media", alone, headers={"Idempotency-Key": "import-7.1"})
    assert same.body["key_id"] == first.body["items"][1]["key_id"]
    # A longer batch with the same header: the first three are replays, the fourth is new.
    longer = doors.api("POST", "/keys/batch", {"items": cards(4)}, headers=headers)
    assert [k["key_id"] for k in longer.body["items"][:3]] == [
        k["key_id"] for k in first.body["items"]
    ]
    assert len(keys_at_site(doors)) == 4


def test_a_reused_idempotency_key_with_another_item_refuses_the_batch(doors: Stack) -> None:
    headers = {"Idempotency-Key": "import-8"}
    assert doors.api("POST", "/keys/batch", {"items": cards(2)}, headers=headers).status == 202
    changed = cards(3)
    changed[1]["card_uid"] = "card-other"
    problem = assert_problem(
        doors.api("POST", "/keys/batch", {"items": changed}, headers=headers), 409
    )
    assert problem["type"] == "/problems/idempotency-conflict"
    assert "items[1]" in problem["detail"]
    assert len(keys_at_site(doors)) == 2  # item 2 was not written either


def test_an_idempotency_key_without_room_for_the_index_names_the_header(doors: Stack) -> None:
    key = "k" * limits.MAX_ID_LEN
    problem = assert_problem(
        doors.api("POST", "/keys/batch", {"items": cards(1)}, headers={"Idempotency-Key": key}),
        400,
        "Idempotency-Key",
    )
    assert "index" in problem["detail"]
    assert keys_at_site(doors) == []


def test_a_key_for_a_blocked_phone_is_issued_as_a_single_create_would_be(doors: Stack) -> None:
    assert doors.api("POST", f"/phones/{PHONE}/block").status == 202
    doors.run_jobs()
    single = doors.api("POST", "/digital-keys", digital(holder_id="holder-a")).body
    items = [{"type": "digital_key", **digital(holder_id="holder-b")}]
    batched = doors.api("POST", "/keys/batch", {"items": items}).body["items"][0]
    assert batched["status"] == single["status"]
    assert batched["home_status"] == single["home_status"]
    # Neither is handed to the mobile-access cloud: the phone must not get it.
    assert [j["kind"] for j in doors.queued(doors.jobs)] == []


def _digital_batch(n: int) -> list[dict[str, Any]]:
    return [
        {"type": "digital_key", **digital(holder_id=f"holder-{i}", phone=f"+4179{5300000 + i:07d}")}
        for i in range(n)
    ]


def test_a_batchs_deliveries_are_queued_together(
    doors: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve digital keys: twelve delivery jobs, sent in SendMessageBatch calls of at most
    10 (not a SendMessage each), and each key is delivered once the worker runs them."""
    from keyworker.jobs.queue import SqsJobQueue

    batches: list[int] = []
    real = SqsJobQueue.put_many

    def put_many(self: SqsJobQueue, jobs: Any) -> None:
        batches.append(len(jobs))
        real(self, jobs)

    monkeypatch.setattr(SqsJobQueue, "put_many", put_many)
    keys = doors.api("POST", "/keys/batch", {"items": _digital_batch(12)}).body["items"]
    assert batches == [12]
    jobs = doors.queued(doors.jobs)
    assert sorted(j["params"]["key_id"] for j in jobs) == sorted(k["key_id"] for k in keys)
    assert {j["kind"] for j in jobs} == {"deliver_digital_key"}


def test_a_delivery_job_sqs_did_not_take_is_503_and_the_retry_queues_it(
    doors: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SendMessageBatch answers 200 with a failed entry: the request is 503 (nothing is
    lost: the keys are written, and the retry with the same Idempotency-Key queues every
    delivery again), and the worker delivers every key (some twice: the mobile-access cloud
    takes a key again, as the gateway contract says)."""
    import botocore.client

    real_call = botocore.client.BaseClient._make_api_call
    failing = {"on": True}

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = real_call(self, operation, params)
        if operation == "SendMessageBatch" and failing["on"]:
            failing["on"] = False
            entry = answer["Successful"].pop()
            answer["Failed"] = [{"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"}]
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    body = {"items": _digital_batch(3)}
    headers = {"Idempotency-Key": "batch-retry"}
    assert_problem(doors.api("POST", "/keys/batch", body, headers=headers), 503)
    retried = doors.api("POST", "/keys/batch", body, headers=headers)
    assert retried.status == 202, retried.body
    doors.run_jobs()
    delivered = {path.rsplit("/", 1)[1] for path, _ in doors.mobile.delivered()}
    assert delivered == {k["key_id"] for k in retried.body["items"]}
