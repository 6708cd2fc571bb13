"""The local API Gateway stand-in, over real HTTP."""

import base64
import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyworker.local.apigw import GATEWAY_MAX_BODY, ApiGatewayServer
from keyworker.local.containers import ProcessContainers
from keyworker.local.tokens import LocalTokenIssuer


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Seen": "1"},
            "body": json.dumps({"path": event["rawPath"]}),
        }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiGatewayServer, Recorder, LocalTokenIssuer]]:
    tokens = LocalTokenIssuer.for_state_dir(tmp_path)
    recorder = Recorder()
    server = ApiGatewayServer(recorder, tokens, port=0)
    server.start()
    yield server, recorder, tokens
    server.stop()


def _request(
    url: str, method: str = "GET", body: bytes | None = None, token: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def test_request_becomes_http_api_v2_event_with_verified_claims(served: Any) -> None:
    server, recorder, tokens = served
    status, headers, body = _request(
        f"{server.url}/v1/sites/s1/keys?status=active&type=digital_key&status=revoked",
        method="POST",
        body=b'{"a": 1}',
        token=tokens.issue(["s1"]),
    )
    assert status == 201
    assert headers["x-seen"] == "1"
    assert json.loads(body) == {"path": "/v1/sites/s1/keys"}
    (event,) = recorder.events
    assert event["version"] == "2.0"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["queryStringParameters"] == {"status": "active,revoked", "type": "digital_key"}
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sites"] == "s1"


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
def test_missing_or_bad_token_is_401_and_never_reaches_the_handler(
    served: Any, token: str | None
) -> None:
    server, recorder, _ = served
    status, headers, body = _request(f"{server.url}/v1/sites/s1/keys", token=token)
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"] == "Bearer"
    problem = json.loads(body)
    assert problem["status"] == 401
    assert problem["type"] == "/problems/unauthenticated"
    assert recorder.events == []


# ------------------------------------------------------- what the gateway answers itself


def _raw(server: ApiGatewayServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request written byte for byte; the answer parsed by http.client."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> Any:
    assert status == expected, body[:200]
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == expected
    assert {"type", "title", "detail"} <= set(problem)
    return problem


def test_a_body_over_the_gateway_limit_is_413_problem_without_reading_it(served: Any) -> None:
    server, recorder, tokens = served
    request = (
        f"POST /v1/sites/s1/keys HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {tokens.issue(['s1'])}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {GATEWAY_MAX_BODY + 1}\r\n\r\n"
    ).encode()
    problem = _assert_problem(*_raw(server, request), 413)
    assert problem["type"] == "/problems/payload-too-large"
    assert recorder.events == []


@pytest.mark.parametrize("length", ["abc", "-5", "1, 2"])
def test_a_bad_content_length_is_400_problem(served: Any, length: str) -> None:
    server, recorder, _ = served
    request = f"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
    _assert_problem(*_raw(server, request), 400)
    assert recorder.events == []


def test_an_overlong_uri_is_414_problem(served: Any) -> None:
    server, recorder, _ = served
    request = f"GET /v1/sites/{'a' * 70_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    _assert_problem(*_raw(server, request), 414)
    assert recorder.events == []


@pytest.mark.parametrize(
    "headers",
    [
        "X-Big: " + "b" * 70_000 + "\r\n",  # one header line too long
        "".join(f"X-{i}: v\r\n" for i in range(150)),  # too many headers
    ],
)
def test_overlarge_headers_are_431_problem(served: Any, headers: str) -> None:
    server, recorder, _ = served
    request = f"GET /health HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()
    _assert_problem(*_raw(server, request), 431)
    assert recorder.events == []


def test_an_unknown_method_is_a_problem(served: Any) -> None:
    server, _, _ = served
    status, headers, body = _raw(server, b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status >= 400
    _assert_problem(status, headers, body, status)


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xff\xfe"}',  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # nested far beyond any parser's recursion limit
    ],
)
def test_any_body_reaches_the_function_unchanged(served: Any, body: bytes) -> None:
    # API Gateway does not judge bodies; the function does (tests/handlers). The stand-in must
    # not drop the connection on bytes that are not UTF-8.
    server, recorder, tokens = served
    status, _, _ = _request(
        f"{server.url}/v1/sites/s1/keys", method="POST", body=body, token=tokens.issue(["s1"])
    )
    assert status == 201
    (event,) = recorder.events
    received = (
        base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    )
    assert received == body


def answer_200(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A function for container processes (they import it by this module's name)."""
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


def test_a_crashed_container_is_500_problem_and_is_replaced(tmp_path: Path) -> None:
    containers = ProcessContainers(
        f"{__name__}.answer_200", "ApiFunction", 1, str(tmp_path / "lambda.log")
    )
    containers.start()
    server = ApiGatewayServer(containers, LocalTokenIssuer.for_state_dir(tmp_path), port=0)
    server.start()
    try:
        for process, _ in containers._all:
            process.kill()
            process.join(timeout=10)
        problem = _assert_problem(*_request(f"{server.url}/health"), 500)
        assert problem["type"] == "/problems/internal"
        assert "container" in problem["detail"]
        # The next request reaches a new container.
        status, _, body = _request(f"{server.url}/health")
        assert (status, body) == (200, b"{}")
    finally:
        server.stop()
        containers.stop()
