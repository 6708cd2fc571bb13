"""The ``keyworker`` command line (see docs and ``keyworker --help``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def state_dir() -> Path:
    """Where the local stack keeps what a second command must find (the token secret, ports)."""
    return Path(os.environ.get("KEYWORKER_STATE_DIR", ".keyworker")).resolve()


def _cmd_token(args: argparse.Namespace) -> int:
    from keyworker.local.tokens import LocalTokenIssuer

    issuer = LocalTokenIssuer.for_state_dir(state_dir())
    print(issuer.issue(args.site, ttl_seconds=args.ttl))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyworker",
        description="Deploys and revokes door keys: local stack, tokens, demo, bulk revocations.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser(
        "token", help="print a bearer token the local stack (same directory) accepts"
    )
    token.add_argument("--site", action="append", required=True, help="a site the token may use")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(run=_cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
