"""Write the HTTP API's OpenAPI document: ``python -m keyworker.api.openapi [PATH]``
(default ``docs/openapi.json``). A test fails when the committed document is stale."""

from __future__ import annotations

import sys
from pathlib import Path

from keyworker.api import openapi_json

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def render() -> str:
    return openapi_json() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
