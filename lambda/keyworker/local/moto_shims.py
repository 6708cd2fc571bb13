"""What keyworker changes in moto, the embedded AWS emulator, and why: one place.

Two kinds of change, both confined to the emulator's process (and to tests that ask):

- **Fidelity.** DynamoDB applies each single-item request atomically (a conditional write's
  check and write are one step). moto evaluates the condition and stores the item as separate
  Python steps without a lock, so concurrent requests could interleave inside it and both
  "win" a conditional write. :func:`make_dynamodb_atomic` serialises the item operations,
  which gives moto DynamoDB's per-request atomicity and nothing more. UpdateItem is also made
  copy-on-write: moto changes the stored item in place, and every answer made of items (GetItem,
  BatchGetItem, Query, UpdateItem's own ``ReturnValues``) is serialised from the stored objects
  after the operation, outside any lock. A concurrent update then changed an item under its
  serialisation: Python raised ``dictionary changed size during iteration`` (a 500 to the
  caller, seen in BatchGetItem), or a concurrent ``ADD`` showed up in another update's
  ``ALL_NEW`` (two writers allocating a door version would both be told the later one). The
  update now works on a copy it puts in the stored item's place, so an item object, once
  handed out, never changes.

  Query and Scan iterate the table's dictionaries; a write landing meanwhile made Python
  raise ``dictionary changed size during iteration`` (a 500 to the caller), so they take the
  same lock: a read sees the table between two writes, as on DynamoDB.

  SQS likewise (:func:`make_sqs_atomic`): a receive checks that a message is visible and
  takes it a few calls later, so two receives at once could both take the same message
  (``test_moto_as_shipped_hands_one_message_to_both``). Receive, delete and visibility
  changes now hold the queue's own lock, under which moto already appends a sent message (a
  long poll waiting for messages releases it, as moto's wait does).

- **Speed.** moto answers every call in Python; several of its per-request costs have nothing
  to do with what it emulates, and made the local stack several times slower than it needs to
  be (see docs/local-stack.md for the figures). :func:`speed_up_moto` removes them without
  changing a byte of what a client sees:

  1. DynamoDB data-plane responses (and DynamoDB Streams' GetRecords, whose records carry
     whole item images) (GetItem, BatchGetItem, Query, ...) go through moto's
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
  4. Every request lists its handler's methods (``inspect.getmembers``) to check that the
     action exists; the list is made once per handler class.
  5. Building an item re-adds the size of every attribute already in it for each attribute
     added (quadratic in the attributes: a third of a PutItem of a key item). The item's
     size is added up once and held to the same limit with the same error.
  6. Every Query sorted the whole table (every item of every partition, compared through
     ``Decimal``-casting ``DynamoType`` comparisons) before picking its partition or index
     entries, which it sorts again by the order it answers in: at the 2,000-key demo's size
     each Query cost ~0.1-1 s. Query now gets the partition's items (a table query) or every
     item (an index query) unsorted; its own sort by the (unique) key gives the same order.
     An index query gets only the items whose index key holds the value asked for (compared
     as stored; moto compares again), not every item of the table.
  7. Every JSON-protocol request (every DynamoDB and SQS call) is parsed by walking its input
     shape: for each value a handler looked up by name, for each structure every member of
     its shape re-read, for each attribute of an item all ten members of ``AttributeValue``.
     That walk was a third of the emulator's time when it was flooded with PutItems of key
     items. The same walk is compiled once per shape into plain functions (same members,
     same names, same conversions of blobs, timestamps and numbers, same ``None`` handling).
  8. Every answer made of items (GetItem, BatchGetItem, Query, ...) is turned into plain
     values by a generic walker that asks each value in turn whether it is a time, a
     ``DynamoType``, has a ``to_json`` method, is a dict or a list: a seventh of the emulator's
     time in a demo went to BatchGetItem's share of it. The same walk dispatches on the exact
     type of the values an item is made of (strings, numbers, dicts, the item's own
     attribute dict ``LimitedSizeDict``, lists, ``DynamoType``) and hands anything else to
     moto's walker.

  10. A Query (a sort key condition, ``Limit``, ``ExclusiveStartKey``) sorted every
     candidate — each item of the partition, or of the index with the hash key asked for —
     through ``DynamoType`` comparisons, then walked past the previous pages item by item, on
     every page: reading a 2,000-key site's keys 100 at a time from its partition of ~6,000
     items cost ~50 ms a page, and a ``Limit`` 1 look at the keys of one status sorted all of
     them. For string and number keys (table queries and global indexes with one hash key)
     the candidates are now narrowed to those the condition and the start key let through
     (compared as moto casts them; moto compares each again), put in moto's order (its sort
     then finds them sorted) and cut after ``Limit`` + 1 (moto stops at ``Limit``, before any
     filter expression, as DynamoDB does), keeping the one candidate after the last that
     makes moto answer a ``LastEvaluatedKey``. Pages under moto's 1 MB page size only: that
     limit would count candidates the narrowing leaves out.
  11. A ReceiveMessage checks each message's retention through ``get_queue_attributes``,
     which builds every attribute of the queue (``ApproximateNumberOfMessages`` walks all its
     messages) three times: quadratic in the queue's length, a quarter of the SQS
     emulator's time in a demo. The check reads the queue's retention period itself.
  9. Every conditional write's condition is parsed twice: once by the handler to check the
     request, once by the table to evaluate it (a seventh of a PutItem's time). The second
     parse of the same expression, with the same names and values (the very same objects,
     on the same thread: the same request), takes the first one's tree, which that check
     only looked at.

  And one for the emulator's server (:class:`JsonFastPath`, in front of moto's app): moto's
  server routes every request through a Flask app per service (request context, URL map,
  CORS middleware, response finalisation) only to call the service's ``dispatch``. For the
  JSON-protocol calls of DynamoDB, DynamoDB Streams and SQS (``POST /`` with an
  ``X-Amz-Target``) it calls the same ``dispatch`` with the same request object and builds
  the same Flask response: 25-30% less CPU per DynamoDB call.
"""

