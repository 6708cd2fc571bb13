"""Shared test settings.

Hypothesis profiles: ``fast`` by default, ``thorough`` with ``HYPOTHESIS_PROFILE=thorough``.

moto runs with the same speed-ups in every test as in the local stack's emulator (an
in-process ``Emulator`` would otherwise switch them on part-way through a run);
``tests/local/test_moto_shims.py`` checks that they change no answer.
"""

import os

from hypothesis import HealthCheck, settings

from keyworker.local.moto_shims import speed_up_moto

settings.register_profile("fast", max_examples=100, deadline=None)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

speed_up_moto()
