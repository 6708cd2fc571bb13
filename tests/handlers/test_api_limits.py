"""What the API accepts the worker can always sign and store (issue 11): every limit of a key
is refused at the door of the API with a problem naming the field, and nothing is written.

The limits themselves live in the core (``keyworker._core``) and in ``keyworker.limits``;
these tests state the cases of the issue with literal numbers so that a limit that drifts
upwards (past what the core signs or DynamoDB stores) fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from handler_harness import TABLE, Stack

FROM = "2026-01-05T00:00:00Z"
PHONE = "+41 79 123 45 67"
WINDOW = {"days": ["mon"], "start": "07:00", "end": "19:00"}


def _schedule(windows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"time_zone": "Europe/Zurich", "windows": windows}


def _medium(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "holder_id": "holder-1",
        "card_uid": "card-0001",
        "door_ids": ["front"],
        "valid_from": FROM,
    }
    body.update(overrides)
    return body


def _digital(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "holder_id": "holder-1",
        "phone": PHONE,
        "door_ids": ["front"],
        "valid_from": FROM,
    }
    body.update(overrides)
    return body


def _items(stack: Stack) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = stack.dynamodb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _refused(stack: Stack, method: str, path: str, body: Any, field: str) -> dict[str, Any]:
    """400 problem+json naming ``field``; the table and the jobs queue are unchanged."""
    before = _items(stack)
    response = stack.api(method, path, body)
    assert response.status == 400, response.body
    assert response.content_type == "application/problem+json"
    assert response.body["field"] == field, response.body
    assert _items(stack) == before
    assert stack.queued(stack.jobs) == []
    return dict(response.body)


@pytest.fixture
def doors(stack: Stack) -> Stack:
    stack.door("front", connectivity="online", kind="common")
    stack.door("flat-1", connectivity="offline", kind="unit")
    stack.queued(stack.jobs)
    return stack


# --------------------------------------------------------------------------- 1. windows


@pytest.mark.parametrize("count", [17, 10_000])
@pytest.mark.parametrize(
    ("path", "body"), [("/digital-keys", _digital), ("/access-media", _medium)]
)
def test_too_many_schedule_windows_are_refused(
    doors: Stack, count: int, path: str, body: Any
) -> None:
    _refused(doors, "POST", path, body(schedule=_schedule([WINDOW] * count)), "schedule.windows")


def test_sixteen_windows_are_accepted_and_signed(doors: Stack) -> None:
    # The largest schedule the API accepts is one the worker signs: the key gets delivered.
    response = doors.api("POST", "/digital-keys", _digital(schedule=_schedule([WINDOW] * 16)))
    assert response.status == 202, response.body
    poller = doors.run_jobs()
    assert poller.stats.failed == 0
    assert doors.queued(doors.jobs) == []
    assert [path for path, _ in doors.mobile.delivered()]


# ------------------------------------------------------------------------ 2. weekdays


@pytest.mark.parametrize("days", [["mon", "mon"], ["mon"] * 10_000, ["mon", "tue", "mon"]])
def test_repeated_weekdays_are_refused(doors: Stack, days: list[str]) -> None:
    window = {**WINDOW, "days": days}
    _refused(
        doors,
        "POST",
        "/digital-keys",
        _digital(schedule=_schedule([window])),
        "schedule.windows.0.days",
    )


# --------------------------------------------------------------------------- 3. doors


def test_too_many_doors_are_refused(doors: Stack) -> None:
    door_ids = [f"door-{i}" for i in range(101)]
    _refused(doors, "POST", "/access-media", _medium(door_ids=door_ids), "door_ids")


# ----------------------------------------------------------------------------- 4. ids


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/access-media", _medium(holder_id="h" * 129), "holder_id"),
        ("/access-media", _medium(card_uid="c" * 129), "card_uid"),
        ("/access-media", _medium(door_ids=["d" * 129]), "door_ids.0"),
        ("/digital-keys", _digital(holder_id="h" * 129), "holder_id"),
    ],
)
def test_too_long_ids_are_refused(doors: Stack, path: str, body: Any, field: str) -> None:
    _refused(doors, "POST", path, body, field)


def test_too_long_door_id_in_the_path_is_refused(doors: Stack) -> None:
    body = {"name": "Lobby", "kind": "common", "connectivity": "online"}
    _refused(doors, "PUT", f"/doors/{'d' * 129}", body, "door_id")


# ---------------------------------------------------------------- 5. control characters


@pytest.mark.parametrize("name", ["Lobby\x00", "Lob\nby", "\x07", "Lobby\x7f", "Lobby\x85"])
def test_control_characters_in_door_names_are_refused(doors: Stack, name: str) -> None:
    body = {"name": name, "kind": "common", "connectivity": "online"}
    _refused(doors, "PUT", "/doors/lobby", body, "name")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/access-media", _medium(holder_id="holder\x00"), "holder_id"),
        ("/access-media", _medium(card_uid="card\t1"), "card_uid"),
        ("/access-media", _medium(door_ids=["front\x00"]), "door_ids.0"),
        ("/digital-keys", _digital(holder_id="\x00"), "holder_id"),
    ],
)
def test_control_characters_in_ids_are_refused(
    doors: Stack, path: str, body: Any, field: str
) -> None:
    _refused(doors, "POST", path, body, field)


# ------------------------------------------------------------------------- 6. instants


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("valid_from", 1_767_571_200),
        ("valid_from", 1_767_571_200.5),
        ("valid_from", "1767571200"),
        ("valid_until", 1_800_000_000),
    ],
)
def test_epoch_numbers_are_not_instants(doors: Stack, field: str, value: Any) -> None:
    _refused(doors, "POST", "/access-media", _medium(**{field: value}), field)


# ---------------------------------------------------------------------- 7. revoke body


@pytest.mark.parametrize("body", [[{}], [], "reason", 1])
def test_revoke_with_a_body_that_is_not_an_object_is_refused(doors: Stack, body: Any) -> None:
    created = doors.api("POST", "/access-media", _medium())
    assert created.status == 202
    doors.queued(doors.jobs)
    _refused(doors, "POST", f"/keys/{created.body['key_id']}/revoke", body, "body")
    assert doors.api("GET", f"/keys/{created.body['key_id']}").body["status"]["code"] != "revoked"


# ----------------------------------------------------------------------------- 8. phones


@pytest.mark.parametrize(
    "phone", ["+41 79 123 45 67 ext. 12", "+41 79 123 45 67 x12", "+41791234567;ext=12"]
)
def test_phone_numbers_with_an_extension_are_refused(doors: Stack, phone: str) -> None:
    _refused(doors, "POST", "/digital-keys", _digital(phone=phone), "phone")


@pytest.mark.parametrize(
    "phone",
    [
        "+٤١ ٧٩ ١٢٣ ٤٥ ٦٧",  # Arabic-Indic digits (U+0660..U+0669)
        "+۴۱ ۷۹ ۱۲۳ ۴۵ ۶۷",  # Extended Arabic-Indic digits (U+06F0..U+06F9)
    ],
)
def test_arabic_indic_digits_are_accepted_as_the_same_number(doors: Stack, phone: str) -> None:
    created = doors.api("POST", "/digital-keys", _digital(phone=phone))
    assert created.status == 202, created.body
    # The key belongs to the E.164 number: blocking it in ASCII digits finds the key.
    blocked = doors.api("POST", "/phones/+41791234567/block")
    assert blocked.status == 202, blocked.body
    assert blocked.body["key_ids"] == [created.body["key_id"]]


@pytest.mark.parametrize("phone", ["+41 79 ABC 45 67", "+४१ ७९ १२३ ४५ ६७", "+41 79 123 45 67\x00"])
def test_other_phone_characters_are_refused(doors: Stack, phone: str) -> None:
    # Letters (vanity numbers) and digits of other scripts are not phone numbers here.
    _refused(doors, "POST", "/digital-keys", _digital(phone=phone), "phone")


# ------------------------------------------------------------------ 9. the largest key


def _item_bytes(item: dict[str, Any]) -> int:
    """The item's size by DynamoDB's rule (names plus values), as moto checks it on write."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    size: int = Item(DynamoType(item["pk"]), DynamoType(item["sk"]), item).size()
    return size


