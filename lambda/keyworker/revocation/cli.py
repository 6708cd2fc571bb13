"""``keyworker revoke``: start a bulk revocation run through the HTTP API, follow it with a
progress bar and print its report; or show or cancel a run.

    keyworker revoke --site S (--all | --door D ... | --holder H ... | --phone P ... | --key K ...)
                     [--type access_medium|digital_key] [--status CODE ...] [--reason TEXT]
                     [--dry-run] [--json] [--no-follow]
    keyworker revoke --site S --status-of RUN_ID [--json]
    keyworker revoke --site S --cancel RUN_ID [--json]

The API is ``--api`` (or ``KEYWORKER_API``, or the local stack started from this directory,
or http://127.0.0.1:8000); the bearer token ``--token`` (or ``KEYWORKER_TOKEN``, or minted for
the local stack of this directory). Exit status: 0 the run finished (or was planned, cancelled,
shown); 1 the API refused or failed; 3 the run finished with keys it could not revoke.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from keyworker.local.client import ApiClient

# Imports of the HTTP client, the token issuer and tqdm happen when the command runs, so that
# building the ``keyworker`` parser stays instant.

FINISHED = ("planned", "done", "cancelled")
EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_KEYS_FAILED = 3


def add_parser(commands: Any, *, state_dir: Callable[[], Path]) -> None:
    """Adds ``revoke`` to the ``keyworker`` command's subparsers."""
    revoke = commands.add_parser(
        "revoke",
        help="start, follow and report bulk revocation runs (or show / cancel one)",
        description="Start a bulk revocation run through the HTTP API, follow it with a "
        "progress bar and print its report; or show or cancel a run.",
    )
    revoke.add_argument("--site", required=True, help="the site of the run")
    what = revoke.add_mutually_exclusive_group(required=True)
    what.add_argument("--all", action="store_true", help="every key of the site")
    for flag, metavar, help_text in (
        ("--door", "DOOR", "keys with a row at these doors"),
        ("--holder", "HOLDER", "keys of these keyholders"),
        ("--phone", "PHONE", "digital keys of these phone numbers"),
        ("--key", "KEY", "these keys"),
    ):
        what.add_argument(flag, action="extend", nargs="+", metavar=metavar, help=help_text)
    what.add_argument("--status-of", metavar="RUN_ID", help="show a run (progress, report)")
    what.add_argument("--cancel", metavar="RUN_ID", help="cancel a run")
    revoke.add_argument("--type", choices=("access_medium", "digital_key"), help="only this type")
    revoke.add_argument(
        "--status",
        action="extend",
        nargs="+",
        metavar="CODE",
        help="only keys whose general status is now CODE (repeatable)",
    )
    revoke.add_argument("--reason", help="why (kept in every key's audit trail)")
    revoke.add_argument("--dry-run", action="store_true", help="plan only: change nothing")
    revoke.add_argument("--json", action="store_true", help="print the run as JSON")
    revoke.add_argument(
        "--no-follow", action="store_true", help="start and print the run id; do not wait"
    )
    revoke.add_argument("--api", help="API base URL (default: KEYWORKER_API or the local stack)")
    revoke.add_argument("--token", help="bearer token (default: KEYWORKER_TOKEN or minted)")
    revoke.add_argument(
        "--interval", type=float, default=1.0, metavar="SECONDS", help="polling interval"
    )
    revoke.set_defaults(run=lambda args: run(args, state_dir=state_dir()))


def connect(args: argparse.Namespace, state_dir: Path) -> ApiClient:
    """The API client: flags, then environment, then the local stack of ``state_dir``."""
    from keyworker.local.client import DEFAULT_API, ApiClient
    from keyworker.local.state import read_stack_state
    from keyworker.local.tokens import LocalTokenIssuer

    stack = read_stack_state(state_dir)
    api = args.api or os.environ.get("KEYWORKER_API") or (stack or {}).get("api") or DEFAULT_API
    token = args.token or os.environ.get("KEYWORKER_TOKEN")
    if token is None:
        if stack is None:
            raise SystemExit(
                "keyworker revoke: no token: pass --token, set KEYWORKER_TOKEN, or start "
                "`keyworker local` from this directory"
            )
        token = LocalTokenIssuer.for_state_dir(state_dir).issue([args.site])
    return ApiClient(str(api), token, args.site)


def selector_of(args: argparse.Namespace) -> dict[str, Any]:
    selector: dict[str, Any]
    if args.all:
        selector = {"all": True}
    elif args.door:
        selector = {"door_ids": args.door}
    elif args.holder:
        selector = {"holder_ids": args.holder}
    elif args.phone:
        selector = {"phones": args.phone}
    else:
        selector = {"key_ids": args.key}
    if args.type:
        selector["type"] = args.type
    if args.status:
        selector["status"] = args.status
    return selector


