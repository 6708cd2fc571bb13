"""The ports the domain services are given: the state store and the outside world.

Services take these as constructor arguments; the composition root of each Lambda (or a test)
decides what stands behind them. Every method of :class:`KeyStore` costs a fixed number of
DynamoDB calls except the ``query_*`` and ``list_*`` methods, which are not used on a per-key
path (see ``docs/data-model.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from keyworker.domain.models import (
    AuditEvent,
    Door,
    DoorChange,
    DoorEntry,
    DoorUpdate,
    KeyRecord,
    PhoneRecord,
)
from keyworker.phones import PhoneHasher
from keyworker.site_settings import SiteSettings

if TYPE_CHECKING:
    # Annotations only: importing these costs nothing at run time.
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from keyworker.credentials import DoorKey, SigningKey, VerificationKey
    from keyworker.jobs.schema import Job

# What applying a field event returned (ids only), as the deduplicator stores it.
Result = Mapping[str, Any]


class KeyStore(Protocol):
    """State of doors, keys, phones, door changes and the audit trail.

    Writes of versioned items (:meth:`save_door`, :meth:`save_key`, :meth:`save_phone`) are
    conditional on the stored revision being one less than the given one (or on the item not
    existing when the given one is 1) and raise :class:`keyworker.errors.ConcurrentUpdate` when
    another writer got there first. Append-only items (changes, events) are written only if
    absent; the methods return False when the item was already there.

    A door's versions are never part of a whole-item write: :meth:`save_door` of a stored door
    writes only its description (name, kind, connectivity), conditional on its ``rev`` and on
    its versions being the ones given; versions move by :meth:`allocate_door_version` and
    :meth:`confirm_door_version`, each one conditional update returning the door as stored.
    """

    def get_door(self, site_id: str, door_id: str) -> Door | None: ...

    def get_doors(self, site_id: str, door_ids: Iterable[str]) -> dict[str, Door]: ...

    def save_door(self, door: Door) -> None: ...

    def allocate_door_version(
        self, site_id: str, door_id: str, *, connectivity: str, now: int
    ) -> Door:
        """The door's next version, atomically (``desired_version`` + 1): the door as it is
        afterwards, pending since ``now`` if it was up to date. ConcurrentUpdate when the
        door's connectivity is no longer ``connectivity`` (or the door does not exist)."""
        ...

    def confirm_door_version(
        self,
        site_id: str,
        door_id: str,
        version: int,
        *,
        pending_since: int | None,
        seen_at: int | None = None,
    ) -> Door:
        """``confirmed_version`` rises to ``version``: with ``pending_since`` None only if that
        is the desired version (the door leaves the worklist), else only if a later version
        exists (the oldest unconfirmed work is then as old as ``pending_since``).
        ConcurrentUpdate when the door has confirmed ``version`` already or that condition
        does not hold. ``seen_at`` is recorded as the door's ``last_seen`` in the same write."""
        ...

    def door_failed(self, site_id: str, door_id: str, reason: str) -> None:
        """Note why sending the door its update failed (its ``last_error``, cleared by its
        next confirmation)."""
        ...

    def door_seen(self, site_id: str, door_id: str, seen_at: int) -> Door | None:
        """Record that the door was heard from at ``seen_at`` (a ``door.heartbeat``): its
        ``last_seen`` only ever rises. The door afterwards; None when there is no such door."""
        ...

    def get_key(self, site_id: str, key_id: str) -> KeyRecord | None: ...

    def get_keys(self, site_id: str, key_ids: Iterable[str]) -> dict[str, KeyRecord]: ...

    def save_key(self, record: KeyRecord) -> None:
        """Write the key if its stored version is ``record.version - 1`` (absent for 1); else
        ``ConcurrentUpdate``, with ``current`` the key as stored when the store got it back."""
        ...

    def get_phone(self, site_id: str, phone_hash: str) -> PhoneRecord | None: ...

    def get_phones(self, site_id: str, phone_hashes: Iterable[str]) -> dict[str, PhoneRecord]:
        """The phones that exist, by hash (one BatchGetItem per 100)."""
        ...

    def save_phone(self, phone: PhoneRecord) -> None:
        """As :meth:`save_key`, on the phone's ``rev``."""
        ...

    def put_change(self, change: DoorChange) -> bool: ...

    def get_changes(
        self, site_id: str, door_id: str, versions: Iterable[int]
    ) -> dict[int, DoorChange]: ...

    def put_event(self, event: AuditEvent) -> bool: ...

    def put_events(self, events: Iterable[AuditEvent]) -> None: ...

    def list_events(self, site_id: str, key_id: str) -> list[AuditEvent]: ...

    def query_keys(
        self,
        site_id: str,
        *,
        status: str | None,
        key_type: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
    ) -> tuple[list[KeyRecord], Mapping[str, Any] | None]: ...

    def query_due_keys(self, now: int, *, limit: int) -> list[tuple[str, str]]: ...

    def query_doors_to_visit(self, site_id: str) -> list[Door]: ...

    def query_site_keys(self, site_id: str, *, max_keys: int) -> list[KeyRecord] | None:
        """Every key of the site (facts only: no audit event, phone or card), by a paginated
        Query; None when the site has more than ``max_keys`` keys."""
        ...

    def query_site_runs(self, site_id: str) -> list[tuple[str, str, int, int]]:
        """``(run_id, state, keys_total, keys_done)`` of the site's revocation runs."""
        ...

    def query_doors(self, site_id: str) -> list[Door]:
        """Every door of the site (one paginated Query of its partition's door items)."""
        ...

    def query_doors_to_sync(self, pending_before: int, *, limit: int) -> list[Door]: ...


