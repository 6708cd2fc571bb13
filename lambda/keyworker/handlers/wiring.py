"""The composition root of each Lambda: reads the environment and builds clients, adapters
and services — lazily, once per container, on the first invocation (never at import: import
time is a cold-start cost, and tests set the environment after importing).

Environment (set by ``infra/template.yaml``; the local stack sets the same):

| variable | used by | what |
|---|---|---|
| ``TABLE_NAME`` | all | the state table |
| ``PHONE_HASH_SECRET_ID`` | all | Secrets Manager secret: base64 of >= 16 random bytes |
| ``KEYS_SECRET_PREFIX`` | all | prefix of the sites' credential-key secrets (``keyworker``) |
| ``JOBS_QUEUE_URL`` | api, events, expiry | where side effects go for the worker |
| ``DOOR_COMMANDS_QUEUE_URL`` | worker | where online doors' updates go |
| ``MOBILE_ACCESS_URL`` | worker | base URL of the mobile-access cloud |
| ``MOBILE_ACCESS_TOKEN_SECRET_ID`` | worker | optional: secret holding its bearer token |
| ``DEFAULT_PHONE_REGION`` | all | optional: region of national phone numbers (e.g. CH) |
| ``DEDUPE_TTL_SECONDS`` | worker, events, api | how long a message id is remembered |
| ``MAX_RECEIVE_COUNT`` | worker, events | the queues' redrive ``maxReceiveCount`` |
| ``STALE_SYNC_SECONDS`` | expiry | age of online-door work that is asked again |
| ``DOOR_SYNC_DELAY_SECONDS`` | api, events, expiry | door syncs held back: a burst, one update |
| ``EVENT_BUS_NAME`` | stream | the EventBridge bus outbound events go to |
| ``EVENTS_TABLE_NAME`` | api, stream | the sites' outbound event feeds (``docs/events.md``) |
| ``WEBHOOK_QUEUE_URL`` | api, webhooks | the webhook delivery queue (unset: no webhook routes) |
| ``WEBHOOK_DLQ_URL`` | webhooks | where deliveries that failed for good are copied |
| ``WEBHOOK_ALLOW_LOOPBACK`` | api, webhooks | local stack only: webhooks to 127.0.0.1 (http) |

``AWS_ENDPOINT_URL`` (boto3's own) points every client at the local emulator.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyworker.errors import ConfigurationError
from keyworker.site_settings import SiteSettings

if TYPE_CHECKING:
    from keyworker.api.deps import ApiDeps
    from keyworker.domain.ports import Deduplicator, Ports, WebhookFanout
    from keyworker.domain.services import Services
    from keyworker.feedback import FieldFeedback
    from keyworker.jobs.context import JobContext
    from keyworker.outbound.processor import StreamProcessor
    from keyworker.outbound.webhooks.delivery import WebhookDeliverer
    from keyworker.outbound.webhooks.fanout import SqsWebhookFanout
    from keyworker.outbound.webhooks.queue import SqsDeliveryQueue
    from keyworker.outbound.webhooks.secrets import SecretsManagerWebhookSecrets
    from keyworker.outbound.webhooks.service import WebhookService
    from keyworker.outbound.webhooks.store import WebhookStore
    from keyworker.outbound.webhooks.urls import UrlPolicy
    from keyworker.revocation.service import RevocationService

DEFAULT_MAX_RECEIVE_COUNT = 5
DEFAULT_STALE_SYNC_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    phone_hash_secret_id: str
    keys_secret_prefix: str = "keyworker"
    jobs_queue_url: str | None = None
    door_commands_queue_url: str | None = None
    mobile_access_url: str | None = None
    mobile_access_token_secret_id: str | None = None
    default_phone_region: str | None = None
    dedupe_ttl_seconds: int | None = None
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    stale_sync_seconds: int = DEFAULT_STALE_SYNC_SECONDS
    door_sync_delay_seconds: int = 0
    event_bus_name: str | None = None
    events_table_name: str | None = None
    webhook_queue_url: str | None = None
    webhook_dlq_url: str | None = None
    webhook_allow_loopback: bool = False
    site_settings: SiteSettings = field(default_factory=SiteSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def optional(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def required(name: str) -> str:
            value = optional(name)
            if value is None:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        def integer(name: str, default: int | None) -> Any:
            value = optional(name)
            if value is None:
                return default
            try:
                number = int(value)
            except ValueError:
                raise ConfigurationError(f"{name} must be an integer") from None
            if number <= 0:
                raise ConfigurationError(f"{name} must be positive")
            return number

        return cls(
            table_name=required("TABLE_NAME"),
            phone_hash_secret_id=required("PHONE_HASH_SECRET_ID"),
            keys_secret_prefix=optional("KEYS_SECRET_PREFIX") or "keyworker",
            jobs_queue_url=optional("JOBS_QUEUE_URL"),
            door_commands_queue_url=optional("DOOR_COMMANDS_QUEUE_URL"),
            mobile_access_url=optional("MOBILE_ACCESS_URL"),
            mobile_access_token_secret_id=optional("MOBILE_ACCESS_TOKEN_SECRET_ID"),
            default_phone_region=optional("DEFAULT_PHONE_REGION"),
            dedupe_ttl_seconds=integer("DEDUPE_TTL_SECONDS", None),
            max_receive_count=integer("MAX_RECEIVE_COUNT", DEFAULT_MAX_RECEIVE_COUNT),
            stale_sync_seconds=integer("STALE_SYNC_SECONDS", DEFAULT_STALE_SYNC_SECONDS),
            door_sync_delay_seconds=_sync_delay(optional("DOOR_SYNC_DELAY_SECONDS")),
            event_bus_name=optional("EVENT_BUS_NAME"),
            events_table_name=optional("EVENTS_TABLE_NAME"),
            webhook_queue_url=optional("WEBHOOK_QUEUE_URL"),
            webhook_dlq_url=optional("WEBHOOK_DLQ_URL"),
            webhook_allow_loopback=(optional("WEBHOOK_ALLOW_LOOPBACK") or "").lower()
            in ("1", "true", "yes"),
            site_settings=SiteSettings.from_json(optional("SITE_THRESHOLDS")),
        )

    def need(self, value: str | None, name: str) -> str:
        if value is None:
            raise ConfigurationError(f"environment variable {name} is not set")
        return value


def _sync_delay(value: str | None) -> int:
    """SQS holds a message back 0 to 900 seconds."""
    if value is None:
        return 0
    try:
        seconds = int(value)
    except ValueError:
        raise ConfigurationError("DOOR_SYNC_DELAY_SECONDS must be an integer") from None
    if not 0 <= seconds <= 900:
        raise ConfigurationError("DOOR_SYNC_DELAY_SECONDS must be 0..900")
    return seconds


# ----------------------------------------------------------------------------- clients


def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Service names are chosen at run time here; boto3-stubs only types literal names.
    factory: Any = boto3.client
    return factory(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))


def _secret_bytes(client: Any, secret_id: str) -> bytes:
    value = client.get_secret_value(SecretId=secret_id)
    if "SecretBinary" in value:
        return bytes(value["SecretBinary"])
    try:
        return base64.b64decode(value["SecretString"], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"secret {secret_id} is not base64") from None


def _secret_text(client: Any, secret_id: str) -> str:
    return str(client.get_secret_value(SecretId=secret_id)["SecretString"]).strip()


@dataclass(frozen=True, slots=True)
class _Common:
    settings: Settings
    dynamodb: Any
    secrets: Any
    sqs: Any  # every function sends to a queue: one client, however many senders


@functools.cache
def _common() -> _Common:
    return _Common(
        Settings.from_env(), _client("dynamodb"), _client("secretsmanager"), _client("sqs")
    )


def _ports(common: _Common, **gateways: Any) -> Ports:
    from keyworker.adapters.dynamodb import DynamoStore
    from keyworker.adapters.secrets_keyring import SecretsManagerKeyring
    from keyworker.clock import SystemClock
    from keyworker.domain.credential_adapters import CoreCredentialSigner, CoreDoorUpdateEncoder
    from keyworker.domain.ports import Ports
    from keyworker.phones import PhoneHasher

    settings = common.settings
    clock = SystemClock()
    keyring = SecretsManagerKeyring(common.secrets, prefix=settings.keys_secret_prefix)
    try:
        hasher = PhoneHasher(_secret_bytes(common.secrets, settings.phone_hash_secret_id))
    except ValueError as error:
        raise ConfigurationError(f"phone hash secret: {error}") from None
    return Ports(
        store=DynamoStore(common.dynamodb, settings.table_name),
        clock=clock,
        signer=CoreCredentialSigner(keyring.signing_key, clock),
        encoder=CoreDoorUpdateEncoder(keyring.door_key),
        phone_hasher=hasher,
        default_region=settings.default_phone_region,
        site_settings=settings.site_settings,
        **gateways,
    )


def _correlation_id() -> str | None:
    from keyworker.adapters.observability import correlation_id

    return correlation_id()


def _queued_ports(common: _Common) -> Ports:
    """Ports whose outside world is the jobs queue (api, events, expiry)."""
    from keyworker.jobs import QueuedGateways, SqsJobQueue

    url = common.settings.need(common.settings.jobs_queue_url, "JOBS_QUEUE_URL")
    gateways = QueuedGateways(
        SqsJobQueue(common.sqs, url),
        _correlation_id,
        door_sync_delay_seconds=common.settings.door_sync_delay_seconds,
    )
    return _ports(common, door_gateway=gateways, mobile_gateway=gateways, delivery_queue=gateways)


def _queued_services(common: _Common) -> Services:
    """Services whose outside-world ports put jobs on the jobs queue (api, events, expiry)."""
    from keyworker.domain.services import build_services

    return build_services(_queued_ports(common))


def _revocations(common: _Common, ports: Ports) -> RevocationService:
    """Bulk revocation runs over the same ports; their plan and chunk jobs go to the jobs
    queue (docs/revocation-runs.md)."""
    from keyworker.revocation.jobs import SqsRunDispatcher
    from keyworker.revocation.service import build_revocation_service

    settings = common.settings
    queue = SqsRunDispatcher(common.sqs, settings.need(settings.jobs_queue_url, "JOBS_QUEUE_URL"))
    return build_revocation_service(ports, common.dynamodb, settings.table_name, queue)


def _dedupe(common: _Common, scope: str) -> Deduplicator:
    from keyworker.adapters.dedupe import DEFAULT_EXPIRY_SECONDS, DynamoDeduplicator

    settings = common.settings
    return DynamoDeduplicator(
        common.dynamodb,
        settings.table_name,
        scope=scope,
        expires_after_seconds=settings.dedupe_ttl_seconds or DEFAULT_EXPIRY_SECONDS,
    )


def _feedback(common: _Common, services: Services) -> FieldFeedback:
    from keyworker.feedback import FieldFeedback

    # One scope for both entries: an event sent to the queue and to POST /events is one event.
    return FieldFeedback(services, _dedupe(common, "field-events"))


@dataclass(frozen=True, slots=True)
class _Webhooks:
    store: WebhookStore
    secrets: SecretsManagerWebhookSecrets
    queue: SqsDeliveryQueue
    policy: UrlPolicy


def _webhooks(common: _Common) -> _Webhooks:
    from keyworker.adapters.dynamodb.client import TableClient
    from keyworker.outbound.webhooks.queue import SqsDeliveryQueue
    from keyworker.outbound.webhooks.secrets import SecretsManagerWebhookSecrets
    from keyworker.outbound.webhooks.store import WebhookStore
    from keyworker.outbound.webhooks.urls import UrlPolicy

    settings = common.settings
    url = settings.need(settings.webhook_queue_url, "WEBHOOK_QUEUE_URL")
    return _Webhooks(
        store=WebhookStore(TableClient(common.dynamodb, settings.table_name)),
        secrets=SecretsManagerWebhookSecrets(common.secrets, prefix=settings.keys_secret_prefix),
        queue=SqsDeliveryQueue(common.sqs, url),
        policy=UrlPolicy(allow_loopback=settings.webhook_allow_loopback),
    )


@functools.cache
def webhook_fanout() -> SqsWebhookFanout:
    """The fan-out onto the webhook delivery queue: the stream processor's ``WebhookFanout``
    port (contract B), built once per container (it caches the sites' subscriptions)."""
    from keyworker.outbound.webhooks.fanout import SqsWebhookFanout

    parts = _webhooks(_common())
    return SqsWebhookFanout(parts.store, parts.queue)


# ------------------------------------------------------------------ one root per Lambda


@functools.cache
def api() -> ApiDeps:
    from keyworker.api.deps import ApiDeps
    from keyworker.domain.services import build_services

    common = _common()
    ports = _queued_ports(common)
    services = build_services(ports)
    from keyworker.outbound.feed import DynamoEventFeed

    events_table = common.settings.events_table_name
    return ApiDeps(
        services=services,
        feedback=_feedback(common, services),
        revocations=_revocations(common, ports),
        event_feed=None if events_table is None else DynamoEventFeed(common.dynamodb, events_table),
        webhooks=_webhook_service(common),
    )


def _webhook_service(common: _Common) -> WebhookService | None:
    from keyworker.outbound.webhooks.service import WebhookService

    if common.settings.webhook_queue_url is None:
        return None
    parts = _webhooks(common)
    return WebhookService(parts.store, parts.secrets, parts.queue, parts.policy)


@dataclass(frozen=True, slots=True)
class EventsDeps:
    feedback: FieldFeedback
    max_receive_count: int


@functools.cache
def events() -> EventsDeps:
    common = _common()
    return EventsDeps(
        feedback=_feedback(common, _queued_services(common)),
        max_receive_count=common.settings.max_receive_count,
    )


@dataclass(frozen=True, slots=True)
class ExpiryDeps:
    services: Services
    stale_sync_seconds: int


@functools.cache
def expiry() -> ExpiryDeps:
    common = _common()
    return ExpiryDeps(_queued_services(common), common.settings.stale_sync_seconds)


@dataclass(frozen=True, slots=True)
class WorkerDeps:
    context: JobContext
    dedupe: Deduplicator
    max_receive_count: int


@functools.cache
def worker() -> WorkerDeps:
    """The worker talks to the outside world itself: door commands and mobile access."""
    from keyworker.adapters.door_commands import DoorCommandsGateway, SqsDoorCommands
    from keyworker.adapters.mobile_access import HttpsMobileAccess
    from keyworker.domain.services import build_services
    from keyworker.jobs.context import JobContext
    from keyworker.revocation.jobs import EXTRAS_KEY as REVOCATIONS

    common = _common()
    settings = common.settings
    commands = SqsDoorCommands(
        common.sqs, settings.need(settings.door_commands_queue_url, "DOOR_COMMANDS_QUEUE_URL")
    )
    token: Callable[[], str] | None = None
    if settings.mobile_access_token_secret_id is not None:
        secret_id = settings.mobile_access_token_secret_id
        token = functools.cache(lambda: _secret_text(common.secrets, secret_id))
    mobile = HttpsMobileAccess(
        settings.need(settings.mobile_access_url, "MOBILE_ACCESS_URL"), token=token
    )
    doors = DoorCommandsGateway(commands)
    ports = _ports(common, door_gateway=doors, mobile_gateway=mobile)
    services = build_services(ports)
    doors.bind(lambda: services.doors)
    extras = {REVOCATIONS: _revocations(common, ports)}
    return WorkerDeps(
        context=JobContext(services=services, door_commands=commands, extras=extras),
        dedupe=_dedupe(common, "jobs"),
        max_receive_count=settings.max_receive_count,
    )


# ------------------------------------------------------------ outbound events (issue 13)


@dataclass(frozen=True, slots=True)
class StreamDeps:
    processor: StreamProcessor


def _stream_fanout(common: _Common) -> WebhookFanout:
    """Where outbound events meet webhook subscriptions: the SQS fan-out where the delivery
    queue is configured; without it, events go to the feed and the bus only."""
    from keyworker.outbound.processor import NoWebhooks

    if common.settings.webhook_queue_url is None:
        return NoWebhooks()
    return webhook_fanout()


@functools.cache
def stream() -> StreamDeps:
    from keyworker.adapters.dynamodb import DynamoStore
    from keyworker.outbound.eventbridge import EventBridgePublisher
    from keyworker.outbound.feed import DynamoEventFeed
    from keyworker.outbound.processor import StreamProcessor
    from keyworker.outbound.translate import Translator

    common = _common()
    settings = common.settings
    bus = settings.need(settings.event_bus_name, "EVENT_BUS_NAME")
    events_table = settings.need(settings.events_table_name, "EVENTS_TABLE_NAME")
    return StreamDeps(
        StreamProcessor(
            Translator(DynamoStore(common.dynamodb, settings.table_name)),
            DynamoEventFeed(common.dynamodb, events_table),
            EventBridgePublisher(_client("events"), bus),
            _stream_fanout(common),
        )
    )


@dataclass(frozen=True, slots=True)
class WebhooksDeps:
    deliverer: WebhookDeliverer
    max_receive_count: int


@functools.cache
def webhooks() -> WebhooksDeps:
    """The webhook delivery function: the delivery queue → receivers over HTTPS."""
    from keyworker.outbound.webhooks.delivery import WebhookDeliverer
    from keyworker.outbound.webhooks.queue import SqsDeliveryQueue

    common = _common()
    settings = common.settings
    parts = _webhooks(common)
    dead_letters = SqsDeliveryQueue(
        common.sqs, settings.need(settings.webhook_dlq_url, "WEBHOOK_DLQ_URL")
    )
    deliverer = WebhookDeliverer(
        parts.store, parts.secrets, parts.queue, dead_letters, parts.policy
    )
    return WebhooksDeps(deliverer, settings.max_receive_count)


def reset() -> None:
    """Forget every built root (tests change the environment between cases)."""
    for root in (_common, api, events, expiry, worker, stream, webhooks, webhook_fanout):
        root.cache_clear()
