"""Requests that are not what the API takes — wrong content type, too large, nested beyond
reason, not UTF-8, huge values — answer 4xx problem+json (never 500), echo no more than a
short piece of the input, and change nothing. Field names have one spelling (dotted paths)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from handler_harness import SITE, Stack, cloud_event

from keyworker.api.body import MAX_BODY_BYTES, MAX_DEPTH
from keyworker.api.problems import ECHO_LIMIT
from keyworker.handlers import api
from keyworker.local.apigw import LambdaContext, build_http_api_event

FROM = "2026-01-05T00:00:00Z"


def medium(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "holder_id": "holder-1",
        "card_uid": "card-0001",
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
    stack.queued(stack.jobs)
    return stack


def nothing_created(stack: Stack) -> None:
    assert stack.api("GET", "/keys").body["items"] == []
    assert stack.queued(stack.jobs) == []


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The api handler with a hand-made event (what API Gateway may send, beyond the harness)."""
    result = api.handler(event, LambdaContext("keyworker-api"))
    return int(result["statusCode"]), dict(result["headers"]), json.loads(result["body"])


def event_for(body: bytes | str, *, content_type: str = "application/json") -> dict[str, Any]:
    claims = {"sub": "admin-1", "sites": SITE}
    raw = body.encode() if isinstance(body, str) else body
    return build_http_api_event(
        "POST", f"/v1/sites/{SITE}/access-media", {"content-type": content_type}, raw, claims
    )


# --------------------------------------------------------------------------- content type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "text/html"],
)
def test_a_json_body_with_another_content_type_is_415(doors: Stack, content_type: str) -> None:
    response = doors.api("POST", "/access-media", medium(), headers={"content-type": content_type})
    problem = assert_problem(response, 415, "Content-Type")
    assert problem["type"] == "/problems/unsupported-media-type"
    nothing_created(doors)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON"],
)
def test_json_content_types_are_taken(doors: Stack, content_type: str) -> None:
    response = doors.api("POST", "/access-media", medium(), headers={"content-type": content_type})
    assert response.status == 202, response.body


def test_a_json_body_in_another_charset_is_415(doors: Stack) -> None:
    response = doors.api(
        "POST",
        "/access-media",
        medium(),
        headers={"content-type": "application/json; charset=iso-8859-1"},
    )
    assert_problem(response, 415, "Content-Type")
    nothing_created(doors)


# ------------------------------------------------------------------------------- nesting


def deeply_nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/access-media", deeply_nested(100_000)),
        (
            "/access-media",
            json.dumps(medium(holder_id="x"))[:-1] + ', "x": ' + deeply_nested(100_000) + "}",
        ),
        ("/doors/lobby", '{"name": ' + deeply_nested(100_000) + "}"),
        ("/events", '{"data": ' + deeply_nested(100_000) + "}"),
        # Unclosed: nested beyond the parser's reach before it finds the syntax error.
        ("/access-media", "[" * 100_000),
    ],
)
def test_a_body_nested_100000_levels_is_400(doors: Stack, path: str, body: str) -> None:
    method = "PUT" if path.startswith("/doors") else "POST"
    response = doors.api(method, path, raw_body=body.encode())
    problem = assert_problem(response, 400, "body")
    assert problem["type"] == "/problems/invalid-request"
    nothing_created(doors)


def test_nesting_is_capped_well_below_the_parser_limit(doors: Stack) -> None:
    too_deep = '{"name": ' + deeply_nested(MAX_DEPTH) + "}"
    assert_problem(doors.api("PUT", "/doors/lobby", raw_body=too_deep.encode()), 400, "body")
    # Within the cap the request reaches validation, which names the field.
    within = '{"name": ' + deeply_nested(MAX_DEPTH - 1) + "}"
    assert_problem(doors.api("PUT", "/doors/lobby", raw_body=within.encode()), 400, "name")


# ---------------------------------------------------------------------------------- size


def test_a_body_over_the_limit_is_413(doors: Stack) -> None:
    body = json.dumps(medium(holder_id="h" * MAX_BODY_BYTES))
    problem = assert_problem(doors.api("POST", "/access-media", raw_body=body.encode()), 413)
    assert problem["type"] == "/problems/payload-too-large"
    assert len(json.dumps(problem)) < 1000
    nothing_created(doors)


def test_a_base64_body_over_the_limit_is_413(doors: Stack) -> None:
    event = event_for(b"", content_type="application/json")
    event["body"] = base64.b64encode(b" " * (MAX_BODY_BYTES + 1)).decode()
    event["isBase64Encoded"] = True
    status, headers, problem = invoke(event)
    assert status == 413
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["type"] == "/problems/payload-too-large"


