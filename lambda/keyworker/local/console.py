"""The operator console's static files, served by the local gateway at ``/console/``.

The console (``console/`` at the repository root: HTML, CSS, JavaScript, no build step) is a
client of the HTTP API like curl is. On AWS it is a set of static files in S3 behind
CloudFront (``docs/deploy.md``) and never reaches the api function; locally the API Gateway
stand-in answers these paths itself, without a token (the files hold no data: the page asks
for the token and sends it with every API call), and never hands them to the function.

The files live beside ``infra/`` rather than in the package: they are not Python and not part
of the Lambda layer (``infra/build_artifacts.py`` packs ``lambda/keyworker`` only), and the
local stack already reads the repository's ``infra/template.yaml`` the same way.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from keyworker.api import problems

#: Where the console's files are: the repository's ``console/`` (the package is installed
#: editable from ``lambda/``, as ``make setup`` does).
CONSOLE_DIR = Path(__file__).resolve().parents[3] / "console"
PREFIX = "/console"

# The few types the console uses; anything else is served as bytes a browser will not run.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}

# The page loads nothing from elsewhere and runs no inline script, so a strict policy costs
# nothing and keeps a token in the page from being sent anywhere but the API.
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # The files change with the checkout; a stale cached script would talk to a newer API.
    "cache-control": "no-cache",
}


def connect_url(api_url: str, site_id: str, token: str) -> str:
    """The console's address with a site and token in the fragment: a browser never sends the
    fragment to a server, and the page moves it into sessionStorage and off the address bar."""
    return f"{api_url}{PREFIX}/#site={quote(site_id, safe='')}&token={quote(token, safe='')}"


class ConsoleFiles:
    """Answers requests under ``/console`` from a directory, as proxy responses (the shape the
    gateway writes back for the function); None for any other path."""

    def __init__(self, root: Path = CONSOLE_DIR) -> None:
        self.root = root.resolve()

    def answer(self, method: str, path: str) -> dict[str, Any] | None:
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return None
        if method not in ("GET", "HEAD"):
            return _problem(405, "method-not-allowed", "Method Not Allowed", f"{method} {path}")
        if path == PREFIX:
            # Relative links in the page resolve against the directory, so it needs the slash.
            return {"statusCode": 308, "headers": {"location": PREFIX + "/"}, "body": ""}
        relative = unquote(path[len(PREFIX) + 1 :]) or "index.html"
        file = (self.root / relative).resolve()
        # A path that climbs out of the directory (../, an encoded %2e%2e, a symlink) or names
        # a directory is simply not there.
        if not file.is_relative_to(self.root) or not file.is_file():
            return _problem(404, "not-found", "Not Found", f"no console file {path}")
        content_type = _TYPES.get(file.suffix, "application/octet-stream")
        return {
            "statusCode": 200,
            "headers": {"content-type": content_type, **_SECURITY_HEADERS},
            "body": base64.b64encode(file.read_bytes()).decode(),
            "isBase64Encoded": True,
        }


def _problem(status: int, kind: str, title: str, detail: str) -> dict[str, Any]:
    return problems.proxy_response(problems.problem(status, kind, title, detail))
