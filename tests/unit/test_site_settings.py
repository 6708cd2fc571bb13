"""SITE_THRESHOLDS: per-site door-health and stuck-work thresholds, refused when malformed."""

from __future__ import annotations

import pytest

from keyworker.errors import ConfigurationError
from keyworker.site_settings import SiteSettings, SiteThresholds


def test_defaults_and_per_site_values_fill_in_from_the_default() -> None:
    assert SiteSettings.from_json(None).for_site("any") == SiteThresholds()
    settings = SiteSettings.from_json(
        '{"default": {"unreachable_after": 600}, "sites": {"s1": {"pending_online_door": 60}}}'
    )
    assert settings.for_site("other") == SiteThresholds(unreachable_after=600)
    assert settings.for_site("s1") == SiteThresholds(unreachable_after=600, pending_online_door=60)
    assert settings.for_site("s1").for_waiting("door") == 60
    assert settings.for_site("s1").for_waiting("technician") == 7 * 86_400
    assert settings.for_site("s1").for_waiting("mobile_cloud") == 3600
    assert settings.for_site("s1").for_waiting("keyholder_app") is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("not json", "not JSON"),
        ('{"defaults": {}}', "must be"),
        ('{"default": {"unreachable": 1}}', "default"),
        ('{"sites": {"s1": {"unreachable_after": 0}}}', "sites.s1.unreachable_after"),
        ('{"sites": {"s1": {"unreachable_after": true}}}', "sites.s1.unreachable_after"),
        ('{"sites": []}', "sites"),
    ],
)
def test_malformed_thresholds_are_refused_naming_the_entry(text: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        SiteSettings.from_json(text)
