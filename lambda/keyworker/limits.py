"""Every limit on what keyworker accepts, defined once (``docs/http-api.md``, "Limits").

The limits the core enforces when it signs a credential come from the core
(``keyworker_core::limits``, exported by the binding); the API's request models, its OpenAPI
document and the services' validation read them here, so a key the API accepts is one the
worker can sign and DynamoDB can store (a test builds the largest such key). The limits the
core does not know (door names, phone characters, selector and page sizes) are keyworker's
own and live only here.

Patterns are written so that JSON Schema (ECMA-262), pydantic (Rust ``regex``) and Python's
``re`` read them alike: ASCII classes and ``\\uXXXX`` escapes only.
"""

from __future__ import annotations

import re
from typing import Final

from keyworker import _core

# ------------------------------------------------------------------------- the core's

#: Longest site id, key id, door id, keyholder id or card UID (the core counts UTF-8 bytes;
#: ids are ASCII, so it is also their length in characters).
MAX_ID_LEN: Final[int] = _core.MAX_ID_LEN
#: Most windows one schedule may hold.
MAX_WINDOWS: Final[int] = _core.MAX_WINDOWS
#: Most days of one window (each weekday at most once).
MAX_WEEKDAYS: Final[int] = _core.MAX_WEEKDAYS
#: Longest time-zone name.
MAX_TIME_ZONE_LEN: Final[int] = _core.MAX_TIME_ZONE_LEN

# A key's door rows live in its item and its doors are read in one BatchGetItem, which takes
# at most 100 keys: fewer than the core lets a credential name.
BATCH_GET_ITEM_KEYS: Final = 100
#: Most doors one key may open.
MAX_DOORS_PER_KEY: Final[int] = min(_core.MAX_DOORS, BATCH_GET_ITEM_KEYS)

# --------------------------------------------------------------------- keyworker's own

#: Ids become parts of DynamoDB keys joined by ``#``, so ``#``, spaces and anything
#: unprintable are out; a sign may not come first.
ID_PATTERN: Final = rf"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{{0,{MAX_ID_LEN - 1}}}$"
ID_RULE: Final = f"1-{MAX_ID_LEN} letters, digits or . _ : @ + - (ASCII, not starting with a sign)"

#: Most keys one batch create (``POST /keys/batch``) may hold: its work stays well inside the
#: api function's 30 s (8 writes at a time, ~4 calls a key) and its answer inside API
#: Gateway's 10 MB (a key is about 1.5 KB as answered).
MAX_KEYS_PER_BATCH: Final = 500

#: Longest door name, in characters.
MAX_NAME_LEN: Final = 200
# No control characters (C0, DEL, C1) anywhere, and not blank.
_NAME_CHAR = r"[^\u0000-\u001f\u007f-\u009f]"
_NAME_VISIBLE = r"[^\u0000-\u0020\u007f-\u00a0]"
#: A door name: printable text, not only spaces.
NAME_PATTERN: Final = rf"^{_NAME_CHAR}*{_NAME_VISIBLE}{_NAME_CHAR}*$"
NAME_RULE: Final = f"1-{MAX_NAME_LEN} characters, not blank, no control characters"

#: Shortest and longest phone number as written by the caller (E.164 has at most 15 digits;
#: the rest is room for spaces and punctuation of a national format).
MIN_PHONE_LEN: Final = 3
MAX_PHONE_LEN: Final = 32
#: The characters of a phone number: an optional leading ``+``, then digits (ASCII, Arabic-
#: Indic U+0660-U+0669 or Extended Arabic-Indic U+06F0-U+06F9, which ``phonenumbers`` reads
#: as the same digits), spaces and ``( ) . - /``. No letters: no extensions, no vanity
#: numbers. Whether it is a valid number is ``phonenumbers``' decision (``keyworker.phones``).
PHONE_PATTERN: Final = r"^\+?[0-9\u0660-\u0669\u06f0-\u06f9 ().\-/]+$"
PHONE_RULE: Final = (
    "a phone number: optional +, then digits (ASCII or Arabic-Indic), spaces and ( ) . - /"
)

#: HH:MM of a window's start or end (``24:00`` is the end of the day).
CLOCK_PATTERN: Final = r"^([01][0-9]|2[0-4]):[0-5][0-9]$"

#: Longest reason of a revocation (it goes into every revoked key's audit event).
MAX_REASON: Final = 500
#: Most entries one revocation selector may name ("all" with a filter covers whole sites;
#: it also keeps the run item small).
MAX_SELECTOR_IDS: Final = 1000
#: Largest page of ``GET /keys``, and the default.
MAX_PAGE: Final = 100
DEFAULT_PAGE: Final = 50
#: Longest page cursor accepted back.
MAX_CURSOR_LEN: Final = 2048

ID_RE: Final = re.compile(ID_PATTERN)
NAME_RE: Final = re.compile(NAME_PATTERN)
PHONE_RE: Final = re.compile(PHONE_PATTERN)


def matches(compiled: re.Pattern[str], value: str) -> bool:
    """Whether ``value`` matches a pattern above the way JSON Schema and pydantic read it
    (Python's ``$`` would also match before a final newline)."""
    return compiled.fullmatch(value) is not None
