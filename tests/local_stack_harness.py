"""Starting ``keyworker local`` as a subprocess and talking to it only through HTTP and the
emulator's SQS endpoint, as an outside client would (used by the end-to-end tests)."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import urllib3

from keyworker.local.tokens import LocalTokenIssuer

STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    api: str
    aws: str
    #: DynamoDB and DynamoDB Streams: an emulator process of their own.
    dynamodb: str
    state_dir: Path
    output: queue.Queue[str] = field(default_factory=queue.Queue)

    def token(self, *sites: str) -> str:
        return LocalTokenIssuer.for_state_dir(self.state_dir).issue(list(sites))

    def sqs(self) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def queue_url(self, suffix: str) -> str:
        sqs = self.sqs()
        for url in sqs.list_queues()["QueueUrls"]:
            if url.endswith(f"-{suffix}"):
                return str(url)
        raise AssertionError(f"no queue *-{suffix}")


class Api:
    """A bare HTTP client: status code and decoded JSON, nothing hidden."""

    def __init__(self, base: str, token: str | None, site: str) -> None:
        self.base = f"{base}/v1/sites/{site}"
        self.token = token
        self.http = urllib3.PoolManager(retries=False, timeout=30.0)

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        all_headers = {"content-type": "application/json", **headers}
        if self.token:
            all_headers["authorization"] = f"Bearer {self.token}"
        response = self.http.request(
            method,
            f"{self.base}{path}",
            body=None if body is None else json.dumps(body).encode(),
            headers=all_headers,
        )
        data = json.loads(response.data) if response.data else None
        return response.status, data

    def ok(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        status, data = self.call(method, path, body, **headers)
        assert status < 300, (method, path, status, data)
        return data


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def start_stack(tmp_path: Path, *extra: str, new_session: bool = False) -> RunningStack:
    """``keyworker local`` on free ports; ``new_session``: in a process group of its own (to
    signal the group as a terminal or a service manager does)."""
    env = {**os.environ, "KEYWORKER_STATE_DIR": str(tmp_path / ".keyworker")}
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keyworker.cli",
            "local",
            "--port",
            str(free_port()),
            "--aws-port",
            "0",
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=new_session,
    )
    assert process.stdout is not None
    stdout = process.stdout
    output: queue.Queue[str] = queue.Queue()
    # A thread reads the output: the two lines may arrive in one buffered read.
    threading.Thread(target=lambda: [output.put(line) for line in stdout], daemon=True).start()
    lines: dict[str, str] = {}
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    while not {"api", "aws", "dynamodb"} <= set(lines):
        try:
            line = output.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            raise AssertionError(f"keyworker local did not start: {''.join(seen)}") from None
        seen.append(line)
        name, _, value = line.partition(": ")
        if name in ("api", "aws", "dynamodb"):
            lines[name] = value.strip()
    stack = RunningStack(
        process, lines["api"], lines["aws"], lines["dynamodb"], tmp_path / ".keyworker"
    )
    stack.output = output
    return stack


def stop_stack(stack: RunningStack, signum: int = signal.SIGINT, *, group: bool = False) -> str:
    """Ctrl-C, as a person would (or ``signum``, to the whole process group with ``group``);
    returns what the stack printed after it started."""
    if group:
        os.killpg(stack.process.pid, signum)
    else:
        stack.process.send_signal(signum)
    return wait_for_exit(stack)


def wait_for_exit(stack: RunningStack, timeout: float = 60) -> str:
    """What the stack printed after it started, once it has exited (killed after ``timeout``)."""
    try:
        stack.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait()
    time.sleep(0.2)  # let the reader thread drain the pipe
    lines = []
    while not stack.output.empty():
        lines.append(stack.output.get())
    return "".join(lines)


def child_pids(pid: int) -> dict[int, str]:
    """The child processes of ``pid`` and their command lines (Linux /proc)."""
    children: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # The parent pid is the second field after the command name in parentheses.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            children[int(entry.name)] = cmdline
    return children