from __future__ import annotations

import base64
import calendar
import copy
import functools
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import ClientError
from flask import Response as FlaskResponse  # moto's views answer with Flask's response class
from moto import backends as moto_backends
from moto.core import parse as moto_parse
from moto.core import responses as moto_responses
from moto.core import utils as moto_utils
from moto.core.utils import unix_time as _moto_unix_time
from moto.core.utils import unix_time_millis as _moto_unix_time_millis
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.models.utilities import dynamo_to_dict as _moto_dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.moto_api import recorder as moto_recorder
from moto.moto_server.werkzeug_app import BackendRequest
from moto.sqs import models as sqs_models
from moto.sqs.responses import SQSResponse

from keyworker.local.state import EMULATOR_CALLS_PATH

SetAttribute = Callable[[Any, str, Any], None]

# ------------------------------------------------------------------------------ atomicity

_ATOMIC_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "transact_write_items",
    # Readers of many items: they iterate the table's dictionaries, which a write must not
    # change under them.
    "query",
    "scan",
)
_emulator_lock = threading.RLock()


# Operations that change the stored item in place (see above: they work on a copy).
_COPY_ON_WRITE_OPERATIONS = frozenset({"update_item"})


def _atomic(method: Callable[..., Any], *, copy_on_write: bool = False) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _emulator_lock:
            if copy_on_write:
                _put_a_copy_in_place(*args, **kwargs)
            return method(*args, **kwargs)

    wrapper.__keyworker_atomic__ = True  # type: ignore[attr-defined]
    return wrapper


