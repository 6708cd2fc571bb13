"""A TEST FIXTURE, not the API: a stand-in api function answering the round's contracts C and
D (``/summary``, ``/exposure``, the per-row ``pending_since``/``waiting_for``/``last_error``)
with fixed, contract-shaped JSON, so the console's views can be tested in a browser before
the real endpoints are merged. It runs behind the real local gateway (token check, console
files), only the function is stubbed. ``test_console_local.py`` tests the real stack."""

from __future__ import annotations

import json
import re
from typing import Any

SITE = "stub-site"
AS_OF = "2026-11-29T18:00:00Z"

SUMMARY: dict[str, Any] = {
    "site_id": SITE,
    "as_of": AS_OF,
    "keys": {
        "total": 7,
        "by_status": [
            {"code": "active", "label": "Active", "count": 4},
            {"code": "door_update_pending", "label": "Door update pending", "count": 2},
            {"code": "revoked", "label": "Revoked", "count": 1},
        ],
        "by_home_status": [
            {"code": "active", "label": "Active", "count": 2},
            {"code": "waiting_for_app", "label": "Until the keyholder opens the app", "count": 1},
        ],
        "by_door_status": [
            {"code": "deployed", "mode": None, "label": "Deployed", "count": 9},
            {
                "code": "deployment_pending",
                "mode": "manual",
                "label": "(manual) Deployment pending",
                "count": 3,
            },
            {
                "code": "deployment_pending",
                "mode": "automated",
                "label": "(automated) Deployment pending",
                "count": 1,
            },
        ],
    },
    "doors": [
        {
            "door_id": "entrance",
            "name": "Entrance",
            "kind": "common",
            "connectivity": "online",
            "desired_version": 4,
            "confirmed_version": 3,
            "pending_count": 1,
            "oldest_pending_since": "2026-11-29T17:58:00Z",
            "oldest_pending_age_seconds": 120,
            "last_seen": "2026-11-29T17:59:30Z",
            "unreachable_since": None,
        },
        {
            "door_id": "apt-1",
            "name": "Apartment 1",
            "kind": "unit",
            "connectivity": "offline",
            "desired_version": 2,
            "confirmed_version": 0,
            "pending_count": 3,
            "oldest_pending_since": "2026-11-29T16:00:00Z",
            "oldest_pending_age_seconds": 7200,
            "last_seen": None,
            "unreachable_since": None,
        },
        {
            "door_id": "garage",
            "name": "Garage <b>gate</b>",
            "kind": "common",
            "connectivity": "online",
            "desired_version": 5,
            "confirmed_version": 5,
            "pending_count": 0,
            "oldest_pending_since": None,
            "oldest_pending_age_seconds": None,
            "last_seen": "2026-11-29T17:00:00Z",
            "unreachable_since": "2026-11-29T17:30:00Z",
        },
    ],
    "oldest_pending": [
        {
            "key_id": "card-1",
            "key_type": "access_medium",
            "door_id": "apt-1",
            "state": {
                "code": "deployment_pending",
                "label": "(manual) Deployment pending",
                "mode": "manual",
            },
            "pending_since": "2026-11-29T16:00:00Z",
            "waiting_for": "technician",
        },
        {
            "key_id": "phone-1",
            "key_type": "digital_key",
            "door_id": None,
            "state": {"code": "delivery_pending", "label": "Delivery pending", "mode": None},
            "pending_since": "2026-11-29T17:50:00Z",
            "waiting_for": "mobile_cloud",
        },
    ],
    "revocation_runs": [{"run_id": "run-1", "state": "running", "total": 100, "done": 40}],
}

EXPOSURE: dict[str, Any] = {
    "site_id": SITE,
    "as_of": AS_OF,
    "count": 1,
    "items": [
        {
            "key_id": "card-9",
            "key_type": "access_medium",
            "reason": "revoked",
            "door_id": "apt-1",
            "door_name": "Apartment 1",
            "connectivity": "offline",
            "since": "2026-11-29T17:00:00Z",
            "technician_required": True,
            "waiting_for": "technician",
        },
    ],
}

KEY_CARD_1: dict[str, Any] = {
    "key_id": "card-1",
    "type": "access_medium",
    "holder_id": "tenant-1",
    "door_ids": ["entrance", "apt-1"],
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_until": None,
    "schedule": None,
    "status": {"code": "door_update_pending", "label": "Door update pending"},
    "home_status": None,
    "pending_since": "2026-11-29T16:00:00Z",
    "waiting_for": "technician",
    "last_error": None,
    "doors": [
        {
            "door_id": "entrance",
            "status": {
                "code": "deployment_pending",
                "mode": "automated",
                "label": "(automated) Deployment pending",
            },
            "pending_since": "2026-11-29T17:58:00Z",
            "waiting_for": "door",
            "last_error": "door did not answer in 30 s",
        },
        {
            "door_id": "apt-1",
            "status": {
                "code": "deployment_pending",
                "mode": "manual",
                "label": "(manual) Deployment pending",
            },
            "pending_since": "2026-11-29T16:00:00Z",
            "waiting_for": "technician",
            "last_error": None,
        },
    ],
    "version": 1,
}

HISTORY_CARD_1: dict[str, Any] = {
    "key_id": "card-1",
    "events": [
        {
            "seq": 1,
            "at": "2026-11-29T16:00:00Z",
            "action": "created",
            "actor": "user:local-admin",
            "reason": None,
            "before": None,
            "after": {
                "status": "door_update_pending",
                "home_status": None,
                "doors": {"entrance": "deployment_pending", "apt-1": "deployment_pending"},
            },
            "details": {},
        },
    ],
}

WORKLIST: dict[str, Any] = {
    "doors": [
        {
            "door_id": "apt-1",
            "name": "Apartment 1",
            "kind": "unit",
            "pending_changes": 2,
            "oldest_pending_age_seconds": 7200,
            "desired_version": 2,
            "confirmed_version": 0,
        },
    ]
}

RUN_1: dict[str, Any] = {
    "run_id": "run-1",
    "state": "running",
    "dry_run": False,
    "selector": {"all": True},
    "reason": "building sold",
    "started_by": "user:local-admin",
    "created_at": "2026-11-29T17:55:00Z",
    "planned_at": "2026-11-29T17:55:01Z",
    "finished_at": None,
    "progress": {"keys_total": 100, "keys_done": 40, "chunks_total": 1, "chunks_done": 0},
    "counts": {"revoked": 40, "already_revoked": 0, "failed": 0, "cancelled": 0},
    "plan": None,
    "report": None,
}

_ROUTES: dict[str, Any] = {
    "/summary": SUMMARY,
    "/exposure": EXPOSURE,
    "/doors": WORKLIST,
    "/keys/card-1": KEY_CARD_1,
    "/keys/card-1/history": HISTORY_CARD_1,
    "/revocations/run-1": RUN_1,
}
_PATH = re.compile(rf"^/v1/sites/{SITE}(/.*)$")


def stub_function(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    """The contract's answers for ``SITE``; a problem document (404) for anything else."""
    match = _PATH.match(event["rawPath"])
    body = _ROUTES.get(match.group(1)) if match else None
    if body is None:
        problem = {
            "type": "/problems/not-found",
            "title": "Not Found",
            "status": 404,
            "detail": f"No such item: {event['rawPath']}",
        }
        return {
            "statusCode": 404,
            "headers": {"content-type": "application/problem+json"},
            "body": json.dumps(problem),
        }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
