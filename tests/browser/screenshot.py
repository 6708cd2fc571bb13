"""Takes the README's picture of the console (``docs/console.png``) with real data: starts
``keyworker local`` in a temporary directory, runs the small demo and the walk-through site of
the browser tests on it (``local_console.prepare``), and photographs one view in headless
Chromium. Run from the repository: ``.venv/bin/python tests/browser/screenshot.py [--view V]``
(V: ``summary`` on the demo site, or ``key``: the walk-through card's doors and history)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from console_page import start_chromium, wait_for, wait_for_text  # noqa: E402
from local_console import prepare  # noqa: E402
from local_stack_harness import start_stack, stop_stack  # noqa: E402

READY = {"summary": "#doors", "key": "#key-history"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--view", choices=sorted(READY), default="summary")
    parser.add_argument("--out", type=Path, default=HERE.parents[1] / "docs" / "console.png")
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        stack = start_stack(Path(directory))
        browser = start_chromium(CHROMIUM, CHROMEDRIVER, width=args.width)
        try:
            site = prepare(stack)
            name, route = (
                (site.demo_site, "summary")
                if args.view == "summary"
                else (site.walk_site, f"key/{site.facts['card']}")
            )
            browser.get(site.console_url(name))
            wait_for_text(browser, "#connection-summary", f"Site {name}")
            browser.get(f"{stack.api}/console/#/{route}")
            wait_for(browser, READY[args.view])
            # The whole page, not just the window: as tall as its content.
            height = browser.execute_script("return document.documentElement.scrollHeight")
            # (A headless window is capped at the screen's height; the emulated viewport is not.)
            browser.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": args.width,
                    "height": min(int(height), 2400),
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
            browser.save_screenshot(str(args.out))
        finally:
            browser.quit()
            stop_stack(stack)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
