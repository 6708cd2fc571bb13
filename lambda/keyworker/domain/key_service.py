"""Commands on single keys, as callers meet them: create, modify (and its dry run), revoke,
delivery confirmed, and the worker's delivery and take-back of digital keys.

Each method builds one command (``keyworker.domain.commands``) and runs it through the one
pipeline (``keyworker.domain.pipeline``); nothing here decides or writes anything itself.

Creating is idempotent through ``request_id`` (the API's idempotency key, or a job's id): the
key id is derived from it, so a repeated request finds the key it created before and finishes
any work a crash left undone instead of creating a second key. The same ``request_id`` with a
different request is refused (IdempotencyConflict).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from keyworker import phones
from keyworker.domain import validation
from keyworker.domain.commands import (
    CreateAccessMedium,
    CreateDigitalKey,
    KeyCommand,
    KeyDelivered,
    ModifyKey,
    NewKeyCommand,
    RevokeKey,
)
from keyworker.domain.engine import Engine
from keyworker.domain.models import DIGITAL_KEY, Delivered, Delivery, KeyRecord, KeyView
from keyworker.domain.pipeline import KeyPipeline, ModificationPlan
from keyworker.errors import KeyworkerError, safe_reason

logger = logging.getLogger("keyworker.domain.key_service")


class KeyService:
    """Commands on single keys."""

    def __init__(self, engine: Engine, pipeline: KeyPipeline) -> None:
        self._engine = engine
        self._pipeline = pipeline
        self._ports = engine.ports

    def run(self, command: KeyCommand) -> KeyView:
        """Run one command through the pipeline; the key afterwards, evaluated now."""
        outcome, doors = self._pipeline.run_one(command)
        return self._pipeline.view(outcome, doors)

    # ------------------------------------------------------------------------ creation

    def create_access_medium(self, site_id: str, **fields: Any) -> KeyView:
        """A new access medium (the fields of :class:`CreateAccessMedium`): every door of it
        gets deployment work (a door change)."""
        return self.run(CreateAccessMedium(site_id=site_id, **fields))

    def create_digital_key(self, site_id: str, **fields: Any) -> KeyView:
        """A new digital key (the fields of :class:`CreateDigitalKey`): signed, registered
        with its phone, handed to the mobile-access cloud (unless the phone is blocked).
        Doors verify its credential: no door work."""
        view = self.run(CreateDigitalKey(site_id=site_id, **fields))
        logger.info(
            "digital key %s for phone %s at site %s",
            view.record.key_id,
            phones.mask(view.record.phone_e164 or ""),
            site_id,
        )
        return view

    def create_many(self, commands: Sequence[NewKeyCommand]) -> list[KeyView]:
        """Many new keys of one site at once (an import), all or nothing for refusals
        (:meth:`KeyPipeline.create_many`); the keys afterwards, in the commands' order."""
        result = self._pipeline.create_many(commands)
        return [self._pipeline.view(outcome, result.doors) for outcome in result.outcomes]

    # -------------------------------------------------------------------------- modify

    def modify(
        self, site_id: str, key_id: str, *, actor: str, request_id: str | None = None, **change: Any
    ) -> KeyView:
        """Change a key in place (``docs/status-rules.md``, "Modifying a key"); ``change``
        holds any of the :class:`ModifyKey` fields ``door_ids``, ``valid_from``,
        ``valid_until``, ``schedule`` (the others stay)."""
        return self.run(ModifyKey(site_id, key_id, actor, request_id=request_id, **change))

    def plan_modification(self, site_id: str, key_id: str, **change: Any) -> ModificationPlan:
        """What :meth:`modify` would do, per door; nothing is written."""
        return self._pipeline.plan_modification(ModifyKey(site_id, key_id, "dry-run", **change))

    # -------------------------------------------------------------------------- revoke

    def revoke(
        self, site_id: str, key_id: str, *, actor: str, reason: str | None = None
    ) -> KeyView:
        """Revoke a key. An access medium's doors get removal work; a digital key is taken
        back from the phone by the mobile-access cloud (its revocation completes when the app
        reloads). Revoking a revoked key changes nothing and returns it."""
        return self.run(RevokeKey(site_id, key_id, actor, reason))

    # ------------------------------------------------------------------------ delivered

    def key_delivered(
        self, site_id: str, key_id: str, *, actor: str, event: str | None = None
    ) -> KeyView:
        """The mobile-access cloud delivered a digital key: its rows become ``deployed`` (then
        ``blocking_pending`` if its phone is blocked meanwhile). A repeat changes nothing;
        ``event`` (the field event's token) is remembered by the key, so the same event again
        changes nothing even after a modification made the key wait for a new delivery."""
        return self.run(KeyDelivered(site_id, key_id, actor, event))

    def keys_delivered(
        self, deliveries: Sequence[Delivery], *, actor: str
    ) -> list[Delivered | KeyworkerError]:
        """Several deliveries confirmed at once, as an events batch brings them: per site one
        pipeline run (one read of the keys and of their doors, the audit events in batches of
        25), each the same as :meth:`key_delivered` alone. Each delivery's answer is its key
        afterwards, and whether its event had already taken effect (a duplicate), or its own
        refusal, in the order given; an outage raises for all."""
        by_site: dict[str, list[int]] = {}
        for index, delivery in enumerate(deliveries):
            by_site.setdefault(delivery.site_id, []).append(index)
        answers: dict[int, Delivered | KeyworkerError] = {}
        for site_id, indexes in by_site.items():
            commands = [
                KeyDelivered(site_id, deliveries[i].key_id, actor, deliveries[i].event)
                for i in indexes
            ]
            result = self._pipeline.run(commands, errors_as_outcomes=True)
            for index, outcome in zip(indexes, result.outcomes, strict=True):
                if outcome.error is not None:
                    answers[index] = outcome.error
                    continue
                assert outcome.record is not None
                event = deliveries[index].event
                duplicate = (
                    not outcome.changed
                    and event is not None
                    and event in outcome.record.delivery_events
                )
                answers[index] = Delivered(self._pipeline.view(outcome, result.doors), duplicate)
        return [answers[index] for index in range(len(deliveries))]

    # ------------------------------------------------------- the worker's queued halves

    def deliver_now(self, site_id: str, key_id: str) -> bool:
        """Sign and deliver a digital key whose delivery was queued, if it is still due (the
        key is read again: one revoked or blocked meanwhile is not delivered). Returns whether
        it was handed to the mobile-access cloud."""
        record = self._engine.load_key(
            validation.check_id(site_id, "site_id"), validation.check_id(key_id, "key_id")
        )
        if not KeyPipeline.delivery_due(record):
            return False
        with self._failure_noted(record):
            self._pipeline.sign_and_deliver(record)
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
        with self._failure_noted(record):
            self._ports.mobile_gateway.revoke(record.site_id, record.key_id, record.phone_e164)
        return True

    @contextlib.contextmanager
    def _failure_noted(self, record: KeyRecord) -> Iterator[None]:
        """Record why the key's delivery or take-back failed as its ``last_error`` (a short,
        safe reason), then let the error go on (the job is retried). Only failures write: the
        working path costs no call. The reason is cleared when the key's status moves on."""
        try:
            yield
        except Exception as error:
            reason = safe_reason(error)

            def note(current: KeyRecord, _doors: object, _now: int) -> KeyRecord | None:
                if current.last_error == reason:
                    return None
                return replace(current, last_error=reason, version=current.version + 1)

            try:
                self._engine.mutate_key(record.site_id, record.key_id, note)
            except Exception:
                logger.warning("could not record the failure on key %s", record.key_id)
            raise
