"""The console against a real ``keyworker local`` (HTTP API, gateway, emulator, worker), in
headless Chromium: served at /console, signed in from ``keyworker console``'s address, the
worklist, a key's door rows and history, a revocation run's progress, as the API answers them.

The views that read this round's new endpoints (``/summary``, ``/exposure``, the rows'
``waiting_for``) are tested against the real stack in ``test_console_local_pending.py.txt``,
to be renamed once those endpoints are merged (they are not on this branch)."""

from __future__ import annotations

from console_page import counts, row_cells, wait_for, wait_for_text
from local_console import ConsoleSite
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver


def _open(browser: WebDriver, site: ConsoleSite, name: str, route: str) -> None:
    browser.get(site.console_url(name))
    # Signed in: the token is in this tab's storage, the address bar shows a view.
    wait_for_text(browser, "#connection-summary", f"Site {name}")
    assert "token=" not in browser.current_url
    browser.get(f"{site.stack.api}/console/#/{route}")


def test_keyworker_local_serves_the_console_and_keyworker_console_signs_in(
    console_site: ConsoleSite, browser: WebDriver
) -> None:
    # `keyworker local` says where the console is.
    printed = list(console_site.stack.output.queue)
    assert f"console: {console_site.stack.api}/console/ (a token for it: " in "".join(printed)
    url = console_site.console_url(console_site.walk_site)
    assert url.startswith(f"{console_site.stack.api}/console/#site=walk&token=")
    browser.get(url)
    wait_for_text(browser, "#connection-summary", "Site walk")
    assert browser.current_url == f"{console_site.stack.api}/console/#/summary"
    assert browser.find_element(By.TAG_NAME, "h1").get_attribute("textContent") == (
        "keyworker console"
    )


def test_the_worklist_is_the_apis_oldest_work_first(
    console_site: ConsoleSite, browser: WebDriver
) -> None:
    site = console_site.demo_site
    expected = console_site.api(site).ok("GET", "/doors?visit=needed")["doors"]
    assert expected, "the demo leaves offline doors to visit"
    _open(browser, console_site, site, "worklist")
    wait_for(browser, "#worklist")
    rows = browser.find_elements(By.CSS_SELECTOR, "#worklist tbody tr")
    assert [r.get_attribute("data-door") for r in rows] == [d["door_id"] for d in expected]
    for door in expected:
        cells = row_cells(browser, "worklist", door["door_id"])
        assert cells["Pending changes"] == str(door["pending_changes"])
        assert cells["Confirmed / desired version"] == (
            f"{door['confirmed_version']} / {door['desired_version']}"
        )


def test_a_key_opened_by_its_id_shows_its_door_rows_and_history(
    console_site: ConsoleSite, browser: WebDriver
) -> None:
    card = console_site.facts["card"]
    api = console_site.api(console_site.walk_site)
    _open(browser, console_site, console_site.walk_site, "key")
    field = wait_for(browser, "#key-id")
    field.send_keys(card + Keys.ENTER)
    wait_for(browser, "#key-history")
    key = api.ok("GET", f"/keys/{card}")
    for row in key["doors"]:
        shown = row_cells(browser, "key-doors", row["door_id"])["Status"]
        assert shown.startswith(row["status"]["label"]), (row, shown)
    # The offline door waits for a technician: a manual pending row.
    assert row_cells(browser, "key-doors", "apt-1")["Status"].startswith(
        "(manual) Deployment pending"
    )
    assert key["status"]["label"] in browser.find_element(By.ID, "key-facts").text
    history = api.ok("GET", f"/keys/{card}/history")["events"]
    shown_actions = [
        r.find_element(By.TAG_NAME, "th").text
        for r in browser.find_elements(By.CSS_SELECTOR, "#key-history tbody tr")
    ]
    assert shown_actions == [e["action"] for e in history]


def test_a_revocation_run_shows_its_progress_and_report(
    console_site: ConsoleSite, browser: WebDriver
) -> None:
    run_id = console_site.facts["run"]
    _open(browser, console_site, console_site.walk_site, "runs")
    # Opened by its id (the list beside the form shows only running runs).
    wait_for(browser, "#running-runs")
    wait_for(browser, "#run-id").send_keys(run_id + Keys.ENTER)
    facts = wait_for(browser, "#run-facts")
    assert browser.current_url.endswith(f"#/runs/{run_id}")
    assert "done" in facts.text
    bar = browser.find_element(By.CSS_SELECTOR, "#run-facts progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("1", "1")
    assert "revoked 1," in facts.text
    # The offline door must be visited to remove the card: the report names it.
    assert row_cells(browser, "run-doors-to-visit", "apt-1")["Keys"] == "1"


def test_an_unknown_key_is_a_plain_404_from_the_real_api(
    console_site: ConsoleSite, browser: WebDriver
) -> None:
    _open(browser, console_site, console_site.walk_site, "key/no-such-key")
    alert = wait_for_text(browser, "#error", "404")
    assert "Not found" in alert.text
    assert counts(browser, "by-status") == {}
