"""Cold-start import time of each Lambda handler module, against boto3 alone.

Each module is imported in a fresh interpreter with ``python -X importtime`` (the
interpreter's own per-module clock, so process start-up is not counted: neither the
interpreter's own start-up imports, ``site``, ``encodings`` and the like); the figure is the
module's cumulative import time (everything it pulls in), median over ``--repeat`` fresh
processes, with the package's bytecode compiled first (as pip does for installed packages).
Targets (docs/../performance.md): each handler module <= 300 ms, the native module
<= 10 ms; boto3 alone is the baseline every AWS Lambda in Python pays.

Each handler's composition root imports the adapters (and boto3) it needs on the first
invocation; ``with_first_invocation_imports`` adds those imports to the figure.

Also reported, not a handler import: the X-Ray SDK (``aws_xray_sdk.core``), which the handlers
load on their first invocation when tracing is on (see keyworker.adapters.observability).

Run: ``.venv/bin/python bench/import_time.py [--repeat 15] [--output PATH]``; writes
``bench/results/import_time.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import cpu_model

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "import_time.json"
HANDLERS = [f"keyworker.handlers.{name}" for name in ("api", "worker", "events", "expiry")]
NATIVE = "keyworker._core"
BASELINE = "boto3"
INFORMATIONAL = ["aws_xray_sdk.core"]
# What each Lambda's composition root (keyworker.handlers.wiring) imports on its first
# invocation, so the report also shows import time up to the first request's own work.
_COMMON_ROOT = (
    "boto3",
    "keyworker.clock",
    "keyworker.domain.services",
    "keyworker.domain.credential_adapters",
    "keyworker.adapters.secrets_keyring",
    "keyworker.phones",
    "keyworker.adapters.dynamodb",
)
FIRST_INVOCATION = {
    "api": (*_COMMON_ROOT, "keyworker.jobs", "keyworker.adapters.dedupe", "keyworker.feedback"),
    "events": (*_COMMON_ROOT, "keyworker.jobs", "keyworker.adapters.dedupe", "keyworker.feedback"),
    "expiry": (*_COMMON_ROOT, "keyworker.jobs"),
    "worker": (
        *_COMMON_ROOT,
        "keyworker.adapters.door_commands",
        "keyworker.adapters.mobile_access",
        "keyworker.adapters.dedupe",
        "keyworker.jobs.registry",
    ),
}
HANDLER_TARGET_MS = 300.0
NATIVE_TARGET_MS = 10.0
# "import time: <self us> | <cumulative us> | <two spaces per nesting level><module>"
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (.*)$")


def _top_level(statement: str) -> list[tuple[str, int]]:
    """The top-level entries of ``-X importtime`` for ``statement`` in a fresh interpreter:
    (module, cumulative microseconds), in import order."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    entries = []
    for line in result.stderr.splitlines():
        match = _LINE.match(line)
        # Top-level entries have no indentation before the module name.
        if match and not match.group(3).startswith(" "):
            entries.append((match.group(3).strip(), int(match.group(2))))
    return entries


@functools.cache
def startup_modules() -> frozenset[str]:
    """What the interpreter imports at start-up (``site``, ``encodings``, ``io``, ...) before
    the ``-c`` statement runs: every Python process pays it, so no module's figure counts it."""
    return frozenset(module for module, _ in _top_level("pass"))


def cumulative_ms(module: str, *then: str) -> float:
    """Cumulative import time (ms) of ``module`` (and of ``then``, imported after it) in a
    fresh interpreter: the sum of the top-level entries of ``-X importtime`` that the
    statement imported (not the interpreter's start-up imports)."""
    statement = "; ".join(f"import {m}" for m in (module, *then))
    entries = [(m, us) for m, us in _top_level(statement) if m not in startup_modules()]
    if module not in {m for m, _ in entries}:
        raise RuntimeError(f"no importtime line for {module}")
    return sum(us for _, us in entries) / 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="fresh processes per module")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    # The package's bytecode first, as pip writes it for every installed package: otherwise a
    # module whose .pyc is missing or stale is compiled from source in every fresh interpreter
    # (and never cached where PYTHONDONTWRITEBYTECODE is set, as on this machine), and the
    # figures say which files happened to have a cache.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "lambda" / "keyworker")], check=True
    )

    # Interleaved rounds, so machine noise spreads over every module alike.
    modules = [BASELINE, NATIVE, *HANDLERS, *INFORMATIONAL]
    samples: dict[str, list[float]] = {m: [] for m in modules}
    first: dict[str, list[float]] = {m: [] for m in HANDLERS}
    for _ in range(args.repeat):
        for module in modules:
            samples[module].append(cumulative_ms(module))
        for module in HANDLERS:
            name = module.rsplit(".", 1)[1]
            first[module].append(cumulative_ms(module, *FIRST_INVOCATION[name]))

    def figures(module: str) -> dict[str, Any]:
        values = samples[module]
        return {
            "median_ms": round(statistics.median(values), 1),
            "min_ms": round(min(values), 1),
            "max_ms": round(max(values), 1),
        }

    baseline = figures(BASELINE)
    handlers = {}
    for module in HANDLERS:
        entry = figures(module)
        entry["target_ms"] = HANDLER_TARGET_MS
        entry["meets_target"] = entry["median_ms"] <= HANDLER_TARGET_MS
        entry["ratio_to_boto3"] = round(entry["median_ms"] / baseline["median_ms"], 2)
        entry["with_first_invocation_imports_median_ms"] = round(
            statistics.median(first[module]), 1
        )
        handlers[module] = entry
    native = figures(NATIVE)
    native["target_ms"] = NATIVE_TARGET_MS
    native["meets_target"] = native["median_ms"] <= NATIVE_TARGET_MS
    result = {
        "command": "python -X importtime -c 'import MODULE' (cumulative), fresh process each",
        "repeat": args.repeat,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "baseline_boto3": baseline,
        "native_module": native,
        "handlers": handlers,
        "informational": {m: figures(m) for m in INFORMATIONAL},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")

    print(f"python {result['python']} on {result['cpu']}, median of {args.repeat}")
    print(f"  {'boto3 (baseline)':<32} {baseline['median_ms']:8.1f} ms")
    print(f"  {NATIVE:<32} {native['median_ms']:8.1f} ms  (target <= {NATIVE_TARGET_MS:.0f})")
    for module, entry in handlers.items():
        verdict = "ok" if entry["meets_target"] else "OVER"
        print(
            f"  {module:<32} {entry['median_ms']:8.1f} ms  {entry['ratio_to_boto3']:.2f}x boto3"
            f"  (target <= {HANDLER_TARGET_MS:.0f}: {verdict});"
            f" with first-invocation imports"
            f" {entry['with_first_invocation_imports_median_ms']:.1f} ms"
        )
    for module, entry in result["informational"].items():
        print(f"  {module:<32} {entry['median_ms']:8.1f} ms  (first traced invocation)")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
