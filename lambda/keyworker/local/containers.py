"""Lambda containers as child processes.

A Lambda function scales by running more containers, each handling one invocation at a time.
The local stack does the same for the api function: a few child processes, each importing the
handler once (its composition root is built once per container, as on AWS), each serving one
request at a time. Separate processes also let the handlers use the machine's second core
while the emulator uses its own.
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from keyworker.local.apigw import LambdaContext
from keyworker.local.collector import settle_after_start

Handler = Callable[[dict[str, Any], Any], Any]


def load_handler(path: str) -> Handler:
    """The function ``module.attribute`` (a Lambda handler setting), imported."""
    module_name, _, attribute = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


def _container_main(handler_path: str, function_name: str, log_path: str, conn: Connection) -> None:
    # The stack ends its containers by closing their pipes; a signal to the whole process
    # group (Ctrl-C, a service manager's SIGTERM) is the stack's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The function's output goes where the stack's Lambda log is, as it would to CloudWatch.
    sys.stdout = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    handler = load_handler(handler_path)
    settle_after_start()
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return  # the stack closed the pipe (or is gone): this container ends
        try:
            response = handler(event, LambdaContext(function_name))
        except Exception as error:
            answer: tuple[str, Any] = ("error", f"{type(error).__name__}: {error}")
        else:
            answer = ("ok", response)
        try:
            conn.send(answer)
        except OSError:
            return


class FunctionError(RuntimeError):
    """The function raised (API Gateway answers 500) or its container died."""


class ProcessContainers:
    """Calls a handler in one of ``count`` container processes; blocks while all are busy."""

    def __init__(self, handler_path: str, function_name: str, count: int, log_path: str) -> None:
        if count < 1:
            raise ValueError("a function needs at least one container")
        self._handler_path = handler_path
        self._function_name = function_name
        self._count = count
        self._log_path = log_path
        self._context = multiprocessing.get_context("spawn")
        # None: the containers are stopped (callers waiting for one fail instead of waiting).
        self._idle: queue.Queue[tuple[Any, Connection] | None] = queue.Queue()
        self._all: list[tuple[Any, Connection]] = []
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        for _ in range(self._count):
            self._idle.put(self._spawn())

    def _spawn(self) -> tuple[Any, Connection]:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_container_main,
            args=(self._handler_path, self._function_name, self._log_path, child),
            name=f"{self._function_name}-container",
            daemon=True,
        )
        process.start()
        child.close()
        container = (process, parent)
        with self._lock:
            self._all.append(container)
        return container

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        container = self._idle.get()
        if container is None:
            self._idle.put(None)  # for the next caller
            raise FunctionError(f"{self._function_name} is stopping")
        process, conn = container
        try:
            conn.send(event)
            status, result = conn.recv()
        except (EOFError, OSError) as error:
            # The container died mid-invocation (or the stack is stopping): replace it unless
            # the stack stops, fail this request.
            conn.close()
            if not self._stopped:
                self._idle.put(self._spawn())
            raise FunctionError(f"{self._function_name} container exited") from error
        self._idle.put((process, conn))
        if status == "error":
            raise FunctionError(str(result))
        return result

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            containers, self._all = self._all, []
        self._idle.put(None)
        for _process, conn in containers:
            conn.close()
        for process, _ in containers:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
