"""Reading the console in a browser the way a person does: by headings, captions, labels and
text, plus a few checks a person would notice (contrast, focus, sideways scrolling)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 20


def start_chromium(chromium: Path, chromedriver: Path, width: int = 1280) -> WebDriver:
    """Headless Chromium through its own chromedriver (Debian's packages)."""
    options = Options()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",  # /dev/shm is small in containers; Chromium crashes there
        "--disable-gpu",
        f"--window-size={width},900",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    driver.set_page_load_timeout(30)
    return driver


def wait_for(browser: WebDriver, css: str, seconds: float = WAIT_SECONDS) -> WebElement:
    """The first element matching ``css`` once it is on the page."""
    element: WebElement = WebDriverWait(browser, seconds).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, css) if d.find_elements(By.CSS_SELECTOR, css) else False
        )
    )
    return element


def wait_for_text(
    browser: WebDriver, css: str, text: str, seconds: float = WAIT_SECONDS
) -> WebElement:
    def found(d: WebDriver) -> WebElement | bool:
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if text in element.text:
                return element
        return False

    element: WebElement = WebDriverWait(browser, seconds).until(found)
    return element


def counts(browser: WebDriver, table_id: str) -> dict[tuple[str, str | None], int]:
    """A counts table as {(code, mode): count}, read from what the page shows."""
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    shown: dict[tuple[str, str | None], int] = {}
    for row in rows:
        key = (str(row.get_attribute("data-code")), row.get_attribute("data-mode"))
        shown[key] = int(row.find_element(By.CSS_SELECTOR, "td.num").text)
    return shown


def row_cells(browser: WebDriver, table_id: str, door_id: str) -> dict[str, str]:
    """One table row (``data-door``) as {column header: cell text}."""
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")]
    row = browser.find_element(By.CSS_SELECTOR, f'#{table_id} tbody tr[data-door="{door_id}"]')
    cells = row.find_elements(By.CSS_SELECTOR, "th, td")
    return dict(zip(headers, (c.text for c in cells), strict=True))


# WCAG 2.x contrast of every element that has its own text, against the first opaque
# background among it and its ancestors (the page's backgrounds are plain colours).
_CONTRAST = """
function rgb(text) {
  const m = text.match(/rgba?\\(([\\d.]+), ([\\d.]+), ([\\d.]+)(?:, ([\\d.]+))?\\)/);
  return m ? { r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4] } : null;
}
function luminance(c) {
  const f = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
function background(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) return c;
  }
  return { r: 255, g: 255, b: 255, a: 1 };
}
const worst = [];
for (const el of document.querySelectorAll("body *")) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  const box = el.getBoundingClientRect();
  const hidden = el.closest("[hidden], .visually-hidden");
  if (!own || box.width === 0 || box.height === 0 || hidden) continue;
  const fg = rgb(getComputedStyle(el).color), bg = background(el);
  const [l1, l2] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
  const ratio = (l1 + 0.05) / (l2 + 0.05);
  const text = el.textContent.trim().slice(0, 30);
  if (ratio < 4.5) worst.push(`${el.tagName} "${text}" ${ratio.toFixed(2)}`);
}
return worst;
"""


def low_contrast_text(browser: WebDriver) -> list[str]:
    result: list[str] = browser.execute_script(_CONTRAST)
    return result


def unlabelled_controls(browser: WebDriver) -> list[str]:
    """Inputs without a label and buttons or links without a name."""
    script = """
    const bad = [];
    for (const input of document.querySelectorAll("input, select, textarea")) {
      if (!input.labels || input.labels.length === 0) bad.push(`input#${input.id}`);
    }
    for (const control of document.querySelectorAll("button, a[href]")) {
      const name = (control.textContent || control.getAttribute("aria-label") || "").trim();
      if (!name) bad.push(control.outerHTML.slice(0, 60));
    }
    return bad;
    """
    result: list[str] = browser.execute_script(script)
    return result


def focus_ring(browser: WebDriver) -> dict[str, Any]:
    """The focused element's tag and whether it draws a visible focus indicator."""
    script = """
    const el = document.activeElement, s = getComputedStyle(el);
    const name = el.labels && el.labels.length ? el.labels[0].textContent : el.textContent;
    return {tag: el.tagName, text: name.trim().slice(0, 80),
            outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2,
            shadow: s.boxShadow !== "none"};
    """
    result: dict[str, Any] = browser.execute_script(script)
    return result


def page_scrolls_sideways(browser: WebDriver) -> bool:
    result: bool = browser.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    return result