def test_a_body_at_the_limit_is_read(doors: Stack) -> None:
    # Padding (JSON whitespace) up to exactly the limit: the request is served.
    body = json.dumps(medium()).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    assert len(body) == MAX_BODY_BYTES
    assert doors.api("POST", "/access-media", raw_body=body).status == 202


# ----------------------------------------------------------------------------- encoding


def test_a_body_that_is_not_utf8_is_400(doors: Stack) -> None:
    body = json.dumps(medium()).encode().replace(b"holder-1", b"holder-\xff\xfe")
    problem = assert_problem(doors.api("POST", "/access-media", raw_body=body), 400, "body")
    assert "UTF-8" in problem["detail"]
    nothing_created(doors)


def test_a_base64_encoded_body_that_is_not_utf8_is_400(doors: Stack) -> None:
    # What API Gateway hands the function for a body it does not take as text.
    event = event_for(b"")
    event["body"] = base64.b64encode(b'{"holder_id": "\xc3\x28"}').decode()
    event["isBase64Encoded"] = True
    status, headers, problem = invoke(event)
    assert status == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["field"] == "body"


# ------------------------------------------------------------------------- echoed input


def test_a_1mb_time_zone_gives_a_small_problem(doors: Stack) -> None:
    huge = "Z" * 1_000_000
    schedule = {"time_zone": huge, "windows": [{"days": ["mon"], "start": "07:00", "end": "19:00"}]}
    response = doors.api("POST", "/access-media", medium(schedule=schedule))
    problem = assert_problem(response, 400, "schedule.time_zone")
    assert len(json.dumps(problem)) < 2000, len(json.dumps(problem))
    assert "Z" * (ECHO_LIMIT + 1) not in json.dumps(problem)
    nothing_created(doors)


def test_a_huge_unknown_field_name_is_cut_in_field_and_detail(doors: Stack) -> None:
    name = "q" * 200_000
    body = {"name": "x", "kind": "unit", "connectivity": "online", name: 1}
    problem = assert_problem(doors.api("PUT", "/doors/lobby", body), 400)
    text = json.dumps(problem)
    assert len(text) < 2000
    assert problem["field"].startswith("q" * ECHO_LIMIT)
    assert len(problem["field"]) <= ECHO_LIMIT + 1
    assert all(len(e["field"]) <= ECHO_LIMIT + 1 for e in problem["errors"])


def test_a_huge_value_with_spaces_is_cut_too(doors: Stack) -> None:
    tz = "Europe/ " * 100_000
    schedule = {"time_zone": tz, "windows": [{"days": ["mon"], "start": "07:00", "end": "19:00"}]}
    problem = assert_problem(doors.api("POST", "/access-media", medium(schedule=schedule)), 400)
    assert len(json.dumps(problem)) < 4000


def test_short_values_are_echoed_whole(doors: Stack) -> None:
    schedule = {
        "time_zone": "Mars/Olympus",
        "windows": [{"days": ["mon"], "start": "07:00", "end": "19:00"}],
    }
    problem = assert_problem(doors.api("POST", "/access-media", medium(schedule=schedule)), 400)
    assert problem["field"] == "schedule.time_zone"


# ---------------------------------------------------------------------------- field names


DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


def all_fields(problem: dict[str, Any]) -> list[str]:
    return [problem["field"], *(e["field"] for e in problem.get("errors") or [])]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        # pydantic (request validation)
        (
            "/access-media",
            medium(schedule={"time_zone": "UTC", "windows": [{"days": ["mon"], "end": "19:00"}]}),
            "schedule.windows.0.start",
        ),
        ("/access-media", medium(door_ids=["front", 3]), "door_ids.1"),
        # the core (schedule rules)
        (
            "/access-media",
            medium(
                schedule={
                    "time_zone": "UTC",
                    "windows": [{"days": ["mon"], "start": "25:00", "end": "26:00"}],
                }
            ),
            "schedule.windows.0.start",
        ),
        # field events (pydantic inside the feedback parser)
        (
            "/events",
            cloud_event("door.synced", {"site_id": SITE, "door_id": "front", "version": "x"}),
            "data.version",
        ),
    ],
)
def test_fields_are_named_as_dotted_paths(doors: Stack, path: str, body: Any, field: str) -> None:
    problem = assert_problem(doors.api("POST", path, body), 400, field)
    for name in all_fields(problem):
        assert DOTTED.match(name), name
    # No field in the bracket spelling (a pattern quoted in the message may hold brackets).
    assert not re.search(r"\w\[\d+\]", problem["detail"]), problem["detail"]
