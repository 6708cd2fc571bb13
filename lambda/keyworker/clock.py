"""The clock port: every "now" in keyworker comes from an injected clock.

Move-in, expiry and the age of pending door work depend on the current time; services take a
:class:`Clock` so tests can set the time instead of waiting for it.
"""

from __future__ import annotations

import threading
import time


class SystemClock:
    """The machine's clock."""

    def now(self) -> int:
        return int(time.time())


class FixedClock:
    """A clock that stays where it is set; tests move it with :meth:`set` and :meth:`advance`."""

    def __init__(self, now: int) -> None:
        self._now = now
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return self._now

    def set(self, now: int) -> None:
        with self._lock:
            self._now = now

    def advance(self, seconds: int) -> int:
        with self._lock:
            self._now += seconds
            return self._now
