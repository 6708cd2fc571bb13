"""docs/openapi.json is generated from the code; this fails when it is stale."""

from __future__ import annotations

import json
from pathlib import Path

from keyworker.api.openapi import DEFAULT_PATH, render

REGENERATE = ".venv/bin/python -m keyworker.api.openapi"


def test_committed_openapi_document_is_current() -> None:
    committed = Path(DEFAULT_PATH).read_text(encoding="utf-8")
    assert committed == render(), f"docs/openapi.json is stale: run `{REGENERATE}`"


def test_document_covers_the_api_and_its_problems() -> None:
    document = json.loads(render())
    paths = document["paths"]
    expected = {
        ("put", "/doors/{door_id}"),
        ("get", "/doors/{door_id}"),
        ("get", "/doors/{door_id}/update"),
        ("post", "/doors/{door_id}/sync"),
        ("get", "/doors"),
        ("post", "/access-media"),
        ("post", "/digital-keys"),
        ("get", "/keys/{key_id}"),
        ("get", "/keys"),
        ("get", "/keys/{key_id}/history"),
        ("post", "/keys/{key_id}/revoke"),
        ("post", "/phones/{phone}/block"),
        ("post", "/phones/{phone}/unblock"),
        ("post", "/events"),
    }
    found = {
        (method, path.removeprefix("/v1/sites/{site_id}"))
        for path, operations in paths.items()
        for method in operations
    }
    assert expected <= found
    for operations in paths.values():
        for operation in operations.values():
            responses = operation["responses"]
            assert "422" not in responses
            for status in ("400", "401", "403", "404"):
                assert "application/problem+json" in responses[status]["content"]
    assert document["security"] == [{"bearer": []}]


def test_every_schema_reference_resolves() -> None:
    import re

    document = json.loads(render())
    referenced = set(re.findall(r"#/components/schemas/(\w+)", json.dumps(document)))
    assert referenced <= set(document["components"]["schemas"])
