"""Blocking and unblocking a phone number at a site, and the app's key-list reload.

A phone is known only by its keyed hash. Its item holds the blocked flag (the intent, written
first) and the ids of its digital keys, so these commands read the phone's keys by key — no
query. Blocking moves every delivered key of the phone to ``blocking_pending`` at each of its
doors, through the core's ``block``; every door they open gets one blocklist change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from keyworker import phones
from keyworker.domain import validation
from keyworker.domain.commands import AppReloaded, FollowPhone
from keyworker.domain.engine import MAX_ATTEMPTS, Engine
from keyworker.domain.models import DIGITAL_KEY, PhoneRecord
from keyworker.domain.pipeline import KeyPipeline
from keyworker.errors import ConcurrentUpdate

logger = logging.getLogger("keyworker.domain.phone_blocking")


@dataclass(frozen=True, slots=True)
class PhoneResult:
    """Outcome of a phone command: the masked number, its state, and the keys it touched."""

    phone_masked: str
    blocked: bool
    key_ids: tuple[str, ...]
    changed: bool


class PhoneService:
    """Block / unblock a phone number; the keyholder's app reloaded its key list."""

    def __init__(self, engine: Engine, pipeline: KeyPipeline) -> None:
        self._engine = engine
        self._store = engine.store
        self._ports = engine.ports
        self._pipeline = pipeline

    def _phone_hash(self, phone: str) -> tuple[str, str]:
        e164 = phones.normalize(phone, default_region=self._ports.default_region)
        return e164, self._ports.phone_hasher.hash(e164)

    def block(self, site_id: str, phone: str, *, actor: str) -> PhoneResult:
        return self._set_blocked(site_id, phone, blocked=True, actor=actor)

    def unblock(self, site_id: str, phone: str, *, actor: str) -> PhoneResult:
        return self._set_blocked(site_id, phone, blocked=False, actor=actor)

    def _set_blocked(self, site_id: str, phone: str, *, blocked: bool, actor: str) -> PhoneResult:
        site_id = validation.check_id(site_id, "site_id")
        e164, phone_hash = self._phone_hash(phone)
        changed = False
        for _ in range(MAX_ATTEMPTS):
            phone_record = self._store.get_phone(site_id, phone_hash) or PhoneRecord(
                site_id, phone_hash
            )
            if phone_record.blocked == blocked:
                break
            wanted = replace(
                phone_record,
                blocked=blocked,
                rev=phone_record.rev + 1,
                blocked_rev=phone_record.rev + 1,
            )
            try:
                self._store.save_phone(wanted)
            except ConcurrentUpdate:
                continue
            phone_record, changed = wanted, True
            break
        else:
            raise ConcurrentUpdate(f"a phone kept changing at site {site_id}; try again")
        # The phone's intent is written; now every key of it follows. On a replay this finds
        # every key already following and writes nothing (but finishes what a crash left).
        records = self._store.get_keys(site_id, phone_record.key_ids)
        digital = sorted(
            (r for r in records.values() if r.key_type == DIGITAL_KEY), key=lambda r: r.key_id
        )
        commands = [
            FollowPhone(site_id, r.key_id, phone_record.blocked, phone_record.blocked_rev, actor)
            for r in digital
        ]
        result = self._pipeline.run(
            commands,
            records={r.key_id: r for r in digital},
            action="block" if blocked else "unblock",
        )
        updated = [o.record for o in result.outcomes if o.record is not None]
        logger.info(
            "phone %s at site %s %s (%d keys)",
            phones.mask(e164),
            site_id,
            "blocked" if phone_record.blocked else "unblocked",
            len(updated),
        )
        return PhoneResult(
            phone_masked=phones.mask(e164),
            blocked=phone_record.blocked,
            key_ids=tuple(r.key_id for r in updated),
            changed=changed,
        )

    def app_reloaded(self, site_id: str, phone: str, *, actor: str) -> tuple[str, ...]:
        """The keyholder's app reloaded its key list: every revoked digital key of the phone
        completes its revocation (rows at doors become ``removed`` through the core's
        ``complete_revocation``). Returns the keys completed now; a repeat completes none."""
        site_id = validation.check_id(site_id, "site_id")
        _, phone_hash = self._phone_hash(phone)
        phone_record = self._store.get_phone(site_id, phone_hash)
        if phone_record is None:
            return ()
        records = self._store.get_keys(site_id, phone_record.key_ids)
        candidates = sorted(
            (r for r in records.values() if r.key_type == DIGITAL_KEY and r.revoked),
            key=lambda r: r.key_id,
        )
        result = self._pipeline.run(
            [AppReloaded(site_id, r.key_id, actor) for r in candidates],
            records={r.key_id: r for r in candidates},
        )
        return tuple(o.record.key_id for o in result.outcomes if o.changed and o.record)
