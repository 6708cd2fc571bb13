"""The console in headless Chromium against the round's API contracts (C and D), served by
the real local gateway with a stubbed api function (``contract_stub``: fixed, contract-shaped
answers). The same views against a real ``keyworker local``: ``test_console_local.py``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from console_page import (
    counts,
    focus_ring,
    low_contrast_text,
    page_scrolls_sideways,
    row_cells,
    unlabelled_controls,
    wait_for,
    wait_for_text,
)
from contract_stub import EXPOSURE, SITE, SUMMARY, stub_function
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from keyworker.local.apigw import ApiGatewayServer
from keyworker.local.console import ConsoleFiles, connect_url
from keyworker.local.tokens import LocalTokenIssuer

TOKENS = LocalTokenIssuer(secret=secrets.token_bytes(32))


@pytest.fixture(scope="module")
def api() -> Iterator[ApiGatewayServer]:
    server = ApiGatewayServer(stub_function, TOKENS, port=0, console=ConsoleFiles())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def signed_in(browser: WebDriver, api: ApiGatewayServer) -> WebDriver:
    """The console opened from the address ``keyworker console`` prints."""
    browser.get(connect_url(api.url, SITE, TOKENS.issue([SITE])))
    wait_for(browser, "#by-status")
    return browser


def _expected(rows: list[dict[str, object]]) -> dict[tuple[str, str | None], int]:
    return {(str(r["code"]), r.get("mode")): int(str(r["count"])) for r in rows}  # type: ignore[misc]


def test_the_printed_address_signs_in_and_the_token_leaves_the_address_bar(
    signed_in: WebDriver,
) -> None:
    browser = signed_in
    assert browser.current_url.endswith("/console/#/summary")
    stored = browser.execute_script("return sessionStorage.getItem('keyworker.console.session')")
    assert '"site":"stub-site"' in stored
    assert '"token":"ey' in stored
    assert f"Site {SITE}" in browser.find_element(By.ID, "connection-summary").text


def test_the_summary_shows_the_apis_counts_and_the_oldest_pending_first(
    signed_in: WebDriver,
) -> None:
    browser = signed_in
    keys = SUMMARY["keys"]
    assert counts(browser, "by-status") == _expected(keys["by_status"])
    assert counts(browser, "by-home-status") == _expected(keys["by_home_status"])
    # The same code twice, told apart by its mode (manual, automated).
    assert counts(browser, "by-door-status") == _expected(keys["by_door_status"])
    assert "7 keys" in browser.find_element(By.CSS_SELECTOR, ".lede").text

    doors = browser.find_elements(By.CSS_SELECTOR, "#doors tbody tr")
    assert [d.get_attribute("data-door") for d in doors] == ["apt-1", "entrance", "garage"]
    assert row_cells(browser, "doors", "apt-1")["Oldest pending"] == "2 h 0 min"
    assert (
        "unreachable since 2026-11-29 17:30:00 UTC"
        in row_cells(browser, "doors", "garage")["Connection"]
    )
    # A door's name is text, never markup.
    assert "Garage <b>gate</b>" in row_cells(browser, "doors", "garage")["Door"]
    assert browser.find_elements(By.CSS_SELECTOR, "#doors b") == []

    pending = browser.find_elements(By.CSS_SELECTOR, "#oldest-pending tbody tr")
    assert [p.find_element(By.TAG_NAME, "a").text for p in pending] == ["card-1", "phone-1"]
    assert "technician" in pending[0].text
    assert "mobile_cloud" in pending[1].text
    bar = browser.find_element(By.CSS_SELECTOR, "#running-runs progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("40", "100")


def test_a_key_shows_each_doors_waiting_for_since_and_last_error_and_its_history(
    signed_in: WebDriver,
) -> None:
    browser = signed_in
    browser.find_element(By.LINK_TEXT, "card-1").click()
    wait_for(browser, "#key-doors")
    assert browser.current_url.endswith("#/key/card-1")
    apt = row_cells(browser, "key-doors", "apt-1")
    assert apt["Status"].startswith("(manual) Deployment pending")
    assert apt["Waiting for"].startswith("technician")
    assert apt["Pending since"] == "2026-11-29 16:00:00 UTC"
    entrance = row_cells(browser, "key-doors", "entrance")
    assert entrance["Waiting for"].startswith("door")
    assert entrance["Last error"] == "door did not answer in 30 s"
    facts = browser.find_element(By.ID, "key-facts").text
    assert "Door update pending" in facts
    assert "technician" in facts
    history = browser.find_element(By.ID, "key-history").text
    assert "created" in history
    assert "user:local-admin" in history


def test_the_exposure_list_names_each_key_and_door_still_open(
    signed_in: WebDriver, api: ApiGatewayServer
) -> None:
    browser = signed_in
    browser.find_element(By.LINK_TEXT, "Exposure").click()
    wait_for(browser, "#exposure")
    [item] = EXPOSURE["items"]
    cells = row_cells(browser, "exposure", item["door_id"])
    assert cells["Key"].startswith("card-9")
    assert cells["Why"] == "revoked"
    assert cells["Technician"] == "must go"
    assert cells["Waiting for"].startswith("technician")
    assert "1 key–door pairs still open" in browser.find_element(By.CSS_SELECTOR, ".lede").text


def test_the_worklist_and_a_runs_progress(signed_in: WebDriver) -> None:
    browser = signed_in
    browser.find_element(By.LINK_TEXT, "Technician worklist").click()
    wait_for(browser, "#worklist")
    assert row_cells(browser, "worklist", "apt-1")["Pending changes"] == "2"
    browser.find_element(By.LINK_TEXT, "Revocation runs").click()
    wait_for(browser, "#running-runs a").click()
    wait_for(browser, "#run-facts")
    bar = browser.find_element(By.CSS_SELECTOR, "#run-facts progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("40", "100")
    assert "running" in browser.find_element(By.ID, "run-facts").text
    # A running run is read again by itself; each read is announced.
    first = browser.find_element(By.ID, "live").text
    wait_for_text(browser, "#live", "Run run-1: running, 40 of 100 keys.")
    assert browser.find_element(By.ID, "live").get_attribute("aria-live") == "polite"
    assert first.startswith("Run run-1")
    # Typing in the form while the run is read again: the field keeps the focus and the text.
    field = browser.find_element(By.ID, "run-id")
    field.clear()
    field.send_keys("run-2")
    before = browser.find_element(By.ID, "live").text
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "live").text != before)
    assert browser.switch_to.active_element.get_attribute("id") == "run-id"
    assert browser.find_element(By.ID, "run-id").get_attribute("value") == "run-2"


def test_errors_say_plainly_what_went_wrong(
    signed_in: WebDriver, api: ApiGatewayServer, browser: WebDriver
) -> None:
    browser.get(f"{api.url}/console/#/key/no-such-key")
    alert = wait_for_text(browser, "#error", "404")
    assert "Not found: No such item" in alert.text
    assert alert.get_attribute("role") == "alert"

    # A token this stack did not sign: 401 from the gateway, and the form opens to paste one.
    browser.find_element(By.ID, "connection-summary").click()
    browser.find_element(By.ID, "connect-token").send_keys("not-a-token" + Keys.ENTER)
    alert = wait_for_text(browser, "#error", "401")
    assert "refused the token" in alert.text
    assert browser.find_element(By.ID, "connection").get_attribute("open") is not None

    # The API gone: the page says it did not answer.
    gone = ApiGatewayServer(stub_function, TOKENS, port=0, console=ConsoleFiles())
    gone.start()
    browser.get(connect_url(gone.url, SITE, TOKENS.issue([SITE])))
    wait_for(browser, "#by-status")
    gone.stop()
    # A connection kept alive gets the stopping gateway's 503 first; a new one is refused.
    # (Chromium keeps several connections; each 503 closes one.)
    for attempt in range(10):
        browser.execute_script("document.getElementById('live').textContent = ''")
        browser.find_element(By.ID, "refresh").click()
        wait_for_text(browser, "#live", "failed")
        alert = browser.find_element(By.ID, "error")
        if "The API did not answer" in alert.text:
            break
        assert alert.text.startswith("503"), (attempt, alert.text)
    assert "The API did not answer" in alert.text
    assert "Is the stack running?" in alert.text


def test_keyboard_alone_reaches_a_key_with_the_focus_always_visible(
    signed_in: WebDriver,
) -> None:
    browser = signed_in
    # After loading, the focus is on the view's heading; walk back to the top of the page.
    assert browser.switch_to.active_element.get_attribute("id") == "view-title"
    seen = []
    for _ in range(12):
        press(browser, Keys.TAB, shift=True)
        ring = focus_ring(browser)
        seen.append(ring["text"])
        assert ring["outline"], ring
        if ring["text"] == "Skip to content":
            break
    assert seen == [
        "Refresh every 10 s",
        "Refresh",
        f"Site {SITE} · API {browser.execute_script('return location.origin')} · change",
        "Key",
        "Revocation runs",
        "Exposure",
        "Technician worklist",
        "Summary",
        "Skip to content",
    ]
    # The skip link, hidden until focused, is on screen when it is.
    assert browser.switch_to.active_element.rect["x"] >= 0
    for _ in range(5):
        press(browser, Keys.TAB)
    assert browser.switch_to.active_element.text == "Key"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    # The new view's heading takes the focus; the key id field is the next stop.
    wait_for_text(browser, "#view-title", "Key")
    assert browser.switch_to.active_element.get_attribute("id") == "view-title"
    press(browser, Keys.TAB)
    field = browser.switch_to.active_element
    assert field.get_attribute("id") == "key-id"
    field.send_keys("card-1" + Keys.ENTER)
    wait_for(browser, "#key-doors")


def press(browser: WebDriver, key: str, *, shift: bool = False) -> None:
    """One key press on whatever has the focus (a chain is used once: it keeps its actions)."""
    chain = ActionChains(browser)
    if shift:
        chain.key_down(Keys.SHIFT).send_keys(key).key_up(Keys.SHIFT)
    else:
        chain.send_keys(key)
    chain.perform()


@pytest.mark.parametrize("width", [375, 1280])
def test_every_view_is_readable_labelled_and_fits_the_screen(
    signed_in: WebDriver, api: ApiGatewayServer, width: int
) -> None:
    browser = signed_in
    browser.set_window_size(width, 900)
    try:
        assert browser.execute_script("return window.innerWidth") <= width
        views = {
            "summary": "#doors",
            "worklist": "#worklist",
            "exposure": "#exposure",
            "runs/run-1": "#run-facts",
            "key/card-1": "#key-history",
        }
        for route, ready in views.items():
            browser.get(f"{api.url}/console/#/{route}")
            wait_for(browser, ready)
            assert not page_scrolls_sideways(browser), route
            assert low_contrast_text(browser) == [], route
            assert unlabelled_controls(browser) == [], route
            assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1
            assert len(browser.find_elements(By.CSS_SELECTOR, "#view h2")) == 1
        # The contrast check finds what it should (grey #999 on white is 2.8:1).
        browser.execute_script(
            "const p = document.createElement('p'); p.textContent = 'faint';"
            "p.style.color = '#999999'; document.getElementById('view').append(p);"
        )
        assert low_contrast_text(browser) == ['P "faint" 2.85']
    finally:
        browser.set_window_size(1280, 900)