class DigitalKeyCredentialRequest(Protocol):
    """What a digital key's signed credential states (a view of its stored facts)."""

    @property
    def site_id(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def holder_id(self) -> str: ...
    @property
    def door_ids(self) -> tuple[str, ...]: ...
    @property
    def valid_from(self) -> int: ...
    @property
    def valid_until(self) -> int | None: ...
    @property
    def schedule(self) -> Mapping[str, Any] | None: ...


class CredentialSigner(Protocol):
    """Issues the signed credential of a digital key (doors verify it; no door update needed)."""

    def sign_digital_key(self, key: DigitalKeyCredentialRequest) -> bytes: ...


class DoorUpdateEncoder(Protocol):
    """Encodes (and MACs) the entries a door at ``from_version`` applies to reach
    ``to_version``."""

    def encode(
        self,
        site_id: str,
        door_id: str,
        from_version: int,
        to_version: int,
        entries: Sequence[DoorEntry],
    ) -> bytes: ...


class DoorGateway(Protocol):
    """Tells an online door that it has work up to ``version``; the door (or the door-command
    sender) fetches the update and later reports ``door.synced``. Must be idempotent: a retried
    command may ask twice for the same version."""

    def request_sync(self, site_id: str, door_id: str, version: int) -> None: ...


class MobileAccessGateway(Protocol):
    """The mobile-access cloud: hands digital keys to phones and takes them back.

    Both calls must be idempotent per ``key_id``: a retried command repeats them.
    """

    def deliver(self, site_id: str, key_id: str, phone_e164: str, credential: bytes) -> None: ...

    def revoke(self, site_id: str, key_id: str, phone_e164: str) -> None: ...


class DeliveryQueue(Protocol):
    """Hands the delivery of a digital key (signing included) to a worker instead of doing it
    inline: the HTTP API must not call the mobile-access cloud while a request waits. The
    worker re-reads the key and delivers it only if it is still due. Must be idempotent per
    ``key_id``."""

    def request_delivery(self, site_id: str, key_id: str) -> None: ...

    def request_deliveries(self, site_id: str, key_ids: Sequence[str]) -> None:
        """Several at once (a batch create), the same as one call each."""
        ...


class Clock(Protocol):
    """Tells the current instant as UTC epoch seconds."""

    def now(self) -> int: ...


class JobQueue(Protocol):
    """Where jobs for the worker go. ``put`` returns once the job is durably queued."""

    def put(self, job: Job, *, delay_seconds: int = 0) -> None: ...

    def put_many(self, jobs: Sequence[Job]) -> None:
        """Several jobs (no delay) in as few calls as the queue takes; returns once every
        one is durably queued, or raises (some may be queued: jobs are idempotent)."""
        ...


class RunDispatcher(Protocol):
    """Fans a run's work out: the plan job, then one job per chunk (the jobs queue)."""

    def plan(self, site_id: str, run_id: str) -> None: ...

    def chunks(self, site_id: str, run_id: str, numbers: Sequence[int]) -> None: ...


class DoorCommands(Protocol):
    """Sends an encoded door update to its (online) door. Idempotent per (door, version)."""

    def send(self, update: DoorUpdate) -> None: ...


class Deduplicator(Protocol):
    """Runs ``action`` once per ``message_id``; returns its result and whether it ran now."""

    def run(self, message_id: str, action: Callable[[], Result]) -> tuple[Result, bool]: ...

    def register_lambda_context(self, context: LambdaContext | None) -> None: ...


class WebhookFanout(Protocol):
    """Hands a site's new outbound events to its webhook subscriptions (their delivery queue)."""

    def fan_out(self, site_id: str, events: Sequence[Mapping[str, Any]]) -> None: ...


class Keyring(Protocol):
    """The keys a service needs for a site. Services get one injected; they never build it."""

    def signing_key(self, site_id: str) -> SigningKey:
        """The site's current signing key."""
        ...

    def verification_keys(
        self, site_id: str, *, refresh: bool = False
    ) -> tuple[VerificationKey, ...]:
        """Every key a credential of this site may be signed with: current and not retired."""
        ...

    def door_key(self, site_id: str, door_id: str) -> DoorKey:
        """The door's current MAC key (derived from the site's current door master)."""
        ...

    def door_keys(self, site_id: str, door_id: str) -> tuple[DoorKey, ...]:
        """Every MAC key the door may see: one per door master not retired, current first."""
        ...


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything the services are given; nothing here is built from the environment."""

    store: KeyStore
    clock: Clock
    signer: CredentialSigner
    encoder: DoorUpdateEncoder
    door_gateway: DoorGateway
    mobile_gateway: MobileAccessGateway
    phone_hasher: PhoneHasher
    # ISO 3166 region used to read phone numbers written without a country code (None: only
    # international numbers are accepted).
    default_region: str | None = None
    # When set, digital keys are handed to it instead of being signed and delivered inline
    # (the api Lambda: the worker signs and delivers; see KeyService.deliver_now).
    delivery_queue: DeliveryQueue | None = None
    # Door health and stuck-work thresholds per site (docs/status-rules.md, "Who must act").
    site_settings: SiteSettings = field(default_factory=SiteSettings)
