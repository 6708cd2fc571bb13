"""Who may call what: the site in the path must be one of the token's sites.

API Gateway's JWT authorizer verifies the token (signature, issuer, audience, expiry) before
the function runs and hands its claims over as strings in
``requestContext.authorizer.jwt.claims``; the site grants are the space-separated ``sites``
claim. This check runs before routing and validation, so a caller without the site learns
nothing, not even whether the request would have been valid: every refusal for a site has
the same body, whatever the site.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from keyworker.errors import NotAuthenticated, SiteForbidden

SITE_PATH = re.compile(r"^/v1/sites/(?P<site_id>[^/]+)(?:/|$)")
SITES_CLAIM = "sites"


def claims_of(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    jwt = authorizer.get("jwt") or {}
    claims = jwt.get("claims")
    return claims if isinstance(claims, Mapping) and claims else None


def sites_of(claims: Mapping[str, Any]) -> frozenset[str]:
    value = claims.get(SITES_CLAIM)
    if isinstance(value, str):
        # API Gateway passes claims as strings; an array claim arrives as "[a b]".
        return frozenset(value.strip("[]").replace(",", " ").split())
    if isinstance(value, list | tuple):
        return frozenset(str(v) for v in value)
    return frozenset()


def authorize(event: Mapping[str, Any]) -> str | None:
    """The caller's actor id (``user:<sub>``) when the request may go on; None for a path
    outside ``/v1/sites/{site_id}`` (routing answers it). Raises :class:`NotAuthenticated`
    without claims and :class:`SiteForbidden` when the site is not granted."""
    path = str(event.get("rawPath") or event.get("path") or "")
    match = SITE_PATH.match(path)
    if match is None:
        return None
    claims = claims_of(event)
    if claims is None:
        raise NotAuthenticated("a bearer token is required")
    if match.group("site_id") not in sites_of(claims):
        raise SiteForbidden("the token does not grant this site")
    subject = claims.get("sub")
    return f"user:{subject}" if isinstance(subject, str) and subject else "user:unknown"
