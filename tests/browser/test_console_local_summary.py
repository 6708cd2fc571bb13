"""The console's views of this round's new endpoints, against a real ``keyworker local``:
the demo site's counts as ``GET /summary`` gives them, a pending row's ``waiting_for``, the
exposure list as ``GET /exposure`` gives it (issue 14's done-when for the console)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console_page import counts, row_cells, wait_for, wait_for_text
from local_console import ConsoleSite
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver


def _open(browser: WebDriver, site: ConsoleSite, name: str, route: str) -> None:
    browser.get(site.console_url(name))
    wait_for_text(browser, "#connection-summary", f"Site {name}")
    browser.get(f"{site.stack.api}/console/#/{route}")


def _as_shown(rows: list[dict[str, Any]]) -> dict[tuple[str, str | None], int]:
    return {(str(r["code"]), r.get("mode")): int(r["count"]) for r in rows}


def test_the_demo_sites_counts_match_get_summary(
    console_site: ConsoleSite, browser: WebDriver
) -> None:
    site = console_site.demo_site
    _open(browser, console_site, site, "summary")
    wait_for(browser, "#doors")
    summary = console_site.api(site).ok("GET", "/summary")
    keys = summary["keys"]
    assert keys["total"] == 30
    assert counts(browser, "by-status") == _as_shown(keys["by_status"])
    assert counts(browser, "by-home-status") == _as_shown(keys["by_home_status"])
    assert counts(browser, "by-door-status") == _as_shown(keys["by_door_status"])
    assert f"{keys['total']} keys" in browser.find_element(By.CSS_SELECTOR, ".lede").text
    # Doors with the oldest pending work first, doors without pending work last.
    pending = sorted(
        (d for d in summary["doors"] if d["oldest_pending_since"]),
        key=lambda d: d["oldest_pending_since"],
    )
    idle = sorted(
        (d for d in summary["doors"] if not d["oldest_pending_since"]), key=lambda d: d["door_id"]
    )
    shown = [
        r.get_attribute("data-door")
        for r in browser.find_elements(By.CSS_SELECTOR, "#doors tbody tr")
    ]
    assert shown == [d["door_id"] for d in pending + idle]
    for door in summary["doors"]:
        assert row_cells(browser, "doors", door["door_id"])["Pending"].startswith(
            str(door["pending_count"])
        )
    # The oldest pending items in the API's order (oldest first).
    links = browser.find_elements(By.CSS_SELECTOR, "#oldest-pending tbody tr th a")
    assert [a.text for a in links] == [i["key_id"] for i in summary["oldest_pending"]]


def test_a_pending_row_says_who_must_act_and_since_when(
    console_site: ConsoleSite, browser: WebDriver
) -> None:
    card = console_site.facts["card"]
    _open(browser, console_site, console_site.walk_site, f"key/{card}")
    wait_for(browser, "#key-doors")
    key = console_site.api(console_site.walk_site).ok("GET", f"/keys/{card}")
    rows = {row["door_id"]: row for row in key["doors"]}
    # apt-1 is offline: the card waits there for a technician.
    assert rows["apt-1"]["waiting_for"] == "technician"
    apt = row_cells(browser, "key-doors", "apt-1")
    assert apt["Waiting for"].startswith("technician — a technician")
    since = datetime.fromisoformat(rows["apt-1"]["pending_since"])
    assert apt["Pending since"] == since.strftime("%Y-%m-%d %H:%M:%S UTC")
    for door_id, row in rows.items():
        shown = row_cells(browser, "key-doors", door_id)["Waiting for"]
        assert shown.startswith(row["waiting_for"] or "—"), (door_id, shown)
    facts = browser.find_element(By.ID, "key-facts").text
    assert key["waiting_for"] in facts


def test_the_exposure_list_is_get_exposure(console_site: ConsoleSite, browser: WebDriver) -> None:
    site = console_site.walk_site
    _open(browser, console_site, site, "exposure")
    wait_for(browser, "#exposure")
    exposure = console_site.api(site).ok("GET", "/exposure")
    # The card revoked by the run is still accepted by the offline apt-1 until a visit.
    assert {(i["key_id"], i["door_id"]) for i in exposure["items"]} >= {
        (console_site.facts["leaving"], "apt-1")
    }
    shown = {
        (r.get_attribute("data-key"), r.get_attribute("data-door"))
        for r in browser.find_elements(By.CSS_SELECTOR, "#exposure tbody tr")
    }
    assert shown == {(i["key_id"], i["door_id"]) for i in exposure["items"]}
    cells = row_cells(browser, "exposure", "apt-1")
    assert cells["Technician"] == "must go"
