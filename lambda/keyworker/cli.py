"""The ``keyworker`` command line (see docs and ``keyworker --help``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def state_dir() -> Path:
    """Where the local stack keeps what a second command must find (the token secret, ports)."""
    return Path(os.environ.get("KEYWORKER_STATE_DIR", ".keyworker")).resolve()


def _cmd_token(args: argparse.Namespace) -> int:
    from keyworker.local.tokens import LocalTokenIssuer

    issuer = LocalTokenIssuer.for_state_dir(state_dir())
    print(issuer.issue(args.site, ttl_seconds=args.ttl))
    return 0


def _cmd_console(args: argparse.Namespace) -> int:
    from keyworker.local.client import local_api_and_token
    from keyworker.local.console import connect_url

    api, token = local_api_and_token(state_dir(), [args.site], args.api, None)
    print(connect_url(api, args.site, token))
    return 0


def _dynamodb_port(args: argparse.Namespace) -> int:
    if args.dynamodb_port is not None:
        return int(args.dynamodb_port)
    return 0 if args.aws_port == 0 else int(args.aws_port) + 1


def _cmd_local(args: argparse.Namespace) -> int:
    from keyworker.local.simulators import Simulation
    from keyworker.local.stack import LocalConfig, run

    try:
        simulation = Simulation.parse(args.simulate)
    except ValueError as error:
        print(f"keyworker local: {error}", file=sys.stderr)
        return 2
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    config = LocalConfig(
        host=args.host,
        port=args.port,
        aws_port=args.aws_port,
        dynamodb_port=_dynamodb_port(args),
        simulation=simulation,
        state_dir=directory,
        expiry_every_seconds=args.expiry_every,
        api_containers=args.api_containers,
        queue_concurrency=args.queue_concurrency,
        visibility_timeout=args.visibility_timeout,
        max_receive_count=args.max_receive_count,
        lambda_log_path=str(directory / "lambda.log"),
    )
    console = sys.stdout
    after_start = _demo_after_start(args, console) if args.demo else None
    with (directory / "lambda.log").open("a", encoding="utf-8", buffering=1) as lambda_log:
        try:
            return run(config, console=console, lambda_log=lambda_log, after_start=after_start)
        except OSError as error:
            print(f"keyworker local: {error}", file=sys.stderr)
            return 1
        finally:
            sys.stdout = console


def _demo_after_start(args: argparse.Namespace, console: Any) -> Callable[[Any], None]:
    """``keyworker local --demo``: run the demo against this stack once it serves."""

    def run_it(stack: Any) -> None:
        from keyworker.local.client import ApiClient, emulator_call_counter
        from keyworker.local.console import connect_url
        from keyworker.local.demo import DemoSize, new_site_id, run_demo
        from keyworker.local.tokens import LocalTokenIssuer

        site = new_site_id()
        token = LocalTokenIssuer.for_state_dir(state_dir()).issue([site])
        client = ApiClient(stack.api_url, token, site)
        # Printed first so the console can be watched while the demo fills the site.
        print(f"console: {connect_url(stack.api_url, site, token)}", file=console, flush=True)
        calls = emulator_call_counter([stack.aws_url, stack.dynamodb_url])
        code = run_demo(client, DemoSize(), console, aws_calls=calls)
        if stack.stopping:
            return  # the stack stopped under the demo: there is nothing to point at
        outcome = "finished" if code == 0 else "failed"
        print(
            f"\ndemo {outcome}; the stack keeps serving at {stack.api_url} (Ctrl-C stops)",
            file=console,
            flush=True,
        )

    return run_it


def _cmd_demo(args: argparse.Namespace) -> int:
    from keyworker.local.client import ApiClient, emulator_call_counter, local_api_and_token
    from keyworker.local.demo import DemoSize, new_site_id, run_demo
    from keyworker.local.state import read_stack_state

    site = args.site or new_site_id()
    api, token = local_api_and_token(state_dir(), [site], args.api, args.token)
    client = ApiClient(api, token, site)
    size = DemoSize(doors=args.doors, keys=args.keys, workers=args.workers)
    # The emulator's call count, when the API is the local stack started from here.
    state = read_stack_state(state_dir())
    same_stack = state is not None and api.rstrip("/") == str(state["api"]).rstrip("/")
    endpoints = [str(state[k]) for k in ("aws", "dynamodb") if k in state] if state else []
    calls = emulator_call_counter(endpoints if same_stack else [])
    return run_demo(client, size, sys.stdout, progress=not args.no_progress, aws_calls=calls)


def _cmd_listen(args: argparse.Namespace) -> int:
    import signal
    import threading

    from keyworker.local.client import ApiClient, ApiError, local_api_and_token
    from keyworker.local.listen import Listener

    api, token = local_api_and_token(state_dir(), [args.site], args.api, args.token)
    listener = Listener(ApiClient(api, token, args.site), sys.stdout, event_types=args.type)
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        listener.start()
    except (ApiError, OSError) as error:
        listener.stop()
        print(f"keyworker listen: {error}", file=sys.stderr)
        return 1
    print(
        f"listening on {listener.url} as webhook {listener.subscription_id} of site "
        f"{args.site}; Ctrl-C stops",
        flush=True,
    )
    try:
        stop.wait()
    finally:
        try:
            listener.stop()
        except (ApiError, OSError) as error:
            print(f"keyworker listen: could not delete the subscription: {error}", file=sys.stderr)
            return 1
    print(
        f"stopped: {listener.received} events, {listener.duplicates} duplicates dropped, "
        f"{listener.refused} refused; subscription deleted",
        flush=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyworker",
        description="Deploys and revokes door keys: local stack, tokens, demo, bulk revocations.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser(
        "local", help="run the whole stack on this machine (emulator, API, queues, simulators)"
    )
    local.add_argument("--host", default="127.0.0.1", help="address to serve on")
    local.add_argument("--port", type=int, default=8000, help="HTTP API port")
    local.add_argument(
        "--aws-port", type=int, default=4566, help="AWS emulator port (0 picks a free one)"
    )
    local.add_argument(
        "--dynamodb-port",
        type=int,
        default=None,
        help="the emulator's DynamoDB (and DynamoDB Streams) port; default: the one after "
        "--aws-port, or a free one when that is 0",
    )
    local.add_argument(
        "--simulate",
        default="instant",
        metavar="instant|delay=SECONDS|none",
        help="door and mobile-access simulators: confirm at once, after a delay, or never",
    )
    local.add_argument(
        "--expiry-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how often the scheduled expiry function runs (default: the template's 5 minutes)",
    )
    local.add_argument(
        "--queue-concurrency",
        type=_positive_int,
        default=3,
        metavar="N",
        help="concurrent invocations per SQS event source (worker, events)",
    )
    local.add_argument(
        "--api-containers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="api function containers (processes, one request at a time each)",
    )
    local.add_argument(
        "--visibility-timeout",
        type=int,
        default=5,
        metavar="SECONDS",
        help="queues' visibility timeout (the template's is minutes: a failed message "
        "would wait that long before its retry)",
    )
    local.add_argument(
        "--max-receive-count",
        type=int,
        metavar="N",
        help="receives before a message goes to its DLQ (default: the template's)",
    )
    local.add_argument(
        "--demo",
        action="store_true",
        help="once the stack serves, run `keyworker demo` against it (then keep serving)",
    )
    local.set_defaults(run=_cmd_local)

    demo = commands.add_parser(
        "demo", help="run a scripted scenario against the local stack and print what happened"
    )
    demo.add_argument("--site", help="site id to create (default: demo-<time>)")
    demo.add_argument("--doors", type=int, default=50, help="doors at the site")
    demo.add_argument("--keys", type=int, default=2000, help="keys to issue")
    demo.add_argument("--workers", type=int, default=8, help="concurrent API clients")
    demo.add_argument("--api", help="API base URL (default: the local stack started here)")
    demo.add_argument("--token", help="bearer token (default: minted for the local stack)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(run=_cmd_demo)

    token = commands.add_parser(
        "token", help="print a bearer token the local stack (same directory) accepts"
    )
    token.add_argument("--site", action="append", required=True, help="a site the token may use")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(run=_cmd_token)

    listen = commands.add_parser(
        "listen",
        help="receive the site's webhooks here: verify, print one line per event (Ctrl-C stops)",
    )
    listen.add_argument("--site", required=True, help="the site whose events to receive")
    listen.add_argument(
        "--type",
        action="append",
        metavar="TYPE",
        help="only this event type or family (key.*); repeat for more (default: all)",
    )
    listen.add_argument("--api", help="API base URL (default: the local stack started here)")
    listen.add_argument("--token", help="bearer token (default: minted for the local stack)")
    listen.set_defaults(run=_cmd_listen)

    console = commands.add_parser(
        "console",
        help="print the local stack's console address, signed in to a site (token in the URL)",
    )
    console.add_argument("--site", required=True, help="the site the console shows")
    console.add_argument("--api", help="API base URL (default: the local stack started here)")
    console.set_defaults(run=_cmd_console)

    from keyworker.revocation.cli import add_parser as add_revoke

    add_revoke(commands, state_dir=state_dir)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
