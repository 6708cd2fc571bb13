"""Shared test settings.

Hypothesis profiles: ``fast`` by default, ``thorough`` with ``HYPOTHESIS_PROFILE=thorough``.

moto runs with the same speed-ups in every test as in the local stack's emulator (an
in-process ``Emulator`` would otherwise switch them on part-way through a run);
``tests/local/test_moto_shims.py`` checks that they change no answer.

Every botocore session shares one loader of AWS's service models: ``mock_aws`` starts each
test with a new default session, whose own loader would read and parse the large JSON models
of every service again (about a third of a moto-backed test's set-up). The models are read-only
data; a session already shares them among its own clients.
"""

import functools
import os

import botocore.session
from hypothesis import HealthCheck, settings

from keyworker.local.moto_shims import speed_up_moto

settings.register_profile("fast", max_examples=100, deadline=None)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

speed_up_moto()
botocore.session.create_loader = functools.cache(botocore.session.create_loader)
