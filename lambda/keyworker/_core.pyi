"""Type stubs of the native module ``keyworker._core`` (kept by hand, checked by stubtest)."""

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, final, type_check_only

from typing_extensions import Buffer

from keyworker.status import KeyFacts, Schedule

__version__: str
# Each section appends the names it exports (PyO3 lists every added name in __all__).
__all__ = ["__version__"]

# --- status engine (keyworker_core::status) ---

__all__ += [
    "DOOR_ACTIONS",
    "DOOR_EVENTS",
    "DOOR_ONLINE",
    "DOOR_STATES",
    "FLAG_APP_RELOADED",
    "FLAG_DELIVERED",
    "FLAG_HAS_SCHEDULE",
    "FLAG_PHONE_BLOCKED",
    "FLAG_REVOKED",
    "GENERAL_STATUSES",
    "HOME_STATUSES",
    "KEY_TYPES",
    "NO_END",
    "NO_HOME_STATUS",
    "WAITING_FOR",
    "WEEKDAYS",
    "door_status",
    "evaluate",
    "evaluate_bulk",
    "general_status_label",
    "home_status_category",
    "home_status_label",
    "is_usable_at",
    "key_waiting_for",
    "next_door_state",
    "plan_modification",
    "row_waiting_for",
    "schedule_from_json",
    "schedule_label",
    "schedule_to_json",
    "unreachable_since",
    "works_online",
]

KEY_TYPES: tuple[str, ...]
DOOR_STATES: tuple[str, ...]
GENERAL_STATUSES: tuple[str, ...]
HOME_STATUSES: tuple[str, ...]
DOOR_EVENTS: tuple[str, ...]
DOOR_ACTIONS: tuple[str, ...]
WEEKDAYS: tuple[str, ...]
WAITING_FOR: tuple[str, ...]
NO_HOME_STATUS: int
DOOR_ONLINE: int
NO_END: int
FLAG_REVOKED: int
FLAG_PHONE_BLOCKED: int
FLAG_DELIVERED: int
FLAG_APP_RELOADED: int
FLAG_HAS_SCHEDULE: int

def next_door_state(key_type: str, state: str, event: str) -> str: ...
def door_status(state: str, online: bool) -> tuple[str, str | None, str] | None: ...
def row_waiting_for(state: str, online: bool, unreachable: bool) -> str | None: ...
def key_waiting_for(
    key_type: str, revoked: bool, delivered: bool, app_reloaded: bool
) -> str | None: ...
def works_online(online: bool, unreachable: bool) -> bool: ...
def unreachable_since(
    online: bool, last_seen: int | None, pending_since: int | None, threshold: int, now: int
) -> int | None: ...
def general_status_label(code: str) -> str: ...
def home_status_label(code: str) -> str | None: ...
def home_status_category(code: str) -> str: ...
def evaluate(facts: KeyFacts, now: int) -> tuple[int, int, str | None, bytes]: ...
def is_usable_at(facts: KeyFacts, instant: int) -> bool: ...
def plan_modification(
    key_type: str,
    rows: Iterable[tuple[str, str]],
    new_door_ids: Iterable[str],
    entry_changed: bool,
) -> list[tuple[str, str, str]]: ...
def schedule_label(schedule: Schedule) -> str: ...
def schedule_from_json(
    obj: object,
) -> tuple[str, list[tuple[list[str], int, int]]]: ...
def schedule_to_json(schedule: Schedule) -> dict[str, Any]: ...
def evaluate_bulk(
    key_types: Buffer,
    flags: Buffer,
    valid_from: Buffer,
    valid_until: Buffer,
    door_offsets: Buffer,
    door_states: Buffer,
    now: int,
    *,
    threads: int | None = None,
) -> tuple[bytes, bytes, list[int], list[int]]: ...

# --- credentials and door updates (keyworker_core::credential) ---

__all__ += [
    "BLOCKLIST_LIMIT",
    "CREDENTIAL_ID_LEN",
    "DOOR_CHANGE_ADD",
    "DOOR_CHANGE_BLOCK",
    "DOOR_CHANGE_REMOVE",
    "DOOR_CHANGE_UNBLOCK",
    "DOOR_UPDATE_FORMAT",
    "PHONE_HASH_LEN",
    "DoorKey",
    "SigningKey",
    "VerificationKey",
    "derive_door_secret",
    "door_decision",
    "encode_door_update",
    "encode_door_updates",
    "generate_signing_key",
    "issue_credential",
    "issue_credentials",
    "open_door_update",
    "verify_credential",
]

BLOCKLIST_LIMIT: int
CREDENTIAL_ID_LEN: int
PHONE_HASH_LEN: int
DOOR_CHANGE_ADD: int
DOOR_CHANGE_REMOVE: int
DOOR_CHANGE_BLOCK: int
DOOR_CHANGE_UNBLOCK: int
DOOR_UPDATE_FORMAT: int