def run(
    args: argparse.Namespace,
    *,
    state_dir: Path,
    out: TextIO | None = None,
    client: ApiClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    from keyworker.local.client import ApiError

    out = out or sys.stdout
    try:
        api = client or connect(args, state_dir)
        if args.status_of:
            view = api.get(f"/revocations/{args.status_of}")
        elif args.cancel:
            view = api.post(f"/revocations/{args.cancel}/cancel")
        else:
            body: dict[str, Any] = {"selector": selector_of(args), "dry_run": args.dry_run}
            if args.reason:
                body["reason"] = args.reason
            # One key per invocation: the client's own retries cannot start a second run.
            view = api.post("/revocations", body, idempotency_key=str(uuid.uuid4()))
            if not args.no_follow:
                view = follow(api, view["run_id"], interval=args.interval, sleep=sleep)
    except ApiError as error:
        print(f"keyworker revoke: {error}", file=sys.stderr)
        return EXIT_API_ERROR
    if args.json:
        print(json.dumps(view, indent=2), file=out)
    elif args.no_follow and not (args.status_of or args.cancel):
        print(f"run {view['run_id']} {view['state']}", file=out)
    else:
        print_run(view, out)
    failed = view.get("counts", {}).get("failed", 0)
    return EXIT_KEYS_FAILED if view.get("state") == "done" and failed else EXIT_OK


def follow(
    api: ApiClient,
    run_id: str,
    *,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    desc: str | None = None,
    disable: bool | None = None,
    leave: bool = True,
) -> dict[str, Any]:
    """Polls the run until it is finished, with a progress bar of its keys (on stderr;
    ``disable`` None: off when stderr is not a terminal)."""
    from tqdm import tqdm

    bar: tqdm[Any] | None = None
    try:
        while True:
            view: dict[str, Any] = api.get(f"/revocations/{run_id}")
            progress = view["progress"]
            if view["state"] != "planning" and bar is None:
                bar = tqdm(
                    total=progress["keys_total"],
                    unit="key",
                    desc=desc or f"run {run_id[:8]}",
                    disable=disable,
                    leave=leave,
                )
            if bar is not None:
                bar.update(progress["keys_done"] - bar.n)
                bar.set_postfix(state=view["state"], refresh=False)
            if view["state"] in FINISHED:
                return view
            sleep(interval)
    finally:
        if bar is not None:
            bar.close()


# Doors a person reads per list; ``--json`` has every door the API lists.
SHOWN_DOORS = 20


def _doors(entries: Sequence[dict[str, Any]], total: int, out: TextIO, title: str) -> None:
    print(f"{title} ({total}):", file=out)
    for e in entries[:SHOWN_DOORS]:
        pending = e.get("pending_changes")
        tail = "" if pending is None else f", {pending} version(s) unconfirmed now"
        print(
            f"  {e['door_id']:<20} {e['kind']:<6} {e['keys']:>6} key(s) "
            f"{e['changes']:>4} change(s){tail}",
            file=out,
        )
    if total > min(len(entries), SHOWN_DOORS):
        print(
            f"  ... and {total - min(len(entries), SHOWN_DOORS)} more (--json lists them)", file=out
        )


def print_run(view: dict[str, Any], out: TextIO) -> None:
    """The run for a person: state, plan, counts, doors to visit, failures."""
    selector = ", ".join(f"{k}={v}" for k, v in view["selector"].items())
    dry = " (dry run)" if view["dry_run"] else ""
    print(f"run {view['run_id']}: {view['state']}{dry}  [{selector}]", file=out)
    if view.get("reason"):
        print(f"reason: {view['reason']}", file=out)
    plan = view.get("plan")
    if plan:
        statuses = ", ".join(f"{k} {n}" for k, n in plan["by_status"].items()) or "none"
        print(
            f"plan: {plan['selected']} key(s) selected ({statuses}); {plan['to_revoke']} to "
            f"revoke, {plan['already_revoked']} already revoked, "
            f"{len(plan['cannot_revoke']) + len(plan['not_found'])} cannot be revoked",
            file=out,
        )
        print(
            f"      {plan['complete_at_once']} complete at once; "
            f"{plan['digital_keys_waiting_for_app']} digital key(s) will wait for an app reload; "
            f"{plan['chunks']} chunk(s)",
            file=out,
        )
    report = view.get("report")
    if view["state"] in ("done", "cancelled", "running", "cancelling"):
        counts = view["counts"]
        print(
            "counts: " + ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in counts.items()),
            file=out,
        )
    source = report or plan
    if source:
        _doors(
            source["doors_to_visit"],
            source["doors_to_visit_total"],
            out,
            "offline doors to visit" if report else "offline doors that will need a visit",
        )
        _doors(
            source["online_doors"],
            source["online_doors_total"],
            out,
            "online doors, updated automatically",
        )
    if report:
        print(f"failures ({report['failures_total']}):", file=out)
        for failure in report["failures"]:
            print(f"  {failure['key_id']}: {failure['reason']}", file=out)
