"""What keyworker changes in moto, the embedded AWS emulator, and why: one place.

Two kinds of change, both confined to the emulator's process (and to tests that ask):

- **Fidelity.** DynamoDB applies each single-item request atomically (a conditional write's
  check and write are one step). moto evaluates the condition and stores the item as separate
  Python steps without a lock, so concurrent requests could interleave inside it and both
  "win" a conditional write. :func:`make_dynamodb_atomic` serialises the item operations,
  which gives moto DynamoDB's per-request atomicity and nothing more. It also hands
  UpdateItem's response a copy of the item as that update left it: moto returns the stored
  item itself and serialises ``ReturnValues`` after the operation, so a concurrent ``ADD`` to
  the same attribute could show up in this update's ``ALL_NEW`` (two writers allocating a door
  version would both be told the later one).

- **Speed.** moto answers every call in Python; three of its per-request costs have nothing to
  do with what it emulates, and made the local stack several times slower than it needs to
  be (see docs/local-stack.md for the figures). :func:`speed_up_moto` removes them without
  changing a byte of what a client sees:

  1. DynamoDB data-plane responses (GetItem, BatchGetItem, Query, ...) go through moto's
     generic shape-driven serializer, which visits every member of every AttributeValue: a
     1.5 KB item costs ~1.5 ms. Their results are already DynamoDB JSON, so ``json.dumps``
     (bytes as base64, times as epoch seconds, as the JSON protocol writes them) produces the
     same document. ``tests/local/test_moto_shims.py`` checks that it is the same, response
     by response, against moto's own serializer.
  2. Every SQS message's visibility and delay check reads the clock by building datetimes,
     and SendMessage and ReceiveMessage check every message of the queue: with a few hundred
     jobs queued each call cost 10-40 ms. The same clock is read with ``time.time``.
  3. Every request lists moto's package directory to find its service; the listing is made
     once.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from moto import backends as moto_backends
from moto.core.utils import unix_time as _moto_unix_time
from moto.core.utils import unix_time_millis as _moto_unix_time_millis
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.sqs import models as sqs_models

SetAttribute = Callable[[Any, str, Any], None]

# ------------------------------------------------------------------------------ atomicity

_ATOMIC_OPERATIONS = ("put_item", "update_item", "delete_item", "get_item", "transact_write_items")
_emulator_lock = threading.RLock()


# Operations whose result is the stored item itself, read by moto after the operation returns.
_SNAPSHOT_OPERATIONS = frozenset({"update_item"})


def _atomic(method: Callable[..., Any], *, snapshot: bool = False) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _emulator_lock:
            result = method(*args, **kwargs)
            return copy.deepcopy(result) if snapshot else result

    wrapper.__keyworker_atomic__ = True  # type: ignore[attr-defined]
    return wrapper


def make_dynamodb_atomic(set_attribute: SetAttribute = setattr) -> None:
    """Give moto's DynamoDB per-request atomicity (see above). Idempotent; tests pass
    ``monkeypatch.setattr`` to undo it afterwards."""
    for name in _ATOMIC_OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__keyworker_atomic__", False):
            snapshot = name in _SNAPSHOT_OPERATIONS
            set_attribute(DynamoDBBackend, name, _atomic(method, snapshot=snapshot))


# ---------------------------------------------------------------------------------- speed

#: The operations whose successful results are DynamoDB JSON as they stand.
DATA_PLANE_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchWriteItem",
    }
)
_JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
#: moto's own response serializer (the shim falls back to it; tests compare against it).
MOTO_SERIALIZED = DynamoHandler.serialized


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"no DynamoDB JSON for {type(value).__name__}")


def _serialized(self: DynamoHandler, action_result: Any) -> Any:
    result = action_result.result
    if isinstance(result, dict) and self._get_action() in DATA_PLANE_OPERATIONS:
        body = json.dumps(result, default=_json_value, separators=(",", ":"))
        headers = {"Content-Type": _JSON_CONTENT_TYPE}
        headers.update(self.response_headers)
        return 200, headers, body
    return MOTO_SERIALIZED(self, action_result)


_serialized.__keyworker_fast__ = True  # type: ignore[attr-defined]


def _clock_millis(dt: datetime | None = None) -> float:
    return time.time() * 1000.0 if dt is None else _moto_unix_time_millis(dt)


def _clock_seconds(dt: datetime | None = None) -> float:
    return time.time() if dt is None else _moto_unix_time(dt)


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_list_moto_modules())


_list_moto_modules = moto_backends.list_of_moto_modules


def speed_up_moto(set_attribute: SetAttribute = setattr) -> None:
    """Take moto's three avoidable per-request costs out (see above). Idempotent; tests pass
    ``monkeypatch.setattr`` to undo it afterwards."""
    if not getattr(DynamoHandler.serialized, "__keyworker_fast__", False):
        set_attribute(DynamoHandler, "serialized", _serialized)
    set_attribute(sqs_models, "unix_time_millis", _clock_millis)
    set_attribute(sqs_models, "unix_time", _clock_seconds)
    set_attribute(moto_backends, "list_of_moto_modules", _moto_modules)