@type_check_only
class _ScheduleWindowLike(Protocol):
    @property
    def days(self) -> Sequence[str]: ...
    @property
    def start_minute(self) -> int: ...
    @property
    def end_minute(self) -> int: ...

@type_check_only
class _ScheduleLike(Protocol):
    @property
    def time_zone(self) -> str: ...
    @property
    def windows(self) -> Iterable[_ScheduleWindowLike]: ...

@type_check_only
class _ClaimsLike(Protocol):
    @property
    def site_id(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def credential_id(self) -> bytes: ...
    @property
    def issued_at(self) -> int: ...
    @property
    def valid_from(self) -> int: ...
    @property
    def valid_until(self) -> int | None: ...
    @property
    def door_ids(self) -> Sequence[str]: ...
    @property
    def schedule(self) -> _ScheduleLike | None: ...
    @property
    def key_type(self) -> str: ...
    @property
    def holder_ref(self) -> str: ...

@type_check_only
class _DoorUpdateLike(Protocol):
    @property
    def door_id(self) -> str: ...
    @property
    def from_version(self) -> int: ...
    @property
    def to_version(self) -> int: ...
    @property
    def changes(
        self,
    ) -> Iterable[tuple[int, bytes, int | None, int | None, _ScheduleLike | None]]: ...

@final
class SigningKey:
    @staticmethod
    def from_pkcs8(algorithm: str, kid: str, pkcs8: bytes) -> SigningKey: ...
    @property
    def kid(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    def verification_key(self) -> VerificationKey: ...

@final
class VerificationKey:
    def __new__(cls, algorithm: str, kid: str, public_key: bytes) -> VerificationKey: ...
    @property
    def kid(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...

@final
class DoorKey:
    def __new__(cls, kid: str, secret: bytes) -> DoorKey: ...
    @property
    def kid(self) -> str: ...

def generate_signing_key(algorithm: str) -> bytes: ...
def derive_door_secret(master: bytes, site_id: str, door_id: str) -> bytes: ...
def issue_credential(key: SigningKey, claims: _ClaimsLike) -> bytes: ...
def issue_credentials(
    key: SigningKey, claims: Iterable[_ClaimsLike], parallel: bool = True
) -> list[bytes]: ...
def verify_credential(
    token: bytes, keys: Sequence[VerificationKey], now: int | None = None
) -> tuple[
    str,
    str,
    str,
    str,
    bytes,
    int,
    int,
    int | None,
    list[str],
    tuple[str, list[tuple[list[str], int, int]]] | None,
    str,
    str,
]: ...
def encode_door_update(key: DoorKey, update: _DoorUpdateLike, blocklist_len: int) -> bytes: ...
def encode_door_updates(
    jobs: Iterable[tuple[DoorKey, _DoorUpdateLike, int]], parallel: bool = True
) -> list[bytes]: ...
def open_door_update(
    message: bytes, keys: Sequence[DoorKey], newest_format: int = ...
) -> tuple[
    str,
    int,
    str,
    int,
    int,
    list[
        tuple[
            int,
            bytes,
            int | None,
            int | None,
            tuple[str, list[tuple[list[str], int, int]]] | None,
        ]
    ],
]: ...
def door_decision(
    valid_from: int, valid_until: int | None, schedule: _ScheduleLike | None, instant: int
) -> str: ...

# --- revocation runs (keyworker_core::revocation) ---

__all__ += [
    "DEFAULT_CHUNK_KEYS",
    "MAX_CHUNK_KEYS",
    "REVOCATION_DECISIONS",
    "plan_revocation",
    "revoke_chunk",
]

REVOCATION_DECISIONS: tuple[str, ...]
DEFAULT_CHUNK_KEYS: int
MAX_CHUNK_KEYS: int

def plan_revocation(
    key_types: Buffer,
    flags: Buffer,
    valid_from: Buffer,
    valid_until: Buffer,
    door_offsets: Buffer,
    door_states: Buffer,
    door_index: Buffer,
    door_count: int,
    holder_index: Buffer,
    holder_count: int,
    now: int,
    *,
    target: str = "all",
    members: Buffer | None = None,
    key_types_mask: int | None = None,
    statuses_mask: int | None = None,
    chunk_size: int | None = None,
    threads: int | None = None,
) -> tuple[int, list[int], list[int], int, bytes, int, int, bytes, bytes, bytes, bytes]: ...
def revoke_chunk(
    key_types: Buffer,
    flags: Buffer,
    valid_from: Buffer,
    valid_until: Buffer,
    door_offsets: Buffer,
    door_states: Buffer,
    door_index: Buffer,
    door_count: int,
    now: int,
) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes]: ...

# --- limits on a key (keyworker_core::limits) ---

__all__ += [
    "MAX_DOORS",
    "MAX_ID_LEN",
    "MAX_TIME_ZONE_LEN",
    "MAX_WEEKDAYS",
    "MAX_WINDOWS",
]

MAX_ID_LEN: int
MAX_DOORS: int
MAX_WINDOWS: int
MAX_TIME_ZONE_LEN: int
MAX_WEEKDAYS: int
