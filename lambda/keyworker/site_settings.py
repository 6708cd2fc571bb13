"""Per-site thresholds of door health and stuck work (``docs/status-rules.md``, "Who must act").

They are injected settings, not a table item: every key evaluation (the hot paths included)
asks whether a door is unreachable, and a site settings item would cost a read there. A
deployment sets them with the ``SITE_THRESHOLDS`` environment variable (JSON, see
:meth:`SiteSettings.from_json`); sites it does not name use the defaults below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from keyworker.errors import ConfigurationError

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class SiteThresholds:
    """Seconds after which something counts as late at one site."""

    unreachable_after: int = 30 * MINUTE
    """An online door not heard from for longer is unreachable (its work becomes manual)."""
    pending_online_door: int = 15 * MINUTE
    """A row pending at an online door (waiting for the ``door``) is too long after this."""
    pending_offline_door: int = 7 * DAY
    """A row waiting for a ``technician`` (offline or unreachable door)."""
    pending_delivery: int = HOUR
    """A digital key's delivery waiting for the ``mobile_cloud``."""

    def for_waiting(self, waiting_for: str) -> int | None:
        """The threshold of pending work waiting for ``waiting_for``; None for the keyholder's
        app (nobody at the site can make a keyholder open it, so it is never reported)."""
        return {
            "door": self.pending_online_door,
            "technician": self.pending_offline_door,
            "mobile_cloud": self.pending_delivery,
        }.get(waiting_for)


@dataclass(frozen=True, slots=True)
class SiteSettings:
    default: SiteThresholds = SiteThresholds()
    sites: Mapping[str, SiteThresholds] = field(default_factory=dict)

    def for_site(self, site_id: str) -> SiteThresholds:
        return self.sites.get(site_id, self.default)

    @classmethod
    def from_json(cls, text: str | None) -> SiteSettings:
        """``{"default": {"unreachable_after": 1800, ...}, "sites": {"s1": {...}}}``: every
        part optional; a site's values fill in from the default's. Raises
        ``ConfigurationError`` naming the bad entry."""
        if text is None or not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ConfigurationError("SITE_THRESHOLDS is not JSON") from error
        if not isinstance(data, dict) or not set(data) <= {"default", "sites"}:
            raise ConfigurationError('SITE_THRESHOLDS must be {"default": ..., "sites": ...}')
        default = _thresholds(SiteThresholds(), data.get("default", {}), "default")
        sites = data.get("sites", {})
        if not isinstance(sites, dict):
            raise ConfigurationError("SITE_THRESHOLDS.sites must be an object")
        return cls(
            default=default,
            sites={
                str(site): _thresholds(default, values, f"sites.{site}")
                for site, values in sites.items()
            },
        )


def _thresholds(base: SiteThresholds, values: Any, where: str) -> SiteThresholds:
    names = {f.name for f in fields(SiteThresholds)}
    if not isinstance(values, dict) or not set(values) <= names:
        raise ConfigurationError(f"SITE_THRESHOLDS.{where} may only set {sorted(names)}")
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(f"SITE_THRESHOLDS.{where}.{name} must be a positive integer")
    return replace(base, **values)
