"""Bulk revocation runs: selectors, the core's plan, run records, chunk execution, the jobs
that carry them and the ``keyworker revoke`` command (``docs/revocation-runs.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyworker.domain.engine import Engine
from keyworker.revocation.service import ChunkResult, RevocationService, RunDispatcher
from keyworker.revocation.store import Backoff, RunStore

if TYPE_CHECKING:
    from keyworker.domain import Ports


def build_revocation_service(
    ports: Ports,
    dynamodb: Any,
    table_name: str,
    dispatcher: RunDispatcher,
    **options: Any,
) -> RevocationService:
    """The service over the same ports as the other services (composition roots call this)."""
    return RevocationService(Engine(ports), RunStore(dynamodb, table_name), dispatcher, **options)


__all__ = [
    "Backoff",
    "ChunkResult",
    "RevocationService",
    "RunDispatcher",
    "RunStore",
    "build_revocation_service",
]