def test_the_largest_key_the_api_accepts_fits_in_a_dynamodb_item(stack: Stack) -> None:
    from keyworker import limits

    door_ids = [f"{i:03d}".ljust(limits.MAX_ID_LEN, "d") for i in range(limits.MAX_DOORS_PER_KEY)]
    for door_id in door_ids:
        response = stack.api(
            "PUT",
            f"/doors/{door_id}",
            {"name": "n" * limits.MAX_NAME_LEN, "kind": "unit", "connectivity": "online"},
        )
        assert response.status == 200, response.body
    stack.queued(stack.jobs)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert len(days) == limits.MAX_WEEKDAYS
    window = {"days": days, "start": "00:00", "end": "24:00"}
    body = _digital(
        holder_id="h" * limits.MAX_ID_LEN,
        door_ids=door_ids,
        valid_until="2036-01-05T00:00:00Z",
        schedule={
            "time_zone": "America/Argentina/ComodRivadavia",
            "windows": [window] * limits.MAX_WINDOWS,
        },
    )
    headers = {"Idempotency-Key": "i" * limits.MAX_ID_LEN}
    created = stack.api("POST", "/digital-keys", body, headers=headers)
    assert created.status == 202, created.body
    key_id = created.body["key_id"]
    # Signed and delivered (the worker stores what it did on the key), then revoked with the
    # longest reason: the key's item at its largest.
    assert stack.run_jobs().stats.failed == 0
    revoked = stack.api("POST", f"/keys/{key_id}/revoke", {"reason": "r" * limits.MAX_REASON})
    assert revoked.status == 202, revoked.body
    assert stack.run_jobs().stats.failed == 0
    assert stack.queued(stack.jobs) == []
    sizes = sorted(((_item_bytes(item), item["sk"]["S"]) for item in _items(stack)), reverse=True)
    largest, sk = sizes[0]
    print(f"\nlargest item: {largest} bytes ({sk}); DynamoDB's limit is 400 KB")
    # 400 KB is DynamoDB's limit; keep a quarter of it for what moto's count leaves out
    # (per-element overhead of lists and maps) and for growth.
    assert largest <= 300 * 1024, sizes[:3]


