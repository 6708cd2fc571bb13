"""Real-browser tests: Debian's headless Chromium driven by selenium through chromedriver.

``make browser`` (part of ``make test``) installs ``chromium`` and ``chromium-driver`` when
they are absent and it can (root, or passwordless sudo, and apt-get). Where it cannot, these
tests skip with a message naming the missing binary. Where it could but has not, they fail:
a skip there would only hide that the set-up was not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_page import start_chromium
from local_console import ConsoleSite, prepare
from local_stack_harness import start_stack, stop_stack
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path(os.environ.get("KEYWORKER_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("KEYWORKER_CHROMEDRIVER", "/usr/bin/chromedriver"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _can_install() -> bool:
    """Whether ``make browser`` could install the browser here (what it would do)."""
    if shutil.which("apt-get") is None:
        return False
    if os.geteuid() == 0:
        return True
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0


def _missing() -> list[Path]:
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    missing = _missing()
    if missing:
        names = ", ".join(str(path) for path in missing)
        if _can_install():
            pytest.fail(
                f"{names} missing, but this machine can install it: run `make browser` "
                "(apt-get install -y chromium chromium-driver); `make test` does that first."
            )
        pytest.skip(
            f"{names} missing and not installable here (needs root or passwordless sudo with "
            "apt-get): install Debian's chromium and chromium-driver to run the browser tests"
        )
    driver = start_chromium(CHROMIUM, CHROMEDRIVER)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def console_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSite]:
    """One local stack per test module (starting one costs ~10 s, the small demo ~25 s)."""
    stack = start_stack(tmp_path_factory.mktemp("console-stack"))
    try:
        site = prepare(stack)
        yield site
    finally:
        output = stop_stack(stack)
        assert stack.process.returncode == 0, output