def _put_a_copy_in_place(
    backend: DynamoDBBackend, table_name: str, key: Any, *_: Any, **__: Any
) -> None:
    """Replaces the item ``key`` names with a copy of it, so that the update about to change
    it changes the copy, and whoever holds the original keeps it as it was. Whatever is wrong
    with the request (no table, a bad key) is left for moto's update to report."""
    try:
        table = backend.get_table(table_name)
        if not isinstance(key, dict) or table.hash_key_attr not in key:
            return
        hash_value = DynamoType(key[table.hash_key_attr])
        range_attr = table.range_key_attr
        range_value = DynamoType(key[range_attr]) if range_attr and range_attr in key else None
        item = table.get_item(hash_value, range_value)
    except Exception:
        return
    if item is None:
        return
    fresh = copy.deepcopy(item)
    if range_value is not None:
        table.items[hash_value][range_value] = fresh
    else:
        table.items[hash_value] = fresh  # type: ignore[assignment]  # moto's own hash-only shape


def make_dynamodb_atomic(set_attribute: SetAttribute = setattr) -> None:
    """Give moto's DynamoDB per-request atomicity, and copy-on-write updates (see above).
    Idempotent; tests pass ``monkeypatch.setattr`` to undo it afterwards."""
    for name in _ATOMIC_OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__keyworker_atomic__", False):
            cow = name in _COPY_ON_WRITE_OPERATIONS
            set_attribute(DynamoDBBackend, name, _atomic(method, copy_on_write=cow))


def _under_queue_lock(method: Callable[..., Any]) -> Callable[..., Any]:
    """A backend method on one queue, run holding that queue's own lock (moto's
    ``Queue._messages_lock``, a condition on a re-entrant lock, which moto takes to append a
    message and to wait for one: a long poll waiting inside still lets others in)."""

    @functools.wraps(method)
    def wrapper(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        with queue._messages_lock:
            return method(self, queue_name, *args, **kwargs)

    wrapper.__keyworker_atomic__ = True  # type: ignore[attr-defined]
    return wrapper


#: SQS operations that read and change a queue's messages (the batch ones call these).
_SQS_QUEUE_OPERATIONS = ("receive_message", "delete_message", "change_message_visibility")


def make_sqs_atomic(set_attribute: SetAttribute = setattr) -> None:
    """Give moto's SQS queues per-request atomicity (see above). Idempotent; tests pass
    ``monkeypatch.setattr`` to undo it afterwards."""
    for name in _SQS_QUEUE_OPERATIONS:
        method = getattr(sqs_models.SQSBackend, name)
        if not getattr(method, "__keyworker_atomic__", False):
            set_attribute(sqs_models.SQSBackend, name, _under_queue_lock(method))


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
        # As moto's serializer writes a timestamp: a naive time is UTC, and what is finer than
        # a millisecond is truncated (the Smithy rule).
        seconds = calendar.timegm(value.utctimetuple())
        return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
    raise TypeError(f"no DynamoDB JSON for {type(value).__name__}")


#: moto's own serializer of DynamoDB Streams responses (the shim falls back to it).
MOTO_STREAMS_SERIALIZED = DynamoDBStreamsHandler.serialized


def _fast_serializer(moto_serialized: Any, actions: frozenset[str]) -> Any:
    """A handler's ``serialized`` that writes the results of ``actions`` (DynamoDB JSON as
    they stand) with ``json.dumps`` and leaves everything else, errors included, to moto's."""

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict) and self._get_action() in actions:
            body = json.dumps(result, default=_json_value, separators=(",", ":"))
            headers = {"Content-Type": _JSON_CONTENT_TYPE}
            headers.update(self.response_headers)
            return 200, headers, body
        return moto_serialized(self, action_result)

    serialized.__keyworker_fast__ = True  # type: ignore[attr-defined]
    return serialized


_serialized = _fast_serializer(MOTO_SERIALIZED, DATA_PLANE_OPERATIONS)
# GetRecords answers with stream records whose images are DynamoDB JSON as they stand; moto's
# generic serializer visited every AttributeValue of every image (~8 ms a record of a key
# item, most of the local stream function's reading cost).
_streams_serialized = _fast_serializer(MOTO_STREAMS_SERIALIZED, frozenset({"GetRecords"}))


_PLAIN = frozenset({str, bytes, int, float, bool, type(None)})


