"""The expiry Lambda (scheduled): move-ins and expiries (the stored status copies follow
``valid_from``/``valid_until``), then a sweep that asks online doors again to sync when their
oldest pending work is older than ``STALE_SYNC_SECONDS`` (a lost sync request or a lost
confirmation cannot leave an online door behind for longer than that plus one period). Pending
states older than their site's threshold are reported once each on the way (metric
``PendingTooLong``).
"""

from __future__ import annotations

from typing import Any

from keyworker.adapters import observability
from keyworker.adapters.observability import lambda_handler, logger, traced
from keyworker.domain.engine import Overdue
from keyworker.handlers import wiring

# Leave this much of the invocation for the door sweep and the reply.
_RESERVE_MS = 10_000


@lambda_handler()
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = wiring.expiry()
    observability.set_correlation_id(str(event.get("id") or getattr(context, "aws_request_id", "")))
    refreshed: list[str] = []
    overdue: list[Overdue] = []
    while True:
        changed = deps.services.time.process_due(overdue=overdue)
        refreshed.extend(changed)
        # process_due re-evaluates up to a batch; an empty round means nothing more is due.
        if not changed or context.get_remaining_time_in_millis() < _RESERVE_MS:
            break
    doors = deps.services.doors.request_stale_syncs(min_age=deps.stale_sync_seconds)
    observability.count("KeysRefreshed", len(refreshed))
    observability.count("StaleDoorSyncsRequested", len(doors))
    # Each pending state reported as too long, once (an audit event pending_too_long; the
    # alarm PendingTooLongAlarm in infra/template.yaml watches this).
    observability.count("PendingTooLong", len(overdue))
    logger.info(
        "expiry run", extra={"keys_refreshed": len(refreshed), "doors_resynced": len(doors)}
    )
    return {
        "keys_refreshed": refreshed,
        "doors_resynced": [d.door_id for d in doors],
        "pending_too_long": len(overdue),
    }
