"""What the generated-request guards of issue 11 share (``tests/handlers/test_api_fuzz.py``
in-process, ``tests/e2e/test_api_fuzz_local.py`` against ``keyworker local``): the committed
OpenAPI document as schemathesis reads it, and the verdict on one answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(DOCUMENT)
PROBLEM_JSON = "application/problem+json"

# Refusals a request the document calls valid may still get: rules that are no shape (a time
# zone that does not exist, a phone number that is no number, valid_until before valid_from,
# an unknown door, a cursor not ours, ...). Anything else refused in positive mode is a
# constraint the document fails to state.
SERVICE_RULES = frozenset(
    {"/problems/invalid-phone-number", "/problems/invalid-schedule", "/problems/unknown-event-type"}
)
SERVICE_FIELDS = frozenset(
    {
        "valid_from",  # not before 1970 (the core's instants are unsigned)
        "valid_until",
        "door_ids",
        "cursor",
        # GET /events: a cursor is valid only if this site's feed gave it out.
        "after",
        "status",
        "selector",
        "version",
        # The header's rule is an id's (limits.ID_PATTERN), checked by the services so that
        # the problem names the header as sent; the document describes it in words.
        "Idempotency-Key",
        # A webhook URL's host must be one the deployment may call (docs/webhooks.md, SSRF).
        "url",
    }
)
# Operations whose body the document leaves open: POST /events takes a CloudEvent, whose
# envelope the CloudEvents SDK checks (docs/lambdas.md).
OPEN_BODIES = ("/events",)

# Deterministic and without shrinking: the run time stays the same, and a failure's message
# shows the request as generated (shrinking replays hundreds of requests against the stack).
SETTINGS: dict[str, Any] = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": list(HealthCheck),
}


def judge(where: str, mode: GenerationMode, status: int, content_type: str, body: Any) -> bool:
    """Assert the rules for one answer; True if the request was refused (4xx)."""
    assert status < 500, (where, status, body)
    if status < 400:
        return False
    assert content_type == PROBLEM_JSON, (where, status, content_type, body)
    assert isinstance(body, dict), (where, body)
    assert body["status"] == status, (where, body)
    if status == 400:
        assert body.get("field"), (where, body)
        operation = where.split(" body=", maxsplit=1)[0]
        if mode is GenerationMode.POSITIVE and not operation.endswith(OPEN_BODIES):
            path = str(body["field"]).split(".")
            if path[0] == "items" and len(path) > 2 and path[1].isdigit():
                path = path[2:]  # an item of POST /keys/batch: the single create's rules
            field = path[0]
            assert body["type"] in SERVICE_RULES or field in SERVICE_FIELDS, (where, body)
    return True
