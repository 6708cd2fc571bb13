"""``keyworker local``: the whole stack in one process.

An embedded AWS emulator (moto, in two processes: DynamoDB, and the rest) holds the tables,
queues and secrets, created from ``infra/template.yaml``; the four Lambda handlers run
in-process behind the same triggers as on AWS (an HTTP server standing in for API Gateway and
its JWT authorizer, SQS pollers standing in for the event source mappings, a timer for the
schedule), and the field simulators answer like doors and the mobile-access cloud.
Everything is in memory: stopping the stack forgets its state.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from keyworker.adapters.secrets_keyring import SecretsManagerKeyring
from keyworker.credentials import Algorithm
from keyworker.local.apigw import ApiGatewayServer, LambdaContext
from keyworker.local.collector import settle_after_start
from keyworker.local.console import CONSOLE_DIR, PREFIX, ConsoleFiles
from keyworker.local.containers import Handler, ProcessContainers, load_handler
from keyworker.local.emulator import EmulatorProcess, EmulatorProcesses
from keyworker.local.resources import StackResources, create_phone_hash_secret, create_stack
from keyworker.local.simulators import (
    DelayedSender,
    DoorSimulator,
    MobileAccessSimulator,
    Simulation,
)
from keyworker.local.sqs_poller import QueuePoller
from keyworker.local.state import clear_stack_state, write_stack_state
from keyworker.local.stream_poller import StreamPoller, streams_client
from keyworker.local.tokens import AUDIENCE, ISSUER, SITES_CLAIM, LocalTokenIssuer

logger = logging.getLogger(__name__)

STACK_NAME = "keyworker-local"
#: ``keyworker local``'s exit code when the emulator died under it (its state is gone).
EXIT_EMULATOR_DIED = 3
_SITE_PATH = re.compile(r"^/v1/sites/([^/]+)(?:/|$)")


@dataclass(frozen=True, slots=True)
class LocalConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    aws_port: int = 0
    #: DynamoDB and its streams have an emulator process of their own (EmulatorProcesses).
    dynamodb_port: int = 0
    simulation: Simulation = field(default_factory=lambda: Simulation(enabled=True))
    state_dir: Path = Path(".keyworker")
    expiry_every_seconds: float = 300.0
    site_algorithm: Algorithm = Algorithm.ES256
    api_containers: int = 2
    #: Concurrent invocations per SQS event source (Lambda scales a mapping's pollers up to
    #: the template's MaximumConcurrency; here each is a polling thread).
    queue_concurrency: int = 3
    visibility_timeout: int | None = None
    max_receive_count: int | None = None
    lambda_log_path: str = "/dev/null"


class LocalStack:
    """Starts and stops every part; ``start`` returns once the API answers."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.emulator = EmulatorProcesses(
            host=config.host, port=config.aws_port, tables_port=config.dynamodb_port
        )
        self.resources: StackResources | None = None
        self.api: ApiGatewayServer | None = None
        self.api_containers: ProcessContainers | None = None
        self.mobile_access: MobileAccessSimulator | None = None
        self.doors: DoorSimulator | None = None
        self.pollers: list[QueuePoller] = []
        self.stream_pollers: list[StreamPoller] = []
        self._feedback: DelayedSender | None = None
        self._keyring: SecretsManagerKeyring | None = None
        self._sites: set[str] = set()
        self._sites_lock = threading.Lock()
        self._stop = threading.Event()
        self._timers: list[threading.Thread] = []
        #: Why the stack stopped by itself (None: it was asked to stop).
        self.failure: str | None = None

    # ------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        config = self.config
        self.emulator.start()
        for process in self.emulator.processes:
            threading.Thread(
                target=self._watch_emulator, args=(process,), name="emulator-watch", daemon=True
            ).start()
        # Every boto3 client of this process (the handlers' included) talks to the emulator.
        os.environ.update(self.emulator.environment())

        secrets_client = self.emulator.client("secretsmanager")
        phone_secret = create_phone_hash_secret(secrets_client, f"{STACK_NAME}/phone-hash-key")
        # The mobile-access cloud answers in every mode (the worker hands keys to it); only
        # with a simulation does it report deliveries and app reloads back.
        self.mobile_access = MobileAccessSimulator(
            keyring=self._keyring_for(secrets_client), feedback=None, host=config.host
        )
        self.resources = create_stack(
            self.emulator.client,
            stack_name=STACK_NAME,
            parameters={
                "JwtIssuer": ISSUER,
                "JwtAudience": AUDIENCE,
                "PhoneHashSecretArn": phone_secret,
                "MobileAccessUrl": self.mobile_access.url,
                **(
                    {"MaxReceiveCount": str(config.max_receive_count)}
                    if config.max_receive_count
                    else {}
                ),
            },
            visibility_timeout=config.visibility_timeout,
        )
        os.environ.update(self.resources.environment)
        # Webhooks go to this machine only (http allowed): the local stack's receivers are
        # `keyworker listen` and tests. On AWS this is never set (docs/webhooks.md, SSRF).
        os.environ["WEBHOOK_ALLOW_LOOPBACK"] = "true"

        sqs = self.emulator.client("sqs")
        events_queue = self.resources.queue_named("events")
        if config.simulation.enabled:
            self._feedback = DelayedSender(sqs, events_queue.url, config.simulation.delay_seconds)
            self.mobile_access.feedback = self._feedback
        self.mobile_access.start()

        for source in self.resources.event_sources:
            queue = self.resources.queues[source.queue]
            handler = load_handler(source.handler)
            self.pollers.extend(
                QueuePoller(
                    sqs,
                    queue.url,
                    queue.arn,
                    handler,
                    function_name=source.function,
                    batch_size=source.batch_size,
                    visibility_timeout=config.visibility_timeout,
                )
                for _ in range(config.queue_concurrency)
            )
        if self._feedback is not None:
            self.doors = DoorSimulator(self._keyring_for(secrets_client), self._feedback)
            door_commands = self.resources.queue_named("door-commands")
            self.pollers.append(
                QueuePoller(
                    sqs,
                    door_commands.url,
                    door_commands.arn,
                    self.doors,
                    "door-simulator",
                    visibility_timeout=config.visibility_timeout,
                )
            )
        for poller in self.pollers:
            poller.start()
        # The table's stream: one poller per mapping (Lambda reads each shard in order).
        for stream in self.resources.stream_sources:
            stream_poller = StreamPoller(
                streams_client(self.emulator.tables_endpoint),
                stream.stream_arn,
                load_handler(stream.handler),
                stream.function,
                batch_size=stream.batch_size,
                maximum_retry_attempts=stream.maximum_retry_attempts,
                batching_window_seconds=stream.batching_window_seconds,
            )
            self.stream_pollers.append(stream_poller)
            stream_poller.start()

        for schedule in self.resources.schedules:
            self._every(config.expiry_every_seconds, schedule.function, schedule.handler)

        self.api_containers = ProcessContainers(
            self.resources.handlers["ApiFunction"],
            "ApiFunction",
            config.api_containers,
            config.lambda_log_path,
        )
        self.api_containers.start()
        self.api = ApiGatewayServer(
            self._onboarding(self.api_containers),
            LocalTokenIssuer.for_state_dir(config.state_dir),
            host=config.host,
            port=config.port,
            # Absent only in an install without the repository's console/ (not make setup's).
            console=ConsoleFiles(CONSOLE_DIR) if CONSOLE_DIR.is_dir() else None,
        )
        self.api.start()
        self._write_state_file()

    def stop(self) -> None:
        self._stop.set()
        if self.api is not None:
            self.api.stop()
        if self.api_containers is not None:
            self.api_containers.stop()
        # All pollers end their long polls at once, not one after another (a second each).
        for poller in self.pollers:
            poller.request_stop()
        for poller in self.pollers:
            poller.stop()
        for running in self.stream_pollers:
            running.stop()
        for timer in self._timers:
            timer.join(timeout=30)
        if self._feedback is not None:
            self._feedback.stop()
        if self.mobile_access is not None:
            self.mobile_access.stop()
        self.emulator.stop()
        clear_stack_state(self.config.state_dir, os.getpid())

    def wait(self) -> None:
        """Block until ``stop`` is called (from a signal handler, say), or a part the stack
        cannot do without has failed (``failure`` says which)."""
        self._stop.wait()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask ``wait`` to return (safe from a signal handler)."""
        self._stop.set()

    def _watch_emulator(self, process: EmulatorProcess) -> None:
        # Every table, queue and secret lives in the emulator's memory: a new one would serve
        # none of them (and the functions' clients point at the old port). The stack stops
        # and says so rather than answer 503 for ever.
        pid = process.pid
        code = process.wait()
        if code is None or self._stop.is_set():
            return
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        self.failure = (
            f"the AWS emulator (pid {pid}) {how}; the stack's state (tables, queues, secrets) "
            "is gone with it. The stack stops: start `keyworker local` again."
        )
        logger.error(self.failure)
        self._stop.set()

    # ----------------------------------------------------------------------------- parts

    @property
    def api_url(self) -> str:
        assert self.api is not None
        return self.api.url

    @property
    def aws_url(self) -> str:
        return self.emulator.endpoint

    @property
    def dynamodb_url(self) -> str:
        return self.emulator.tables_endpoint

    def _keyring_for(self, secrets_client: Any) -> SecretsManagerKeyring:
        if self._keyring is None:
            prefix = os.environ.get("KEYS_SECRET_PREFIX", "keyworker")
            self._keyring = SecretsManagerKeyring(secrets_client, prefix=prefix)
        return self._keyring

    def ensure_site(self, site_id: str) -> None:
        """Onboard a site: its credential signing key and door master key.

        On AWS an operator does this once per site (``keyworker site create``); the local
        stack does it for every site a valid token names, on the site's first request.
        """
        with self._sites_lock:
            if site_id in self._sites:
                return
            keyring = self._keyring_for(self.emulator.client("secretsmanager"))
            try:
                keyring.create_site(
                    site_id,
                    algorithm=self.config.site_algorithm,
                    signing_kid=f"{site_id}-signing-1",
                    door_master_kid=f"{site_id}-doors-1",
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceExistsException":
                    raise
            self._sites.add(site_id)

    def _onboarding(self, handler: Handler) -> Handler:
        def handle(event: dict[str, Any], context: Any) -> Any:
            match = _SITE_PATH.match(event.get("rawPath", ""))
            claims = event["requestContext"].get("authorizer", {}).get("jwt", {}).get("claims", {})
            if match and match.group(1) in str(claims.get(SITES_CLAIM, "")).split():
                self.ensure_site(match.group(1))
            return handler(event, context)

        return handle

    def _every(self, seconds: float, function: str, handler_path: str) -> None:
        handler = load_handler(handler_path)

        def run() -> None:
            while not self._stop.wait(seconds):
                event = {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.scheduler",
                    "detail": {},
                }
                try:
                    handler(event, LambdaContext(function, timeout_seconds=300))
                except Exception:
                    logger.exception("scheduled %s failed", function)

        thread = threading.Thread(target=run, name=f"schedule-{function}", daemon=True)
        thread.start()
        self._timers.append(thread)

    def _write_state_file(self) -> None:
        """Where the stack is, for ``keyworker demo``/``revoke`` run from the same directory."""
        write_stack_state(
            self.config.state_dir,
            {
                "api": self.api_url,
                "aws": self.aws_url,
                "dynamodb": self.dynamodb_url,
                "pid": os.getpid(),
            },
        )


def run(
    config: LocalConfig,
    console: TextIO,
    lambda_log: TextIO,
    after_start: Callable[[LocalStack], None] | None = None,
    errors: TextIO | None = None,
) -> int:
    """Run the stack until SIGINT/SIGTERM (exit code 0), or until the emulator dies
    (:data:`EXIT_EMULATOR_DIED`, with the reason on ``errors``). Lambda output (logs, EMF
    metrics) goes to ``lambda_log``, as it would to CloudWatch; the console gets the
    endpoints. ``after_start`` (e.g. the demo) runs in a thread once the stack serves."""
    errors = errors or sys.stderr
    # The handlers' loggers bind the stream they find at import: point them at the log
    # before the stack imports them.
    sys.stdout = lambda_log
    stack = LocalStack(config)
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    settle_after_start()

    def shutdown(signum: int, _frame: Any) -> None:
        stack.request_stop()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    print(f"api: {stack.api_url}", file=console, flush=True)
    print(f"aws: {stack.aws_url}", file=console, flush=True)
    print(f"dynamodb: {stack.dynamodb_url}", file=console, flush=True)
    print(
        f"console: {stack.api_url}{PREFIX}/ (a token for it: keyworker console --site SITE)",
        file=console,
        flush=True,
    )
    mode = (
        "off"
        if not config.simulation.enabled
        else f"delay {config.simulation.delay_seconds:g}s"
        if config.simulation.delay_seconds
        else "instant"
    )
    print(
        f"simulators: {mode}; Lambda logs: {getattr(lambda_log, 'name', '-')}; Ctrl-C stops",
        file=console,
        flush=True,
    )
    if after_start is not None:
        threading.Thread(target=after_start, args=(stack,), name="after-start", daemon=True).start()
    stack.wait()
    if stack.failure is not None:
        print(f"keyworker local: {stack.failure}", file=errors, flush=True)
    print("stopping...", file=console, flush=True)
    stack.stop()
    print("stopped", file=console, flush=True)
    return 0 if stack.failure is None else EXIT_EMULATOR_DIED
