"""The services wired to the moto table and in-memory fakes of the outside world."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moto_state import CallCounter, new_store

from keyworker.adapters.dynamodb import DynamoStore
from keyworker.api.wire import key_out
from keyworker.clock import FixedClock
from keyworker.domain.models import DoorEntry
from keyworker.domain.ports import DigitalKeyCredentialRequest, Ports
from keyworker.domain.services import Services, build_services
from keyworker.phones import PhoneHasher

# 2026-01-05 00:00:00 UTC, a Monday.
T0 = 1_767_571_200
HOUR = 3600
DAY = 86_400
SITE = "site-1"
PHONE = "+41 79 123 45 67"
PHONE_E164 = "+41791234567"


class FakeSigner:
    def __init__(self) -> None:
        self.signed: list[str] = []
        self._lock = threading.Lock()

    def sign_digital_key(self, key: DigitalKeyCredentialRequest) -> bytes:
        with self._lock:
            self.signed.append(key.key_id)
        return f"credential:{key.key_id}:{','.join(key.door_ids)}".encode()


class FakeEncoder:
    """Encodes door updates as JSON so tests can read what a door was told."""

    def encode(
        self,
        site_id: str,
        door_id: str,
        from_version: int,
        to_version: int,
        entries: Sequence[DoorEntry],
    ) -> bytes:
        return json.dumps(
            {
                "door_id": door_id,
                "from": from_version,
                "to": to_version,
                "entries": [
                    {"op": e.op, "key_id": e.key_id, "subject": e.card_uid or e.phone_hash}
                    for e in entries
                ],
            }
        ).encode()


class FakeDoorGateway:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def request_sync(self, site_id: str, door_id: str, version: int) -> None:
        with self._lock:
            self.requests.append((site_id, door_id, version))


class FakeMobileGateway:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, str, bytes]] = []
        self.revoked: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def deliver(self, site_id: str, key_id: str, phone_e164: str, credential: bytes) -> None:
        with self._lock:
            self.delivered.append((site_id, key_id, phone_e164, credential))

    def revoke(self, site_id: str, key_id: str, phone_e164: str) -> None:
        with self._lock:
            self.revoked.append((site_id, key_id, phone_e164))


@dataclass
class World:
    client: Any
    store: DynamoStore
    clock: FixedClock
    services: Services
    hasher: PhoneHasher
    signer: FakeSigner = field(default_factory=FakeSigner)
    door_gateway: FakeDoorGateway = field(default_factory=FakeDoorGateway)
    mobile: FakeMobileGateway = field(default_factory=FakeMobileGateway)
    ports: Ports | None = None

    def door(
        self, door_id: str, *, kind: str = "unit", connectivity: str = "offline", site: str = SITE
    ) -> None:
        self.services.doors.put_door(
            site,
            door_id,
            name=f"Door {door_id}",
            kind=kind,
            connectivity=connectivity,
            actor="admin",
        )

    def access_medium(self, door_ids: Sequence[str], *, valid_from: int = T0, **kwargs: Any) -> str:
        kwargs.setdefault("holder_id", "holder-1")
        kwargs.setdefault("card_uid", "card-0001")
        kwargs.setdefault("actor", "admin")
        view = self.services.keys.create_access_medium(
            SITE, door_ids=list(door_ids), valid_from=valid_from, **kwargs
        )
        return view.record.key_id

    def digital_key(self, door_ids: Sequence[str], *, valid_from: int = T0, **kwargs: Any) -> str:
        kwargs.setdefault("holder_id", "holder-1")
        kwargs.setdefault("phone", PHONE)
        kwargs.setdefault("actor", "admin")
        view = self.services.keys.create_digital_key(
            SITE, door_ids=list(door_ids), valid_from=valid_from, **kwargs
        )
        return view.record.key_id

    def key(self, key_id: str) -> dict[str, Any]:
        return key_out(self.services.queries.get_key(SITE, key_id)).model_dump()

    def door_labels(self, key_id: str) -> dict[str, str | None]:
        return {
            d["door_id"]: None if d["status"] is None else d["status"]["label"]
            for d in self.key(key_id)["doors"]
        }

    def sync(self, door_id: str, version: int | None = None) -> Any:
        if version is None:
            version = self.services.doors.get_door(SITE, door_id).desired_version
        return self.services.doors.door_synced(SITE, door_id, version, actor=f"door:{door_id}")

    def counter(self) -> CallCounter:
        return CallCounter(self.client)


def build_world(
    client: Any, *, clock_at: int = T0, ports: Mapping[str, Any] | None = None
) -> World:
    store = new_store(client)
    clock = FixedClock(clock_at)
    hasher = PhoneHasher(b"test-secret-for-phone-hashes-0001")
    signer, door_gateway, mobile = FakeSigner(), FakeDoorGateway(), FakeMobileGateway()
    wired = Ports(
        store=store,
        clock=clock,
        signer=signer,
        encoder=FakeEncoder(),
        door_gateway=door_gateway,
        mobile_gateway=mobile,
        phone_hasher=hasher,
        **dict(ports or {}),
    )
    services = build_services(wired)
    return World(client, store, clock, services, hasher, signer, door_gateway, mobile, wired)
