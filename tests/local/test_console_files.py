"""The console's static files through the local gateway: served without a token and without
calling the api function, nothing outside ``console/``, the API behind them unchanged."""

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from keyworker.local.apigw import ApiGatewayServer
from keyworker.local.console import CONSOLE_DIR, ConsoleFiles, connect_url
from keyworker.local.tokens import LocalTokenIssuer


class Recorder:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self.paths.append(event["rawPath"])
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[ApiGatewayServer, Recorder, LocalTokenIssuer]]:
    tokens = LocalTokenIssuer.for_state_dir(tmp_path)
    recorder = Recorder()
    server = ApiGatewayServer(recorder, tokens, port=0, console=ConsoleFiles(CONSOLE_DIR))
    server.start()
    yield server, recorder, tokens
    server.stop()


def _get(server: ApiGatewayServer, path: str, method: str = "GET", token: str | None = None) -> Any:
    # http.client sends the path as written (urllib would normalise ../ away).
    host, port = urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_console_files_are_served_without_a_token_and_never_reach_the_function(
    gateway: Any,
) -> None:
    server, recorder, _ = gateway
    status, headers, body = _get(server, "/console/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body == (CONSOLE_DIR / "index.html").read_bytes()
    assert "script-src 'self'" in headers["content-security-policy"]
    status, headers, body = _get(server, "/console/js/app.js")
    assert (status, headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert body == (CONSOLE_DIR / "js" / "app.js").read_bytes()
    assert _get(server, "/console/console.css")[1]["content-type"] == "text/css; charset=utf-8"
    assert json.loads(_get(server, "/console/config.json")[2]) == {"api_base": ""}
    assert recorder.paths == []


def test_console_without_slash_is_redirected_so_relative_links_resolve(gateway: Any) -> None:
    server, _, _ = gateway
    status, headers, _ = _get(server, "/console")
    assert (status, headers["location"]) == (308, "/console/")


@pytest.mark.parametrize(
    "path",
    [
        "/console/../pyproject.toml",
        "/console/%2e%2e/pyproject.toml",
        "/console/js/../../README.md",
        "/console/js",
        "/console/missing.html",
    ],
)
def test_nothing_outside_the_console_directory_and_no_directories(gateway: Any, path: str) -> None:
    server, recorder, _ = gateway
    status, headers, body = _get(server, path)
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "/problems/not-found"
    assert recorder.paths == []


def test_console_paths_take_no_writes(gateway: Any) -> None:
    server, recorder, _ = gateway
    status, headers, _ = _get(server, "/console/index.html", method="POST")
    assert (status, headers["content-type"]) == (405, "application/problem+json")
    assert recorder.paths == []


def test_the_api_beside_the_console_still_needs_its_token(gateway: Any) -> None:
    server, recorder, tokens = gateway
    assert _get(server, "/v1/sites/s1/keys")[0] == 401
    assert _get(server, "/consoles")[0] == 401  # a prefix of a name is not the console
    assert _get(server, "/v1/sites/s1/keys", token=tokens.issue(["s1"]))[0] == 200
    assert recorder.paths == ["/v1/sites/s1/keys"]


def test_connect_url_carries_site_and_token_in_the_fragment_only() -> None:
    url = connect_url("http://127.0.0.1:8000", "site 1/x", "a.b-c_d")
    address, _, fragment = url.partition("#")
    assert address == "http://127.0.0.1:8000/console/"
    fields = dict(part.split("=", 1) for part in fragment.split("&"))
    assert {k: unquote(v) for k, v in fields.items()} == {"site": "site 1/x", "token": "a.b-c_d"}


def test_keyworker_console_prints_a_url_the_stacks_tokens_verify(tmp_path: Path) -> None:
    env = {"KEYWORKER_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "keyworker.cli", "console", "--site", "s1", "--api", "http://h:1"],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "PYTHONPATH": ":".join(sys.path)},
    ).stdout.strip()
    assert out.startswith("http://h:1/console/#site=s1&token=")
    token = unquote(out.split("token=", 1)[1])
    assert LocalTokenIssuer.for_state_dir(tmp_path).verify(token)["sites"] == "s1"


def test_the_console_is_not_in_the_package_so_not_in_the_lambda_layer() -> None:
    import keyworker

    package = Path(keyworker.__file__).parent
    assert not CONSOLE_DIR.is_relative_to(package)
    assert (CONSOLE_DIR / "index.html").is_file()
