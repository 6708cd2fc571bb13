"""A site with doors and keys, the revocation service over it, and a queue of the jobs the
service dispatched that a test works off like the worker would."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers.handler_harness import Stack
from moto_state import CallCounter, scan_all
from service_world import SITE, World, build_world

from keyworker.adapters.dynamodb.run_store import Backoff, RunStore
from keyworker.domain.engine import Engine
from keyworker.revocation.models import RunRecord
from keyworker.revocation.service import RevocationService

OTHER_SITE = "site-2"


@dataclass
class QueuedJobs:
    """The run dispatcher of the tests: jobs wait here until the test runs them."""

    plan_jobs: list[tuple[str, str]] = field(default_factory=list)
    chunk_jobs: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, site_id: str, run_id: str) -> None:
        with self._lock:
            self.plan_jobs.append((site_id, run_id))

    def chunks(self, site_id: str, run_id: str, numbers: Sequence[int]) -> None:
        with self._lock:
            self.chunk_jobs.extend((site_id, run_id, n) for n in numbers)

    def chunks_of(self, run_id: str) -> list[int]:
        return [n for _, r, n in self.chunk_jobs if r == run_id]


@dataclass
class RunWorld:
    world: World
    service: RevocationService
    jobs: QueuedJobs
    runs: RunStore
    client: Any

    def building(
        self,
        flats: int,
        *,
        cards_per_flat: int = 2,
        digital_per_flat: int = 1,
        site: str = SITE,
        prefix: str = "",
    ) -> dict[str, list[str]]:
        """An online entrance, an offline garage, and ``flats`` offline flat doors; each flat
        gets its cards (entrance, garage, flat: three doors) and digital keys. Returns the key
        ids by flat door."""
        w = self.world
        w.door(f"{prefix}entrance", kind="common", connectivity="online", site=site)
        w.door(f"{prefix}garage", kind="common", connectivity="offline", site=site)
        keys: dict[str, list[str]] = {}
        services = w.services
        for f in range(flats):
            flat = f"{prefix}flat-{f}"
            w.door(flat, site=site)
            doors = [f"{prefix}entrance", f"{prefix}garage", flat]
            ids = []
            for c in range(cards_per_flat):
                ids.append(
                    services.keys.create_access_medium(
                        site,
                        holder_id=f"holder-{f}",
                        card_uid=f"card-{f}-{c}",
                        door_ids=doors,
                        valid_from=w.clock.now() - 86_400,
                        actor="admin",
                    ).record.key_id
                )
            for d in range(digital_per_flat):
                ids.append(
                    services.keys.create_digital_key(
                        site,
                        holder_id=f"holder-{f}",
                        phone=f"+4179{f:03d}{d:04d}",
                        door_ids=doors,
                        valid_from=w.clock.now() - 86_400,
                        actor="admin",
                    ).record.key_id
                )
            keys[flat] = ids
        return keys

    def plan(self, run_id: str | None = None) -> None:
        """Runs the queued plan jobs (or only the given run's)."""
        pending, self.jobs.plan_jobs = self.jobs.plan_jobs, []
        for site_id, queued in pending:
            if run_id is None or queued == run_id:
                self.service.plan_run(site_id, queued)
            else:
                self.jobs.plan_jobs.append((site_id, queued))

    def work(self, run_id: str, *, skip: Callable[[int], bool] = lambda _n: False) -> None:
        """Runs the run's queued chunk jobs in order."""
        for site_id, queued, number in list(self.jobs.chunk_jobs):
            if queued == run_id and not skip(number):
                self.service.execute_chunk(site_id, queued, number)

    def run(self, selector: dict[str, Any], *, site: str = SITE, **kwargs: Any) -> RunRecord:
        """Starts a run and works off its jobs; the run as it ends."""
        run = self.service.start(site, selector, actor="admin", **kwargs)
        self.plan(run.run_id)
        self.work(run.run_id)
        return self.service.get_run(site, run.run_id)

    def revoke_events(self, key_id: str, site: str = SITE) -> list[Any]:
        events = self.world.store.list_events(site, key_id)
        return [e for e in events if e.action == "revoked"]

    def table(self) -> list[dict[str, Any]]:
        return scan_all(self.client)

    def counter(self) -> CallCounter:
        return CallCounter(self.client)


def build_run_world(client: Any, table: str, **options: Any) -> RunWorld:
    world = build_world(client)
    jobs = QueuedJobs()
    assert world.ports is not None
    runs = RunStore(client, table, backoff=Backoff(base_seconds=0.001, cap_seconds=0.01))
    options.setdefault("chunk_size", 4)
    service = RevocationService(Engine(world.ports), runs, jobs, **options)
    return RunWorld(world, service, jobs, runs, client)


def counts_in_table(world: RunWorld, key_ids: Sequence[str], actor: str) -> Counter[str]:
    """What the table says about ``key_ids``: revoked by ``actor``, or otherwise."""
    found: Counter[str] = Counter()
    for key_id in key_ids:
        record = world.world.store.get_key(SITE, key_id)
        assert record is not None
        revoked_by = [e.actor for e in world.revoke_events(key_id)]
        if not record.revoked:
            found["not_revoked"] += 1
        elif actor in revoked_by:
            found["revoked"] += 1
        else:
            found["already_revoked"] += 1
    return found


def api_site(stack: Stack, flats: int = 3) -> list[str]:
    """Through the API: an online entrance and ``flats`` offline flats with two cards each."""
    stack.door("entrance", connectivity="online", kind="common")
    key_ids = []
    for f in range(flats):
        stack.door(f"flat-{f}")
        for c in range(2):
            created = stack.api(
                "POST",
                "/access-media",
                {
                    "holder_id": f"holder-{f}",
                    "card_uid": f"card-{f}-{c}",
                    "door_ids": ["entrance", f"flat-{f}"],
                    "valid_from": "2026-01-01T00:00:00Z",
                },
            )
            assert created.status == 202, created.body
            key_ids.append(created.body["key_id"])
    stack.run_jobs()
    return key_ids