# ---------------------------------------------------------- 10. percent-encoded path ids


def test_a_percent_encoded_id_in_the_path_is_the_same_id(stack: Stack) -> None:
    # Found by the generated requests: API Gateway passes the path as sent, so `a%2Bb` would
    # have been refused as an id although it is how many clients send `a+b`.
    body = {"name": "Plus", "kind": "common", "connectivity": "online"}
    assert stack.api("PUT", "/doors/a%2Bb", body).status == 200
    shown = stack.api("GET", "/doors/a+b")
    assert shown.status == 200, shown.body
    assert shown.body["door_id"] == "a+b"
    # A segment that decodes to a slash names no door (and no other route).
    assert stack.api("GET", "/doors/a%2Fb").status == 400


def test_a_body_of_bytes_that_are_no_text_is_refused(doors: Stack) -> None:
    # Found by the generated requests: such a body reaches Lambda base64-encoded, and
    # Powertools failed decoding it (500).
    from keyworker.handlers import api
    from keyworker.local.apigw import LambdaContext, build_http_api_event

    before = _items(doors)
    event = build_http_api_event(
        "POST",
        "/v1/sites/site-1/revocations",
        {"content-type": "application/octet-stream"},
        b"\xca",
        {"sub": "admin-1", "sites": "site-1"},
    )
    event["headers"]["content-type"] = "application/json"
    result = api.handler(event, LambdaContext("keyworker-api"))
    assert result["statusCode"] == 400, result
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(result["body"])["field"] == "body"
    assert _items(doors) == before
