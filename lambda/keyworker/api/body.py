"""The request body gate: what any request body must be before a route reads it.

API Gateway hands the function bodies of up to 10 MB, of any content type, as text or base64
bytes. Powertools' validation reads the body with ``json.loads`` when a route takes one, and a
body it cannot read that way (another content type, bytes that are not UTF-8, arrays nested
100,000 deep) ended as an unhandled error (500). The API reads one kind of body, and this gate
answers everything else with a problem, for every route, before routing:

- larger than :data:`MAX_BODY_BYTES` → 413 (the largest valid request, a revocation selector
  of 1,000 ids of 128 characters even with every character escaped, is under 800 KiB);
- a ``Content-Type`` other than ``application/json`` (parameters allowed, a charset only
  UTF-8) → 415; no ``Content-Type`` is read as JSON;
- bytes that are not UTF-8 → 400 ``body``;
- JSON nested deeper than :data:`MAX_DEPTH` → 400 ``body`` (the deepest valid body, a
  schedule's window days, is 5 levels deep).

Malformed JSON is left to validation, which reports it on the routes that read a body.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from keyworker.api import problems

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"


def as_read(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with its JSON content type spelled as Powertools looks for it (media types
    are case-insensitive; Powertools compares ``application/json`` exactly)."""
    headers = event.get("headers") or {}
    for key, value in headers.items():
        if str(key).lower() == "content-type" and _is_json(str(value)):
            return {**event, "headers": {**headers, key: JSON_MEDIA_TYPE}}
    return event


def refusal(event: Mapping[str, Any]) -> Response[str] | None:
    """The problem that answers the event's body, or None when a route may read it."""
    raw = event.get("body")
    if not raw:
        return None
    encoded = bool(event.get("isBase64Encoded"))
    # Before decoding anything: base64 takes 4 characters for 3 bytes, text at least 1 each.
    if len(raw) > (4 * MAX_BODY_BYTES // 3 + 4 if encoded else MAX_BODY_BYTES):
        return problems.payload_too_large(MAX_BODY_BYTES)
    try:
        data = (
            base64.b64decode(raw, validate=True)
            if encoded
            else raw.encode("utf-8", "surrogatepass")
        )
    except binascii.Error:
        return problems.invalid_body("The request body is not valid base64.")
    if len(data) > MAX_BODY_BYTES:
        return problems.payload_too_large(MAX_BODY_BYTES)
    content_type = _header(event, "content-type")
    if content_type is not None and not _is_json(content_type):
        return problems.unsupported_media_type(content_type)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return problems.invalid_body("The request body is not UTF-8 text.")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    except RecursionError:
        return _too_deep()
    if _deeper_than(document, MAX_DEPTH):
        return _too_deep()
    # Every body of this API is a JSON object (null: an absent optional body). Powertools
    # would hand a route the first element of an array sent instead ([{}] would revoke a key).
    if document is not None and not isinstance(document, dict):
        return problems.invalid_body("The request body must be a JSON object.")
    return None


def _too_deep() -> Response[str]:
    return problems.invalid_body(f"The request body nests deeper than {MAX_DEPTH} levels.")


def _header(event: Mapping[str, Any], name: str) -> str | None:
    # Payload 2.0 lowercases header names; a hand-made event may not.
    for key, value in (event.get("headers") or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def _is_json(content_type: str) -> bool:
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type != JSON_MEDIA_TYPE:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (without recursion)."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
