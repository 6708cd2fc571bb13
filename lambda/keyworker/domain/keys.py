"""Creating access media and digital keys, revoking keys, and the mobile-access cloud's
confirmation that a digital key was delivered.

Creating is idempotent through ``request_id`` (the API's idempotency key, or the id of the job
message that carries the command): the key id is derived from it, so a repeated request finds
the key it created before and finishes any work a crash left undone instead of creating a
second key. The same ``request_id`` with a different request is refused (IdempotencyConflict).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from keyworker import phones, status
from keyworker.domain import validation
from keyworker.domain.engine import MAX_ATTEMPTS, Engine
from keyworker.domain.models import (
    ACCESS_MEDIUM,
    DIGITAL_KEY,
    Door,
    DoorRow,
    KeyRecord,
    KeyView,
    PhoneRecord,
)
from keyworker.errors import ConcurrentUpdate, DoorNotFound, IdempotencyConflict

logger = logging.getLogger("keyworker.domain.keys")

# Namespace of key ids derived from request ids (uuid5): stable across deployments.
_KEY_ID_NAMESPACE = uuid.UUID("6f0d3c52-8f7e-4d43-9a43-0c5b2f1e7a11")
# A key's rows start here: the key is not at any door yet.
_NOT_AT_DOOR = status.DOOR_STATES[0]


def key_id_for(site_id: str, key_type: str, request_id: str | None) -> str:
    """A new key's id: derived from the request id when there is one (idempotent create)."""
    if request_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_KEY_ID_NAMESPACE, f"{site_id}\n{key_type}\n{request_id}"))


