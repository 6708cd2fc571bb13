"""``keyworker local`` as an outside client and a service manager meet it: every answer is a
problem document, whatever the request (through the real gateway, containers and emulator);
SIGTERM stops it as cleanly as Ctrl-C; an emulator that dies stops it with a clear message."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from local_stack_harness import (
    RunningStack,
    child_pids,
    start_stack,
    stop_stack,
    wait_for_exit,
)

from keyworker.api.body import MAX_BODY_BYTES
from keyworker.local.apigw import GATEWAY_MAX_BODY
from keyworker.local.stack import EXIT_EMULATOR_DIED

SITE = "site-hygiene"
MEDIUM = {
    "holder_id": "holder-1",
    "card_uid": "card-0001",
    "door_ids": ["front"],
    "valid_from": "2026-01-05T00:00:00Z",
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(tmp_path_factory.mktemp("stack"), "--simulate", "none")
    yield stack
    output = stop_stack(stack)
    assert stack.process.returncode == 0, output


class Client:
    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.token = stack.token(SITE)
        self.http = urllib3.PoolManager(retries=False, timeout=60.0, maxsize=8)

    def send(
        self, method: str, path: str, body: bytes | None, content_type: str = "application/json"
    ) -> tuple[int, dict[str, str], bytes]:
        response = self.http.request(
            method,
            f"{self.stack.api}/v1/sites/{SITE}{path}",
            body=body,
            headers={"authorization": f"Bearer {self.token}", "content-type": content_type},
        )
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.data

    def raw(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        host, port = self.stack.api.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(request)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )


@pytest.fixture(scope="module")
def client(running: RunningStack) -> Client:
    client = Client(running)
    status, _, body = client.send(
        "PUT",
        "/doors/front",
        json.dumps({"name": "Front", "kind": "common", "connectivity": "online"}).encode(),
    )
    assert status == 200, body
    return client


def problem(answer: tuple[int, dict[str, str], bytes], status: int) -> dict[str, Any]:
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"] == "application/problem+json", body[:300]
    document: dict[str, Any] = json.loads(body)
    assert document["status"] == status
    assert {"type", "title", "detail"} <= set(document)
    return document


# ------------------------------------------------------------------------ malformed bodies


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_json_as_another_content_type_is_415(client: Client, content_type: str) -> None:
    answer = client.send("POST", "/access-media", json.dumps(MEDIUM).encode(), content_type)
    assert problem(answer, 415)["field"] == "Content-Type"


def test_nested_100000_levels_is_400(client: Client) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    assert problem(client.send("POST", "/access-media", body), 400)["field"] == "body"


def test_a_body_that_is_not_utf8_is_400_not_a_dropped_connection(client: Client) -> None:
    body = json.dumps(MEDIUM).encode().replace(b"holder-1", b"holder-\xff")
    assert problem(client.send("POST", "/access-media", body), 400)["field"] == "body"


def test_a_body_over_the_api_limit_is_413_from_the_function(client: Client) -> None:
    body = json.dumps({**MEDIUM, "holder_id": "h" * MAX_BODY_BYTES}).encode()
    assert len(body) < GATEWAY_MAX_BODY
    assert problem(client.send("POST", "/access-media", body), 413)["type"] == (
        "/problems/payload-too-large"
    )


def test_a_body_over_the_gateway_limit_is_413_from_the_gateway(client: Client) -> None:
    request = (
        f"POST /v1/sites/{SITE}/access-media HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {client.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {GATEWAY_MAX_BODY + 1}\r\n\r\n"
    ).encode()
    problem(client.raw(request), 413)


def test_a_1mb_time_zone_is_answered_in_a_short_problem(client: Client) -> None:
    schedule = {
        "time_zone": "Z" * 1_000_000,
        "windows": [{"days": ["mon"], "start": "07:00", "end": "19:00"}],
    }
    status, headers, body = client.send(
        "POST", "/access-media", json.dumps({**MEDIUM, "schedule": schedule}).encode()
    )
    problem((status, headers, body), 400)
    assert len(body) < 2000


# ------------------------------------------------------------- what the gateway answers


def test_no_token_is_a_401_problem(client: Client) -> None:
    request = f"GET /v1/sites/{SITE}/keys HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    document = problem(client.raw(request), 401)
    assert document["type"] == "/problems/unauthenticated"


def test_an_overlong_uri_is_a_414_problem(client: Client) -> None:
    request = f"GET /v1/sites/{'s' * 70_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    problem(client.raw(request), 414)


def test_overlarge_headers_are_a_431_problem(client: Client) -> None:
    request = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * 70_000}\r\n\r\n".encode()
    problem(client.raw(request), 431)


def test_a_crashed_container_is_a_500_problem_and_the_next_request_is_served(
    client: Client,
) -> None:
    containers = [
        pid
        for pid, cmdline in child_pids(client.stack.process.pid).items()
        if "multiprocessing" in cmdline
    ]
    assert containers
    for pid in containers:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    document = problem(client.send("GET", "/doors/front", None), 500)
    assert "container" in document["detail"]
    for _ in range(len(containers)):  # every dead container is replaced as it is met
        client.send("GET", "/doors/front", None)
    status, _, body = client.send("GET", "/doors/front", None)
    assert status == 200, body


# --------------------------------------------------------------------------- lifecycle


class Load:
    """Clients calling the API (through the containers) until the stack goes away."""

    def __init__(self, stack: RunningStack, clients: int = 4) -> None:
        self.client = Client(stack)
        self.answered = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.client.send("GET", "/doors/nowhere", None)
            except Exception:  # the stack stopped: connection refused or reset
                return
            self.answered += 1

    def busy(self, answers: int = 20, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.answered < answers and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.answered >= answers

    def join(self) -> None:
        for thread in self.threads:
            thread.join(30)


@pytest.mark.parametrize("group", [False, True], ids=["stack-only", "process-group"])
def test_sigterm_stops_the_stack_as_cleanly_as_ctrl_c(tmp_path: Path, group: bool) -> None:
    # A service manager or `timeout` sends SIGTERM (systemd and timeout to the whole group),
    # here while requests are being served.
    stack = start_stack(tmp_path, "--simulate", "none", new_session=True)
    load = Load(stack)
    load.busy()
    output = stop_stack(stack, signal.SIGTERM, group=group)
    load.join()
    assert stack.process.returncode == 0, output
    assert "Traceback" not in output, output
    assert "stopped" in output
    assert not (stack.state_dir / "stack.json").exists()


def test_ctrl_c_to_the_process_group_is_clean(tmp_path: Path) -> None:
    # What a terminal does: SIGINT to every process of the foreground group.
    stack = start_stack(tmp_path, "--simulate", "none", new_session=True)
    load = Load(stack)
    load.busy()
    output = stop_stack(stack, signal.SIGINT, group=True)
    load.join()
    assert stack.process.returncode == 0, output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("which", [0, 1], ids=["started-first", "started-second"])
def test_an_emulator_that_dies_stops_the_stack_with_a_clear_message(
    tmp_path: Path, which: int
) -> None:
    """Either of the emulator's two processes (every service but DynamoDB, started first;
    DynamoDB and its streams)."""
    stack = start_stack(tmp_path, "--simulate", "none")
    emulators = sorted(
        pid
        for pid, cmdline in child_pids(stack.process.pid).items()
        if "keyworker.local.emulator" in cmdline
    )
    if len(emulators) != 2:
        stop_stack(stack)  # not left running after the test
        raise AssertionError(f"expected two emulator processes: {emulators}")
    emulator = emulators[which]
    os.kill(emulator, signal.SIGKILL)
    output = wait_for_exit(stack, timeout=90)
    assert stack.process.returncode == EXIT_EMULATOR_DIED, output
    assert "AWS emulator" in output
    assert f"pid {emulator}" in output
    assert "state" in output
    assert "gone" in output
    assert "Traceback" not in output, output