def _dynamo_to_dict(obj: Any) -> Any:
    """moto's ``dynamo_to_dict`` for exactly the types items are made of; anything else (a
    time, an object with ``to_json``, a subclass) goes to moto's own."""
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is dict or kind is LimitedSizeDict:  # the latter: an item's attributes
        return {key: _dynamo_to_dict(value) for key, value in obj.items()}
    if kind is list:
        return [_dynamo_to_dict(value) for value in obj]
    if kind is DynamoType:
        if obj.type == "B":
            value = obj.value
            return {"B": value if isinstance(value, bytes) else base64.b64decode(value)}
        if obj.type == "BS":
            return {"BS": [v if isinstance(v, bytes) else base64.b64decode(v) for v in obj.value]}
        return {obj.type: _dynamo_to_dict(obj.value)}
    return _moto_dynamo_to_dict(obj)


def _clock_millis(dt: datetime | None = None) -> float:
    return time.time() * 1000.0 if dt is None else _moto_unix_time_millis(dt)


def _clock_seconds(dt: datetime | None = None) -> float:
    return time.time() if dt is None else _moto_unix_time(dt)


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_list_moto_modules())


_list_moto_modules = moto_backends.list_of_moto_modules


_method_names_from_class = moto_utils.method_names_from_class


@functools.cache
def _handler_method_names(handler_class: type) -> list[str]:
    return _method_names_from_class(handler_class)


#: moto's item size limit (``LimitedSizeDict``): 400 KB as DynamoDB measures it.
_ITEM_SIZE_LIMIT = 405000


