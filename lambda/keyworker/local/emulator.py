"""The embedded AWS emulator: moto's threaded server on a local port.

State lives in the server's memory and is gone when the process ends.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
# The emulator accepts any credentials; fixed fake ones keep boto3 from looking for real ones.
FAKE_ACCESS_KEY = "testing"
# Service names are chosen at run time here; boto3-stubs only types literal names.
_boto3: Any = boto3
FAKE_SECRET_KEY = "testing"


# DynamoDB applies each single-item request atomically (a conditional write's check and write
# are one step). moto evaluates the condition and stores the item as separate Python steps
# without a lock, so concurrent requests could interleave inside it and both "win" a
# conditional write. Serialising the emulator's item operations gives it DynamoDB's
# per-request atomicity, and nothing more.
_ATOMIC_OPERATIONS = ("put_item", "update_item", "delete_item", "get_item", "transact_write_items")
_emulator_lock = threading.RLock()


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _emulator_lock:
            return method(*args, **kwargs)

    wrapper.__keyworker_atomic__ = True  # type: ignore[attr-defined]
    return wrapper


def make_dynamodb_atomic(set_attribute: Callable[[Any, str, Any], None] = setattr) -> None:
    """Give the in-process DynamoDB emulator per-request atomicity (see above). Idempotent;
    tests pass ``monkeypatch.setattr`` to undo it afterwards."""
    for name in _ATOMIC_OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__keyworker_atomic__", False):
            set_attribute(DynamoDBBackend, name, _atomic(method))


@dataclass
class Emulator:
    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadedMotoServer | None = field(default=None, init=False)

    def start(self) -> str:
        make_dynamodb_atomic()
        # One line per request from the emulator's HTTP server is noise on a console.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self, service: str) -> Any:
        return client_for(self.endpoint, service)

    def resource(self, service: str) -> Any:
        return _boto3.resource(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=FAKE_ACCESS_KEY,
            aws_secret_access_key=FAKE_SECRET_KEY,
        )


class EmulatorProcess:
    """The emulator in a child process, so it has a core of its own: the stack's handlers and
    the emulator both spend their time in Python, and one process would share one interpreter
    lock between them. The child exits when this process closes its stdin (or dies)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[str] | None = None
        self._endpoint: str | None = None

    def start(self, timeout: float = 60.0) -> str:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "keyworker.local.emulator", self.host, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        ready: list[str] = []
        reader = threading.Thread(
            target=lambda: ready.append(self._process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        line = ready[0].strip() if ready else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"the AWS emulator did not start on {self.host}:{self.port}")
        self._endpoint = line.split(" ", 1)[1]
        return self._endpoint

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("the emulator is not running")
        return self._endpoint

    def client(self, service: str) -> Any:
        return client_for(self.endpoint, service)


def client_for(endpoint: str, service: str) -> Any:
    """A boto3 client for the emulator at ``endpoint`` (standard retries, fake credentials)."""
    return _boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )


def environment_for(endpoint: str) -> dict[str, str]:
    """Environment variables that point AWS SDKs (boto3, the AWS CLI) at the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
    }


def _serve_until_stdin_closes(host: str, port: int) -> None:
    emulator = Emulator(host=host, port=port)
    try:
        endpoint = emulator.start()
    except OSError as error:
        print(f"failed {error}", flush=True)
        raise SystemExit(1) from None
    print(f"ready {endpoint}", flush=True)
    sys.stdin.read()  # returns when the parent closes the pipe or exits
    emulator.stop()


if __name__ == "__main__":
    _serve_until_stdin_closes(sys.argv[1], int(sys.argv[2]))
