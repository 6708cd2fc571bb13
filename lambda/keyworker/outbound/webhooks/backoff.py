"""When a failed delivery is tried again: exponential backoff with full jitter, over hours.

Attempt ``n`` (1-based) that fails waits a random time in ``[0, SCHEDULE[n-1]]`` seconds
("full jitter": receivers that failed together do not all come back together); after
``len(SCHEDULE)`` retries (``MAX_ATTEMPTS`` attempts in all) the delivery has failed for good.
The caps add up to about 15 hours; SQS holds a message back at most 15 minutes, so a longer
wait is a chain of re-enqueues with a ``not_before`` (``keyworker.outbound.webhooks.delivery``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

#: Upper bound of the wait after attempt 1, 2, ... (seconds).
SCHEDULE: tuple[int, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
MAX_ATTEMPTS = len(SCHEDULE) + 1


def retry_delay(attempt: int, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after failed attempt ``attempt``; raises once no retry is left."""
    if not 1 <= attempt < MAX_ATTEMPTS:
        raise ValueError(f"no retry after attempt {attempt} (at most {MAX_ATTEMPTS} attempts)")
    return uniform(0.0, float(SCHEDULE[attempt - 1]))