def _item_init(self: Item, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    # moto's Item.__init__ sets each attribute through LimitedSizeDict.__setitem__, which sums
    # the sizes of all attributes already set every time. Sizes are never negative, so the
    # total of the whole item is over the limit exactly when one of those running sums was.
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    size = sum(bytesize(key) + value.size() for key, value in values.items())
    if size > _ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    dict.update(self.attrs, values)


_item_init.__keyworker_fast__ = True  # type: ignore[attr-defined]

_TABLE_QUERY = Table.query
_TABLE_ALL_ITEMS = Table.all_items
_query_scope = threading.local()


def _unsorted_items(table: Table, hash_key: Any, index_keys: Any = None) -> list[Any]:
    """The items a Query looks at, in no particular order: the partition's (``hash_key``) or,
    for an index query (``None``), every item whose index key attributes (``index_keys``:
    moto's ``hash_key_conditions``, pairs of a name and a ``DynamoType``) hold the values
    asked for. moto checks the same conditions on each item again, through ``DynamoType``'s
    comparisons; comparing type and value as stored first leaves it the few that match
    (an index query at the demo's size read ~15,000 items, 70 ms a query)."""
    if hash_key is None:
        every: list[Any]
        if not table.range_key_attr:
            every = list(table.items.values())
        else:
            every = [item for partition in table.items.values() for item in partition.values()]
        wanted = [(name, value.type, value.value) for name, value in index_keys or ()]
        if not wanted:
            return every
        matching = []
        for item in every:
            attrs = item.attrs
            for name, kind, value in wanted:
                held = attrs.get(name)
                if held is None or held.type != kind or held.value != value:
                    break
            else:
                matching.append(item)
        return matching
    if hash_key not in table.items:  # not .get on a defaultdict: no empty partition left
        return []
    partition = table.items[hash_key]
    return list(partition.values()) if table.range_key_attr else [partition]


def _all_items(self: Table) -> list[Any]:
    scope = getattr(_query_scope, "scope", None)
    if scope is not None and scope[0] is self:
        items = _unsorted_items(self, scope[1], scope[2])
        return items if scope[3] is None else _narrowed(self, items, *scope[3])
    return _TABLE_ALL_ITEMS(self)


#: Sort key conditions, as moto names them, on values as stored (shim 10).
_KEY_TESTS: dict[str, Callable[..., bool]] = {
    "EQ": lambda value, other: value == other,
    "=": lambda value, other: value == other,
    "LT": lambda value, other: value < other,
    "<": lambda value, other: value < other,
    "LE": lambda value, other: value <= other,
    "<=": lambda value, other: value <= other,
    "GT": lambda value, other: value > other,
    ">": lambda value, other: value > other,
    "GE": lambda value, other: value >= other,
    ">=": lambda value, other: value >= other,
    "BEGINS_WITH": lambda value, prefix: isinstance(value, str) and value.startswith(prefix),
    "BETWEEN": lambda value, low, high: low <= value <= high,
}


class _NotOrderable(Exception):
    """A key value this shim does not order as moto does (it leaves the query to moto)."""


def _order(value: Any) -> Any:
    """A key attribute's value in moto's order (``DynamoType.cast_value``: numbers as
    ``Decimal``), for the strings and numbers keys are made of."""
    if not isinstance(value, DynamoType) or not isinstance(value.value, str):
        raise _NotOrderable
    if value.type == "S":
        return value.value
    if value.type == "N":
        return Decimal(value.value)
    raise _NotOrderable


def _query_order(table: Table, index_name: str | None) -> tuple[list[str], str | None] | None:
    """The attributes moto orders a query's items by (after the equal hash keys), and the one
    its sort key condition applies to; None for an index this shim leaves to moto."""
    if index_name is None:
        if table.range_key_attr is None:
            return None
        return [table.range_key_attr], table.range_key_attr
    index = next((i for i in table.global_indexes if i.name == index_name), None)
    if index is None:
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1:
        return None
    # moto's _generate_attr_to_sort_by, the index's hash key left out (equal for all).
    own = ranges[0] if ranges else table.range_key_attr
    order = [a for a in (own, table.hash_key_attr, table.range_key_attr) if a is not None]
    return order, (ranges[0] if ranges else None)


def _narrowed(
    table: Table,
    items: list[Any],
    index_name: str | None,
    comparison: str | None,
    objects: list[Any],
    limit: Any,
    start: Any,
    forward: bool,
) -> list[Any]:
    """A query's candidate items (a partition's, or an index's with the hash key asked for:
    ``items``) that its sort key condition and start key let through, in moto's order, the
    ``limit`` + 1 next in the query's direction; ``items`` unchanged wherever that is not
    sure to be exact."""
    plan = _query_order(table, index_name)
    if plan is None:
        return items
    order, condition_attribute = plan
    try:
        if index_name is not None and condition_attribute is not None:
            # moto leaves out an index's items without its sort key.
            items = [item for item in items if item.attrs.get(condition_attribute)]
        keyed = [(tuple(_order(item.attrs.get(a)) for a in order), item) for item in items]
        test: Callable[..., bool] | None = None
        values: list[Any] = []
        position = 0
        if comparison is not None:
            test = _KEY_TESTS.get(comparison.upper())
            if test is None or condition_attribute is None:
                return items
            values = [_order(o) for o in objects]
            position = order.index(condition_attribute)
        kept = [(key, item) for key, item in keyed if test is None or test(key[position], *values)]
        if start is not None:
            if not isinstance(start, dict) or any(a not in start for a in order):
                return items
            bound = tuple(_order(DynamoType(start[a])) for a in order)
            kept = [(k, i) for k, i in kept if (k > bound if forward else k < bound)]
    except (_NotOrderable, KeyError, TypeError, InvalidOperation):
        return items
    kept.sort(key=lambda pair: pair[0])
    if not isinstance(limit, int) or limit < 0 or len(kept) > limit:
        if isinstance(limit, int) and limit >= 0:
            kept = kept[: limit + 1] if forward else kept[len(kept) - limit - 1 :]
        return [item for _, item in kept]
    # No more than ``limit`` pass: moto still answers a LastEvaluatedKey when it meets any
    # further candidate after the last of them (one it would not have taken).
    if kept and len(kept) == limit:
        edge = kept[-1 if forward else 0][0]
        further = [pair for pair in keyed if (pair[0] > edge if forward else pair[0] < edge)]
        if further:
            sentinel = (min if forward else max)(further, key=lambda pair: pair[0])
            kept = [*kept, sentinel] if forward else [sentinel, *kept]
    return [item for _, item in kept]


def _query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    # moto calls Table.query by position: range_comparison, range_objs, limit,
    # exclusive_start_key, scan_index_forward, projection_expressions, index_name, ...
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    index_keys = kwargs.get("hash_key_conditions") if index_name else None
    narrowing = None
    legacy_filters = {k: v for k, v in kwargs.items() if k not in _QUERY_KEYWORDS}
    several_ranges = len(kwargs.get("range_key_conditions") or ()) > 1
    if len(args) >= 5 and not legacy_filters and not several_ranges:
        comparison, objects, limit, start, forward = args[:5]
        narrowing = (
            index_name,
            comparison,
            list(objects or ()),
            limit,
            start,
            forward is not False,
        )
    _query_scope.scope = (self, None if index_name else hash_key, index_keys, narrowing)
    try:
        return _TABLE_QUERY(self, hash_key, *args, **kwargs)
    finally:
        _query_scope.scope = None


#: Table.query's named parameters (anything else is a legacy QueryFilter: no narrowing).
_QUERY_KEYWORDS = frozenset(
    {
        "range_comparison",
        "range_objs",
        "limit",
        "exclusive_start_key",
        "scan_index_forward",
        "projection_expressions",
        "index_name",
        "consistent_read",
        "filter_expression",
        "hash_key_conditions",
        "range_key_conditions",
    }
)


_query.__keyworker_fast__ = True  # type: ignore[attr-defined]


# ------------------------------------------------------------------ request parsing (7)

_Parse = Callable[[Any], Any]
_COMPILED_PARSERS: dict[tuple[str, str], _Parse] = {}  # while compiling, under the lock
_READY_PARSERS: dict[tuple[str, str], _Parse] = {}  # input shapes, read without the lock
_compile_lock = threading.Lock()


def _same(value: Any) -> Any:
    return value


def _compiled_parser(service: str, shape: Any) -> _Parse:
    """``BaseJSONParser._parse_shape(shape, ·)`` of moto as one function, made once per
    shape name of the service (names are unique in a service model; a member's own traits
    only name it in its parent, where they are read). Recursive shapes (``AttributeValue``
    holds maps and lists of itself) reach their own function through a forward reference."""
    key = (service, shape.name)
    parse = _COMPILED_PARSERS.get(key)
    if parse is not None:
        return parse
    later: list[_Parse] = []

    def forward(value: Any) -> Any:  # the function being made, once it is made
        return later[0](value)

    _COMPILED_PARSERS[key] = forward
    later.append(_compile_parser(service, shape))
    _COMPILED_PARSERS[key] = later[0]
    return later[0]


def _compile_parser(service: str, shape: Any) -> _Parse:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return _same
        members = [
            (name, member.serialization.get("name", name), _compiled_parser(service, member))
            for name, member in shape.members.items()
        ]

        def structure(value: Any) -> Any:
            if value is None:
                return None
            parsed = {}
            for name, json_name, parse in members:
                raw = value.get(json_name)
                if raw is not None:
                    parsed[name] = parse(raw)
            return parsed

        return structure
    if kind == "list":
        member = _compiled_parser(service, shape.member)
        return lambda node: [member(item) for item in node]
    if kind == "map":
        key, value = _compiled_parser(service, shape.key), _compiled_parser(service, shape.value)
        return lambda mapping: {key(k): value(v) for k, v in mapping.items()}
    return _LEAF_PARSERS.get(kind, _same)


_LEAF_PARSERS: dict[str, _Parse] = {
    "blob": moto_parse.default_blob_parser,
    "timestamp": moto_parse.default_timestamp_parser,
    "float": float,
    "double": float,
    "integer": int,
    "byte": int,
    "short": int,
    "long": int,
}


def _parse_json_body(self: moto_parse.JSONParser, raw_body: Any, shape: Any) -> Any:
    if (
        type(self) is not moto_parse.JSONParser
        or self.MAP_TYPE is not dict
        or self._blob_parser is not moto_parse.default_blob_parser
        or self._timestamp_parser is not moto_parse.default_timestamp_parser
    ):
        return _MOTO_PARSE_JSON_BODY(self, raw_body, shape)  # type: ignore[no-untyped-call]
    parsed_json = self._parse_body_as_json(raw_body)  # type: ignore[no-untyped-call]
    key = (self.operation_model.service_model.service_name, shape.name)
    parse = _READY_PARSERS.get(key)
    if parse is None:
        # Compiled under the lock and published whole: a parser still being compiled holds
        # forward references that another thread must not call.
        with _compile_lock:
            parse = _READY_PARSERS[key] = _compiled_parser(key[0], shape)
    return parse(parsed_json)


_parse_json_body.__keyworker_fast__ = True  # type: ignore[attr-defined]
_MOTO_PARSE_JSON_BODY = moto_parse.JSONParser._parse_json_body


#: What :func:`speed_up_moto` replaces, as moto ships it (captured before any replacement).
# ------------------------------------------------------------- SQS retention check (11)

_MESSAGE_RETAINED = sqs_models.SQSBackend.is_message_valid_based_on_retention_period


def _message_retained(self: sqs_models.SQSBackend, queue_name: str, message: Any) -> bool:
    # The value moto's attribute dict holds under MessageRetentionPeriod (set dynamically),
    # read directly; the clock is shim 2's.
    retention = getattr(self.get_queue(queue_name), "message_retention_period")  # noqa: B009
    return bool(retention + message.sent_timestamp / 1000 > _clock_seconds())


# --------------------------------------------------------------- condition parsing (9)

_PARSE_CONDITION = ConditionExpressionParser.parse
_last_condition = threading.local()


def _parse_condition_once(self: ConditionExpressionParser) -> Any:
    names, values = self.expression_attribute_names, self.expression_attribute_values
    last = getattr(_last_condition, "parsed", None)
    # The entry holds the names and values it was made from, so identity is a sound test.
    if (
        last is not None
        and last[0] == self.condition_expression
        and last[1] is names
        and last[2] is values
    ):
        self.expr_attr_names_found.extend(last[4])
        self.expr_attr_values_found.extend(last[5])
        return last[3]
    tree = _PARSE_CONDITION(self)
    _last_condition.parsed = (
        self.condition_expression,
        names,
        values,
        tree,
        tuple(self.expr_attr_names_found),
        tuple(self.expr_attr_values_found),
    )
    return tree


_parse_condition_once.__keyworker_fast__ = True  # type: ignore[attr-defined]


_SHIPPED: tuple[tuple[Any, str, Any], ...] = (
    (ConditionExpressionParser, "parse", _PARSE_CONDITION),
    (sqs_models.SQSBackend, "is_message_valid_based_on_retention_period", _MESSAGE_RETAINED),
    (DynamoHandler, "serialized", MOTO_SERIALIZED),
    (DynamoDBStreamsHandler, "serialized", MOTO_STREAMS_SERIALIZED),
    (sqs_models, "unix_time_millis", _moto_unix_time_millis),
    (sqs_models, "unix_time", _moto_unix_time),
    (moto_backends, "list_of_moto_modules", _list_moto_modules),
    (moto_responses, "method_names_from_class", _method_names_from_class),
    (Item, "__init__", Item.__init__),
    (Table, "all_items", _TABLE_ALL_ITEMS),
    (Table, "query", _TABLE_QUERY),
    (moto_parse.JSONParser, "_parse_json_body", _MOTO_PARSE_JSON_BODY),
    (dynamodb_responses, "dynamo_to_dict", _moto_dynamo_to_dict),
)


def moto_as_shipped(set_attribute: SetAttribute) -> None:
    """Put back what :func:`speed_up_moto` replaced: the differential tests compare answers
    of moto as shipped with the sped-up one (pass a ``monkeypatch.context()``'s setattr)."""
    for owner, name, value in _SHIPPED:
        set_attribute(owner, name, value)


def speed_up_moto(set_attribute: SetAttribute = setattr) -> None:
    """Take moto's avoidable per-request costs out (see above). Idempotent; tests pass
    ``monkeypatch.setattr`` (or a ``monkeypatch.context()``'s) to undo it afterwards."""
    if not getattr(DynamoHandler.serialized, "__keyworker_fast__", False):
        set_attribute(DynamoHandler, "serialized", _serialized)
    if not getattr(DynamoDBStreamsHandler.serialized, "__keyworker_fast__", False):
        set_attribute(DynamoDBStreamsHandler, "serialized", _streams_serialized)
    set_attribute(sqs_models, "unix_time_millis", _clock_millis)
    set_attribute(sqs_models, "unix_time", _clock_seconds)
    set_attribute(moto_backends, "list_of_moto_modules", _moto_modules)
    set_attribute(moto_responses, "method_names_from_class", _handler_method_names)
    set_attribute(Item, "__init__", _item_init)
    set_attribute(Table, "all_items", _all_items)
    set_attribute(Table, "query", _query)
    set_attribute(moto_parse.JSONParser, "_parse_json_body", _parse_json_body)
    set_attribute(dynamodb_responses, "dynamo_to_dict", _dynamo_to_dict)
    set_attribute(
        sqs_models.SQSBackend, "is_message_valid_based_on_retention_period", _message_retained
    )
    if not getattr(ConditionExpressionParser.parse, "__keyworker_fast__", False):
        set_attribute(ConditionExpressionParser, "parse", _parse_condition_once)


# ---------------------------------------------------------------------- the server's path

#: ``X-Amz-Target`` prefixes of the JSON-protocol services the stack calls, and their handler.
_JSON_TARGETS: dict[str, Any] = {
    "DynamoDB_20120810": DynamoHandler.dispatch,
    "DynamoDBStreams_20120810": DynamoDBStreamsHandler.dispatch,
    "AmazonSQS": SQSResponse.dispatch,
}


class JsonFastPath:
    """WSGI middleware in front of moto's server app: a JSON-protocol call of DynamoDB or SQS
    goes straight to its service's ``dispatch``, as moto's Flask view
    (``moto.core.utils.convert_to_flask_response``) would call it — same request class, same
    arguments, same error mapping, same response class — without the Flask app around it.
    Anything else (other services, other paths, a browser's CORS request) takes moto's own
    way. ``enabled`` exists for the differential test.

    It also counts the calls it serves: ``GET /_keyworker/calls`` answers ``{"calls": N,
    "operations": {"DynamoDB.PutItem": [count, seconds, cpu_seconds], ...}}`` (a path no AWS
    service has; wall time and the serving thread's CPU time spent answering), which the demo
    reads to print AWS calls per key and where the emulator's time went."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.enabled = True
        self.calls = 0
        self.operations: dict[str, list[float]] = {}
        self._calls_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("PATH_INFO") == EMULATOR_CALLS_PATH
            and environ.get("REQUEST_METHOD") == "GET"
        ):
            with self._calls_lock:
                body = json.dumps({"calls": self.calls, "operations": self.operations}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return self._answer(environ, start_response)
        finally:
            self._count(environ, time.perf_counter() - started, time.thread_time() - cpu)

    def _count(self, environ: dict[str, Any], seconds: float, cpu: float) -> None:
        service, _, operation = str(environ.get("HTTP_X_AMZ_TARGET", "other.")).partition(".")
        name = f"{service.split('_')[0]}.{operation}"
        with self._calls_lock:
            self.calls += 1
            entry = self.operations.setdefault(name, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += seconds
            entry[2] += cpu

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        dispatch = self._dispatch_for(environ) if self.enabled else None
        if dispatch is None:
            return self.app(environ, start_response)
        request = BackendRequest(environ)
        moto_recorder._record_request(request)
        try:
            result = dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as error:
            result = 400, {}, error.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = FlaskResponse(response=content, status=status, headers=headers)
        # What moto's CORS middleware (flask_cors, defaults) adds to a request without Origin.
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response(environ, start_response)

    @staticmethod
    def _dispatch_for(environ: dict[str, Any]) -> Any:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/":
            return None
        if "HTTP_ORIGIN" in environ:  # moto's CORS middleware would add headers
            return None
        service, _, _ = str(environ.get("HTTP_X_AMZ_TARGET", "")).partition(".")
        return _JSON_TARGETS.get(service)