def _fingerprint(fields: Mapping[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class KeyService:
    """Commands on single keys: create, revoke, delivery confirmed."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._store = engine.store
        self._ports = engine.ports

    # ------------------------------------------------------------------------ creation

    def _doors_for_new_key(self, site_id: str, door_ids: tuple[str, ...]) -> dict[str, Door]:
        doors = self._store.get_doors(site_id, door_ids)
        missing = [door_id for door_id in door_ids if door_id not in doors]
        if missing:
            raise DoorNotFound(
                f"door(s) {', '.join(missing)} do not exist at site {site_id}", field="door_ids"
            )
        return doors

    def _existing(self, site_id: str, key_id: str, fingerprint: str) -> KeyRecord | None:
        record = self._store.get_key(site_id, key_id)
        if record is not None and record.request_fingerprint != fingerprint:
            raise IdempotencyConflict("request_id was already used for a different key request")
        return record

    def create_access_medium(
        self,
        site_id: str,
        *,
        holder_id: str,
        card_uid: str,
        door_ids: Sequence[str],
        valid_from: int,
        valid_until: int | None = None,
        schedule: Mapping[str, Any] | None = None,
        actor: str,
        request_id: str | None = None,
    ) -> KeyView:
        """A new access medium: every door of it gets deployment work (a door change)."""
        site_id = validation.check_id(site_id, "site_id")
        holder_id = validation.check_id(holder_id, "holder_id")
        card_uid = validation.check_id(card_uid, "card_uid")
        doors_ids = validation.check_door_ids(door_ids)
        start, end = validation.check_validity(valid_from, valid_until)
        canonical_schedule = validation.check_schedule(schedule)
        if request_id is not None:
            request_id = validation.check_id(request_id, "request_id")
        doors = self._doors_for_new_key(site_id, doors_ids)
        key_id = key_id_for(site_id, ACCESS_MEDIUM, request_id)
        fingerprint = _fingerprint(
            {
                "type": ACCESS_MEDIUM,
                "holder_id": holder_id,
                "card_uid": card_uid,
                "door_ids": list(doors_ids),
                "valid_from": start,
                "valid_until": end,
                "schedule": canonical_schedule,
            }
        )
        record = self._existing(site_id, key_id, fingerprint) if request_id else None
        replayed = record is not None
        if record is None:
            now = self._engine.clock.now()
            created = status.next_door_state(ACCESS_MEDIUM, _NOT_AT_DOOR, "create")
            draft = KeyRecord(
                site_id=site_id,
                key_id=key_id,
                key_type=ACCESS_MEDIUM,
                holder_id=holder_id,
                rows=tuple(DoorRow(door_id, created, 1, None) for door_id in doors_ids),
                valid_from=start,
                valid_until=end,
                schedule=canonical_schedule,
                created_at=now,
                updated_at=now,
                card_uid=card_uid,
                request_fingerprint=fingerprint,
            )
            record = self._insert(draft, doors, now, actor)
        else:
            self._ensure_event(record)
        [record] = self._engine.settle([record], action="deploy", resync=replayed, doors=doors)
        return self._engine.view(record, doors, self._engine.clock.now())

    def create_digital_key(
        self,
        site_id: str,
        *,
        holder_id: str,
        phone: str,
        door_ids: Sequence[str],
        valid_from: int,
        valid_until: int | None = None,
        schedule: Mapping[str, Any] | None = None,
        actor: str,
        request_id: str | None = None,
    ) -> KeyView:
        """A new digital key: signed, registered with its phone, handed to the mobile-access
        cloud (unless the phone is blocked). Doors verify its credential: no door work."""
        site_id = validation.check_id(site_id, "site_id")
        holder_id = validation.check_id(holder_id, "holder_id")
        e164 = phones.normalize(phone, default_region=self._ports.default_region)
        phone_hash = self._ports.phone_hasher.hash(e164)
        doors_ids = validation.check_door_ids(door_ids)
        start, end = validation.check_validity(valid_from, valid_until)
        canonical_schedule = validation.check_schedule(schedule)
        if request_id is not None:
            request_id = validation.check_id(request_id, "request_id")
        doors = self._doors_for_new_key(site_id, doors_ids)
        key_id = key_id_for(site_id, DIGITAL_KEY, request_id)
        fingerprint = _fingerprint(
            {
                "type": DIGITAL_KEY,
                "holder_id": holder_id,
                "phone_hash": phone_hash,
                "door_ids": list(doors_ids),
                "valid_from": start,
                "valid_until": end,
                "schedule": canonical_schedule,
            }
        )
        record = self._existing(site_id, key_id, fingerprint) if request_id else None
        replayed = record is not None
        if record is None:
            now = self._engine.clock.now()
            known_phone = self._store.get_phone(site_id, phone_hash)
            draft = KeyRecord(
                site_id=site_id,
                key_id=key_id,
                key_type=DIGITAL_KEY,
                holder_id=holder_id,
                rows=tuple(DoorRow(door_id, _NOT_AT_DOOR, 0, None) for door_id in doors_ids),
                valid_from=start,
                valid_until=end,
                schedule=canonical_schedule,
                created_at=now,
                updated_at=now,
                phone_blocked=known_phone is not None and known_phone.blocked,
                phone_blocked_rev=0 if known_phone is None else known_phone.blocked_rev,
                phone_e164=e164,
                phone_hash=phone_hash,
                request_fingerprint=fingerprint,
            )
            record = self._insert(draft, doors, now, actor)
        else:
            self._ensure_event(record)
        record = self._register_with_phone(record, actor)
        [record] = self._engine.settle([record], action="block", resync=replayed, doors=doors)
        self.deliver_if_due(record)
        logger.info("digital key %s for phone %s at site %s", key_id, phones.mask(e164), site_id)
        return self._engine.view(record, doors, self._engine.clock.now())

    def _insert(
        self, draft: KeyRecord, doors: Mapping[str, Door], now: int, actor: str
    ) -> KeyRecord:
        record = self._engine.finalize(None, draft, doors, now, action="created", actor=actor)
        try:
            self._store.save_key(record)
        except ConcurrentUpdate:
            # The same request is being created concurrently: that one wins, this one replays.
            existing = self._existing(draft.site_id, draft.key_id, draft.request_fingerprint or "")
            if existing is None:
                raise
            self._ensure_event(existing)
            return existing
        if record.last_event is not None:
            self._store.put_event(record.last_event)
        return record

    def _ensure_event(self, record: KeyRecord) -> None:
        if record.last_event is not None:
            self._store.put_event(record.last_event)

    def _register_with_phone(self, record: KeyRecord, actor: str) -> KeyRecord:
        """Add the key to its phone's key set, and make its blocked fact match the phone's.

        The phone write is conditional on the phone's revision: a block or unblock that lands
        between reading the phone and registering is seen on the retry, and one that lands
        after registering finds this key in the set and handles it.
        """
        assert record.phone_hash is not None
        engine = self._engine
        for _ in range(MAX_ATTEMPTS):
            phone = self._store.get_phone(record.site_id, record.phone_hash) or PhoneRecord(
                record.site_id, record.phone_hash
            )
            if record.key_id not in phone.key_ids:
                try:
                    self._store.save_phone(
                        replace(phone, key_ids=phone.key_ids | {record.key_id}, rev=phone.rev + 1)
                    )
                except ConcurrentUpdate:
                    continue
            if phone.blocked_rev > record.phone_blocked_rev:
                record = apply_phone_block(
                    engine,
                    record,
                    blocked=phone.blocked,
                    blocked_rev=phone.blocked_rev,
                    actor=actor,
                )
            return record
        raise ConcurrentUpdate(f"phone of key {record.key_id} kept changing; try again")

    @staticmethod
    def _delivery_due(record: KeyRecord) -> bool:
        # Not to a phone that must not get it: already delivered, revoked, or blocked.
        if record.key_type != DIGITAL_KEY or record.delivered or record.revoked:
            return False
        return not record.phone_blocked and record.phone_e164 is not None

    def deliver_if_due(self, record: KeyRecord) -> None:
        """Hand a digital key to the mobile-access cloud unless it must not reach the phone
        (already delivered, revoked, or its phone is blocked). With a ``delivery_queue`` port
        the signing and delivery are left to the worker (:meth:`deliver_now`)."""
        if not self._delivery_due(record):
            return
        if self._ports.delivery_queue is not None:
            self._ports.delivery_queue.request_delivery(record.site_id, record.key_id)
            return
        self._sign_and_deliver(record)

    def deliver_now(self, site_id: str, key_id: str) -> bool:
        """Sign and deliver a digital key whose delivery was queued, if it is still due (the
        key is read again: one revoked or blocked meanwhile is not delivered). Returns whether
        it was handed to the mobile-access cloud."""
        record = self._engine.load_key(
            validation.check_id(site_id, "site_id"), validation.check_id(key_id, "key_id")
        )
        if not self._delivery_due(record):
            return False
        self._sign_and_deliver(record)
        return True

    def take_back_now(self, site_id: str, key_id: str) -> bool:
        """Ask the mobile-access cloud to take back a revoked digital key (the queued half of
        :meth:`revoke`); the phone number is read from the key, never carried in a message.
        Returns whether it asked."""
        record = self._engine.load_key(
            validation.check_id(site_id, "site_id"), validation.check_id(key_id, "key_id")
        )
        if record.key_type != DIGITAL_KEY or not record.revoked or record.phone_e164 is None:
            return False
        self._ports.mobile_gateway.revoke(record.site_id, record.key_id, record.phone_e164)
        return True

    def _sign_and_deliver(self, record: KeyRecord) -> None:
        assert record.phone_e164 is not None
        credential = self._ports.signer.sign_digital_key(record)
        self._ports.mobile_gateway.deliver(
            record.site_id, record.key_id, record.phone_e164, credential
        )

    # -------------------------------------------------------------------------- revoke

    def revoke(
        self, site_id: str, key_id: str, *, actor: str, reason: str | None = None
    ) -> KeyView:
        """Revoke a key. An access medium's doors get removal work; a digital key is taken
        back from the phone by the mobile-access cloud (its revocation completes when the app
        reloads). Revoking a revoked key changes nothing and returns it."""
        site_id = validation.check_id(site_id, "site_id")
        key_id = validation.check_id(key_id, "key_id")
        engine = self._engine

        def revoke_key(record: KeyRecord, doors: Mapping[str, Door], now: int) -> KeyRecord | None:
            if record.revoked:
                return None
            revoked = replace(record, revoked=True)
            if record.key_type == ACCESS_MEDIUM:
                revoked = engine.transition(revoked, "revoke")
            return engine.finalize(
                record, revoked, doors, now, action="revoked", actor=actor, reason=reason
            )

        record, changed = engine.mutate_key(site_id, key_id, revoke_key, ensure_event=True)
        [record] = engine.settle([record], action="revoke", resync=not changed)
        if record.key_type == DIGITAL_KEY and record.phone_e164 is not None:
            self._ports.mobile_gateway.revoke(site_id, key_id, record.phone_e164)
        doors = engine.doors_of([record])
        return engine.view(record, doors, engine.clock.now())

    # ------------------------------------------------------------------------ delivered

    def key_delivered(self, site_id: str, key_id: str, *, actor: str) -> KeyView:
        """The mobile-access cloud delivered a digital key: its rows become ``deployed`` (then
        ``blocking_pending`` if its phone is blocked meanwhile). A repeat changes nothing."""
        site_id = validation.check_id(site_id, "site_id")
        key_id = validation.check_id(key_id, "key_id")
        engine = self._engine

        def deliver(record: KeyRecord, doors: Mapping[str, Door], now: int) -> KeyRecord | None:
            if record.delivered:
                return None
            # The core refuses `deliver` for an access medium: IllegalTransition, no write.
            delivered = replace(engine.transition(record, "deliver"), delivered=True)
            if record.phone_blocked:
                delivered = engine.transition(delivered, "block")
            if record.revoked and record.app_reloaded:
                # Delivered after the app already dropped it: the revocation is complete.
                delivered = engine.transition(delivered, "complete_revocation", only_legal=True)
            return engine.finalize(record, delivered, doors, now, action="delivered", actor=actor)

        record, changed = engine.mutate_key(site_id, key_id, deliver, ensure_event=True)
        [record] = engine.settle([record], action="block", resync=not changed)
        doors = engine.doors_of([record])
        return engine.view(record, doors, engine.clock.now())


def apply_phone_block(
    engine: Engine,
    record: KeyRecord,
    *,
    blocked: bool,
    blocked_rev: int,
    actor: str,
    doors: Mapping[str, Door] | None = None,
) -> KeyRecord:
    """Make the key follow its phone's ``blocked`` as of the phone's ``blocked_rev``; a
    delivered key's rows move by the core's ``block``/``unblock`` where it allows (rows already
    there, or not at the door, stay). A key that already follows a newer (or the same) phone
    revision is left alone, so the last block/unblock written to the phone wins on every key."""
    event = "block" if blocked else "unblock"

    def change(current: KeyRecord, doors: Mapping[str, Door], now: int) -> KeyRecord | None:
        if current.phone_blocked_rev >= blocked_rev:
            return None
        if current.phone_blocked == blocked:
            # Nothing visible changes, but the key must record the newer revision so that an
            # older, slower command cannot overwrite it afterwards.
            return replace(current, phone_blocked_rev=blocked_rev, version=current.version + 1)
        updated = replace(current, phone_blocked=blocked, phone_blocked_rev=blocked_rev)
        updated = engine.transition(updated, event, only_legal=True)
        return engine.finalize(
            current,
            updated,
            doors,
            now,
            action="phone_blocked" if blocked else "phone_unblocked",
            actor=actor,
        )

    new, _ = engine.mutate_key(record.site_id, record.key_id, change, record=record, doors=doors)
    return new
