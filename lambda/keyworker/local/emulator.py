"""The embedded AWS emulator: moto's services on a local port.

State lives in the server's memory and is gone when the process ends.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress.server import create_server

from keyworker.local.collector import settle_after_start
from keyworker.local.moto_shims import (
    JsonFastPath,
    make_dynamodb_atomic,
    make_sqs_atomic,
    speed_up_moto,
)

REGION = "us-east-1"
# The emulator accepts any credentials; fixed fake ones keep boto3 from looking for real ones.
FAKE_ACCESS_KEY = "testing"
# Service names are chosen at run time here; boto3-stubs only types literal names.
_boto3: Any = boto3
FAKE_SECRET_KEY = "testing"


#: Request threads of the emulator's HTTP server. Long polls (the local event source mappings
#: wait up to a second per receive) each hold one, so there are plenty.
EMULATOR_THREADS = 24


@dataclass
class Emulator:
    """moto's AWS services behind a keep-alive HTTP server, in this process.

    moto ships its app with werkzeug's development server, which closes the connection after
    every response: each call of every boto3 client paid a new TCP connection and the server a
    new thread. waitress (a production WSGI server) keeps connections open and works off a
    thread pool; the app, and so every answer, is moto's own.
    """

    host: str = "127.0.0.1"
    port: int = 0
    threads: int = EMULATOR_THREADS
    app: JsonFastPath | None = field(default=None, init=False)
    _server: Any = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> str:
        make_dynamodb_atomic()
        make_sqs_atomic()
        speed_up_moto()
        # waitress warns when requests wait for a thread: normal under load, noise on a console.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        app = self.app = JsonFastPath(DomainDispatcherApplication(create_backend_app))
        self._server = create_server(
            app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            # Clients keep their connections for the stack's lifetime.
            channel_timeout=3600,
            connection_limit=1000,
            ident="keyworker-aws-emulator",
        )
        self._thread = threading.Thread(
            target=self._serve, args=(self._server,), name="aws-emulator", daemon=True
        )
        self._thread.start()
        return self.endpoint

    def _serve(self, server: Any) -> None:
        try:
            server.run()
        except OSError:
            # `stop` closes the channels under the loop's `select` (waitress has no public
            # shutdown for an embedded server): a closed descriptor there is the stop itself.
            if self._server is not None:
                raise

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # waitress has no public shutdown for an embedded server: stop its workers, then close
        # every channel of its socket map (the listener included), which ends its loop.
        server.task_dispatcher.shutdown(timeout=5)
        for channel in list(server._map.values()):
            channel.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

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
    lock between them. The child exits when this process closes its stdin (or dies); it
    ignores SIGINT and SIGTERM, which a terminal or a service manager sends to the whole
    process group, so that the stack stops it in order."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[str] | None = None
        self._endpoint: str | None = None
        self._ready: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> str:
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the child without waiting for it (:meth:`wait_ready` does): two emulator
        processes import moto side by side, a second and a half each."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "keyworker.local.emulator", self.host, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self._ready = []
        self._reader = threading.Thread(
            target=lambda: self._ready.append(self._process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        self._reader.start()

    def wait_ready(self, timeout: float = 60.0) -> str:
        """The child's endpoint once it serves (it stops the child that did not start)."""
        if self._reader is None:
            raise RuntimeError("the AWS emulator was not started")
        self._reader.join(timeout)
        line = self._ready[0].strip() if self._ready else ""
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

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def wait(self) -> int | None:
        """Block until the child exits; its exit code (None: it was never started)."""
        process = self._process
        return None if process is None else process.wait()

    def client(self, service: str) -> Any:
        return client_for(self.endpoint, service)


#: The services of the tables' emulator: DynamoDB and its streams (one process: a stream
#: is read from the process whose table writes it).
TABLE_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})


class EmulatorProcesses:
    """The AWS emulator as two processes: DynamoDB with its streams in one, every other
    service (SQS, Secrets Manager, EventBridge) in the other. moto answers in Python, and
    one process answers one call at a time however many threads serve it (one interpreter
    lock): the local stack's busiest service, DynamoDB, was the one process the demo waited
    for, at ~0.8 of a core, while SQS's receives and sends took their turns in it
    (docs/local-stack.md). Apart, each has an interpreter lock of its own.

    Clients pick the process by service: :meth:`client`, or the environment of
    :meth:`environment` (``AWS_ENDPOINT_URL`` and the per-service
    ``AWS_ENDPOINT_URL_DYNAMODB``/``_DYNAMODB_STREAMS`` that AWS SDKs and the AWS CLI read)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tables_port: int = 0) -> None:
        self.services = EmulatorProcess(host=host, port=port)
        self.tables = EmulatorProcess(host=host, port=tables_port)

    def start(self) -> str:
        """Both processes, started side by side (both stopped when either cannot start); the
        services' endpoint."""
        self.services.spawn()
        try:
            self.tables.spawn()
            endpoint = self.services.wait_ready()
            self.tables.wait_ready()
        except BaseException:
            self.tables.stop()
            self.services.stop()
            raise
        return endpoint

    def stop(self) -> None:
        self.tables.stop()
        self.services.stop()

    @property
    def endpoint(self) -> str:
        """Every service's but DynamoDB's (and its streams')."""
        return self.services.endpoint

    @property
    def tables_endpoint(self) -> str:
        return self.tables.endpoint

    @property
    def processes(self) -> tuple[EmulatorProcess, EmulatorProcess]:
        return self.services, self.tables

    def endpoint_for(self, service: str) -> str:
        return self.tables_endpoint if service in TABLE_SERVICES else self.endpoint

    def client(self, service: str) -> Any:
        return client_for(self.endpoint_for(service), service)

    def environment(self) -> dict[str, str]:
        return environment_for(self.endpoint, tables_endpoint=self.tables_endpoint)


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


def environment_for(endpoint: str, *, tables_endpoint: str | None = None) -> dict[str, str]:
    """Environment variables that point AWS SDKs (boto3, the AWS CLI) at the emulator (and
    DynamoDB with its streams at ``tables_endpoint``, when they have a process of their own:
    :class:`EmulatorProcesses`)."""
    tables = (
        {
            "AWS_ENDPOINT_URL_DYNAMODB": tables_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": tables_endpoint,
        }
        if tables_endpoint
        else {}
    )
    return {
        **tables,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
    }


def _serve_until_stdin_closes(host: str, port: int) -> None:
    # The parent decides when this process ends (it closes the pipe); a signal sent to the
    # whole group (Ctrl-C, a service manager's SIGTERM) is the parent's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    emulator = Emulator(host=host, port=port)
    try:
        endpoint = emulator.start()
    except OSError as error:
        print(f"failed {error}", flush=True)
        raise SystemExit(1) from None
    settle_after_start()
    print(f"ready {endpoint}", flush=True)
    sys.stdin.read()  # returns when the parent closes the pipe or exits
    emulator.stop()


if __name__ == "__main__":
    _serve_until_stdin_closes(sys.argv[1], int(sys.argv[2]))
