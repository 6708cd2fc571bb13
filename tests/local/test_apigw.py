"""The local API Gateway stand-in, over real HTTP."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyworker.local.apigw import ApiGatewayServer
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
    status, _, body = _request(f"{server.url}/v1/sites/s1/keys", token=token)
    assert status == 401
    assert json.loads(body) == {"message": "Unauthorized"}
    assert recorder.events == []
