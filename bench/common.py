"""What the benchmarks share: the machine they ran on, and services whose side effects go
nowhere (so a benchmark measures the store, not signing or delivery).

Each benchmark runs as ``python bench/<name>.py``, which puts this directory on ``sys.path``.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keyworker.adapters.dynamodb import DynamoStore
from keyworker.clock import FixedClock
from keyworker.domain.models import DoorEntry
from keyworker.domain.ports import DigitalKeyCredentialRequest, Ports
from keyworker.phones import PhoneHasher


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class _NullSigner:
    def sign_digital_key(self, key: DigitalKeyCredentialRequest) -> bytes:
        return key.key_id.encode()


class _NullEncoder:
    def encode(
        self,
        site_id: str,
        door_id: str,
        from_version: int,
        to_version: int,
        entries: Sequence[DoorEntry],
    ) -> bytes:
        return b""


class _NullGateway:
    def request_sync(self, site_id: str, door_id: str, version: int) -> None:
        pass

    def deliver(self, site_id: str, key_id: str, phone_e164: str, credential: bytes) -> None:
        pass

    def revoke(self, site_id: str, key_id: str, phone_e164: str) -> None:
        pass


def offline_ports(client: Any, table: str, now: int) -> Ports:
    """The real store at a fixed time; signing, door updates and deliveries are no-ops."""
    gateway = _NullGateway()
    return Ports(
        store=DynamoStore(client, table),
        clock=FixedClock(now),
        signer=_NullSigner(),
        encoder=_NullEncoder(),
        door_gateway=gateway,
        mobile_gateway=gateway,
        phone_hasher=PhoneHasher(b"bench-secret-for-phone-hashes!!"),
    )
