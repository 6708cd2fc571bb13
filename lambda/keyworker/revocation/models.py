"""The stored records of a revocation run: the run (state, counters), its plan, its chunks
(key ids and, once done, their outcome) and its final report. Layout: ``docs/data-model.md``
("Revocation runs"); how runs work: ``docs/revocation-runs.md``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keyworker.domain.models import iso
from keyworker.revocation.selectors import Selector

PLANNING = "planning"
PLANNED = "planned"  # a dry run's final state: planned, never executed
RUNNING = "running"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
DONE = "done"
RUN_STATES = (PLANNING, PLANNED, RUNNING, CANCELLING, CANCELLED, DONE)
FINAL_STATES = frozenset({PLANNED, CANCELLED, DONE})

# What happened to each selected key; a finished run's counts add up to its selected keys
# (plus the explicitly named keys that do not exist, counted as failed).
REVOKED = "revoked"
ALREADY_REVOKED = "already_revoked"
FAILED = "failed"
CANCELLED_KEYS = "cancelled"
OUTCOMES = (REVOKED, ALREADY_REVOKED, FAILED, CANCELLED_KEYS)


def zero_counts() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A revocation run as stored. ``counts`` and ``chunks_done`` only grow, once per chunk
    (the chunk numbers already counted are kept with them)."""

    site_id: str
    run_id: str
    selector: Selector
    reason: str | None
    dry_run: bool
    state: str
    started_by: str
    created_at: int
    chunk_size: int
    request_fingerprint: str | None = None
    planned_at: int | None = None
    finished_at: int | None = None
    # The planning attempt whose plan and chunks the run executes (set when planned).
    attempt: str | None = None
    selected: int = 0
    chunk_count: int = 0
    keys_total: int = 0  # keys in chunks (to revoke)
    keys_done: int = 0
    chunks_done: int = 0
    dispatched: bool = False
    counts: Mapping[str, int] = field(default_factory=zero_counts)

    @property
    def actor(self) -> str:
        """Who the audit trail names for the keys this run changes."""
        return f"run:{self.run_id}"

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def all_chunks_counted(self) -> bool:
        return self.chunks_done >= self.chunk_count

    def progress_api(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "dry_run": self.dry_run,
            "selector": self.selector.as_api(),
            "reason": self.reason,
            "started_by": self.started_by,
            "created_at": iso(self.created_at),
            "planned_at": iso(self.planned_at),
            "finished_at": iso(self.finished_at),
            "progress": {
                "keys_total": self.keys_total,
                "keys_done": self.keys_done,
                "chunks_total": self.chunk_count,
                "chunks_done": self.chunks_done,
            },
            "counts": dict(self.counts),
        }


@dataclass(frozen=True, slots=True)
class Failure:
    key_id: str
    reason: str

    def as_api(self) -> dict[str, str]:
        return {"key_id": self.key_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class DoorChangeMade:
    """The door changes a chunk made at one door: the last one's version, how many key rows
    they carry, and how many there are (one, unless keys had to be read again)."""

    version: int
    keys: int
    changes: int = 1


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What one chunk did, recorded once (a redelivered chunk reads it instead of redoing)."""

    counts: Mapping[str, int]
    failures: tuple[Failure, ...] = ()
    doors: Mapping[str, DoorChangeMade] = field(default_factory=dict)
    finished_at: int = 0
    # Digital keys revoked: each waits for its app to reload the key list.
    revoked_digital_keys: int = 0

    @property
    def keys(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    site_id: str
    run_id: str
    attempt: str
    number: int
    key_ids: tuple[str, ...]
    outcome: ChunkOutcome | None = None
    # The chunk's access media as the plan read them (``RunStore.put_chunks``), compressed;
    # removed once the chunk is done.
    snapshot: bytes | None = None
