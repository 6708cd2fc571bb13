"""The one pipeline every command on a key goes through (``docs/data-model.md``, "The write
protocol"):

1. **Read** the keys the commands name (one BatchGetItem) and their doors (one BatchGetItem),
   unless the caller has just read them.
2. **Decide** each command (:func:`decide`): the key's new facts, its rows moved by the core's
   transition function (Python never re-derives a status), the refreshed index copy and the
   audit event. Bad input and illegal transitions raise here, before anything is written.
3. **Persist** each changed key with one conditional write (on the version read, or on absence
   for a new key). A lost race re-reads that key and decides again.
4. **Record what happened**: the audit events of the written keys, batched (BatchWriteItem).
   A replayed command writes its key's last event again (the same item), so a crash between
   the key write and this step loses no event.
5. **Hand to doors**: every pending row without a door version becomes work for its door; the
   rows of all commands at one door share one door change (:meth:`Engine.allocate`); each key
   then records the versions that carry its rows. A batch's new keys get theirs before step 3
   and are written once with them (docs/data-model.md, "A batch's new keys").
6. **Tell the outside world**: online doors with new work are asked to sync; digital keys are
   delivered or taken back.

A replayed command (its key already shows its intent) writes nothing in step 3 and finishes
steps 4-6. Step 5 for a key someone else wrote is left to that writer while its lease
(:data:`SETTLE_LEASE_SECONDS` after the write) runs: twenty identical concurrent creates make
one door change per door, not twenty. A writer that crashed within its lease is covered by the
key's next time boundary (the index copy's ``next_boundary_at`` is the lease's end while work
is unsettled): the time service runs the key through this pipeline again then.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from keyworker import phones, status
from keyworker.domain import validation
from keyworker.domain.commands import (
    UNCHANGED,
    AppReloaded,
    ConfirmDoor,
    CreateAccessMedium,
    CreateDigitalKey,
    FollowPhone,
    KeyCommand,
    KeyDelivered,
    ModifyKey,
    NewKeyCommand,
    RefreshStatus,
    RevokeKey,
    Unchanged,
)
from keyworker.domain.engine import (
    CARRY_WITHIN_SECONDS,
    MAX_ATTEMPTS,
    SETTLE_LEASE_SECONDS,
    Engine,
    backoff,
    doors_awaiting,
    is_pending,
    with_change_versions,
)
from keyworker.domain.models import (
    ACCESS_MEDIUM,
    DIGITAL_KEY,
    AuditEvent,
    ChangeRef,
    Door,
    DoorRow,
    KeyRecord,
    KeyView,
    PhoneRecord,
    with_delivery_event,
)
from keyworker.errors import (
    ConcurrentUpdate,
    Conflict,
    DoorNotFound,
    IdempotencyConflict,
    IllegalTransition,
    InvalidInput,
    KeyNotFound,
    KeyRevoked,
    KeyworkerError,
    NotFound,
)

logger = logging.getLogger("keyworker.domain.pipeline")

T = TypeVar("T")
R = TypeVar("R")

# Namespace of key ids derived from request ids (uuid5): stable across deployments.
_KEY_ID_NAMESPACE = uuid.UUID("6f0d3c52-8f7e-4d43-9a43-0c5b2f1e7a11")
# A key's rows start here: the key is not at any door yet.
NOT_AT_DOOR = status.DOOR_STATES[0]
_REMOVED = "removed"


def key_id_for(site_id: str, key_type: str, request_id: str | None) -> str:
    """A new key's id: derived from the request id when there is one (idempotent create)."""
    if request_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_KEY_ID_NAMESPACE, f"{site_id}\n{key_type}\n{request_id}"))


def fingerprint(fields: Mapping[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# ------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pipeline did with one command: the key as stored afterwards, whether this run
    wrote its new intent, and the error that stopped it (only when the caller asked for errors
    as outcomes)."""

    command: KeyCommand
    record: KeyRecord | None
    changed: bool
    error: KeyworkerError | None = None
    # The audit event to record: the one this run made, or a replay's last one again.
    event: AuditEvent | None = None


@dataclass(frozen=True, slots=True)
class DoorChangeMade:
    """A door change this run made: the version and how many key rows it carries."""

    version: int
    keys: int


@dataclass(frozen=True, slots=True)
class Result:
    """Every command's outcome, in the order given, the doors as last read, and the door
    changes made."""

    outcomes: tuple[Outcome, ...]
    doors: Mapping[str, Door]
    door_changes: Mapping[str, DoorChangeMade] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DoorPlan:
    """What a modification does at one door (a dry run's answer)."""

    door_id: str
    action: str  # deploy | revoke | update | nothing
    state_before: str | None
    state_after: str
    online: bool
    needs_technician: bool


@dataclass(frozen=True, slots=True)
class ModificationPlan:
    key_id: str
    doors: tuple[DoorPlan, ...]
    redelivery: bool  # a digital key's credential is signed and delivered again


# ------------------------------------------------------------------------------ decisions


@dataclass(frozen=True, slots=True)
class _Decision:
    """``after`` to write (None: nothing changes); for a new key, also its phone record."""

    after: KeyRecord | None
    phone: PhoneRecord | None = None


# Commands whose replay finishes what a crashed first run left: the key's last event is
# recorded again and the online doors holding its work are asked again to sync.
_REPLAYABLE = (
    CreateAccessMedium,
    CreateDigitalKey,
    ModifyKey,
    RevokeKey,
    KeyDelivered,
    FollowPhone,
    AppReloaded,
)


# Errors that refuse one command (reported per command when the caller asks for that).
_REFUSALS = (InvalidInput, IllegalTransition, NotFound, Conflict)
#: Commands after which a digital key is delivered (again) if it is due.
_DELIVERS = (CreateDigitalKey, ModifyKey, FollowPhone)


def _replay(command: KeyCommand, record: KeyRecord) -> Outcome:
    event = record.last_event if isinstance(command, _REPLAYABLE) else None
    return Outcome(command, record, False, event=event)


def _written(command: KeyCommand, before: KeyRecord | None, after: KeyRecord) -> Outcome:
    new_event = before is None or after.event_seq != before.event_seq
    return Outcome(command, after, True, event=after.last_event if new_event else None)


def _command_doors(command: KeyCommand) -> tuple[str, ...]:
    if isinstance(command, CreateAccessMedium | CreateDigitalKey):
        return tuple(d for d in command.door_ids if isinstance(d, str))
    if isinstance(command, ModifyKey) and not isinstance(command.door_ids, Unchanged):
        return tuple(d for d in command.door_ids if isinstance(d, str))
    return ()


def _check_doors_exist(site_id: str, door_ids: Iterable[str], doors: Mapping[str, Door]) -> None:
    missing = [door_id for door_id in door_ids if door_id not in doors]
    if missing:
        raise DoorNotFound(
            f"door(s) {', '.join(missing)} do not exist at site {site_id}", field="door_ids"
        )


class KeyPipeline:
    """Runs commands on keys; one instance per composition root (it holds no state)."""

    def __init__(self, engine: Engine, *, parallel_writes: int = 8) -> None:
        self.engine = engine
        self._engine = engine
        self._store = engine.store
        self._ports = engine.ports
        self._parallel = max(1, parallel_writes)

    # ------------------------------------------------------------------------ entry points

    def run_one(self, command: KeyCommand) -> tuple[Outcome, Mapping[str, Door]]:
        """Run one command; its errors raise. Returns its outcome and the doors read."""
        result = self.run([command])
        return result.outcomes[0], result.doors

    def view(self, outcome: Outcome, doors: Mapping[str, Door]) -> KeyView:
        assert outcome.record is not None
        engine = self._engine
        return engine.view(outcome.record, doors, engine.clock.now())

    def create_many(self, commands: Sequence[NewKeyCommand]) -> Result:
        """Create many keys of one site as one request (an import): all or nothing for
        refusals. Every create is drafted and checked first (ids, doors, validity, schedule,
        phone number; a request id already used for another request) and the first refusal
        raises, naming ``items[i].<field>``, before anything is written. Then they go through
        the pipeline together, so the keys at one door share one door change and each online
        door is asked to sync once for the whole batch."""
        if not commands:
            return Result((), {})
        site_id = _site_of(commands)
        wanted = {k for k in (self._key_id_of(c) for c in commands) if k is not None}
        known = dict(self._store.get_keys(site_id, wanted)) if wanted else {}
        door_ids = {d for c in commands for d in _command_doors(c)}
        doors = dict(self._store.get_doors(site_id, door_ids)) if door_ids else {}
        phones_read = self._read_phones(site_id, commands)

        def check(indexed: tuple[int, NewKeyCommand]) -> tuple[KeyRecord, PhoneRecord | None]:
            index, command = indexed
            try:
                draft, phone = self._draft(command, doors, phones_read)
                existing = known.get(draft.key_id)
                if existing is not None:
                    _check_same_request(existing, draft)
            except _REFUSALS as error:
                raise _of_item(error, index) from error
            return draft, phone

        # In parallel; the first refusal in item order raises.
        drafts = dict(enumerate(self._map(check, list(enumerate(commands)))))
        return self.run(commands, records=known, doors=doors, drafts=drafts)

    def _read_phones(
        self, site_id: str, commands: Sequence[NewKeyCommand]
    ) -> dict[str, PhoneRecord | None]:
        """The phones of a batch's digital keys, read together (None: not registered yet).
        A number that does not normalise is left out: its draft refuses it, naming the item."""
        hashes = set()
        for command in commands:
            if isinstance(command, CreateDigitalKey):
                try:
                    hashes.add(self._phone_hash(command)[1])
                except _REFUSALS:
                    continue
        if not hashes:
            return {}
        found = self._store.get_phones(site_id, hashes)
        return {phone_hash: found.get(phone_hash) for phone_hash in hashes}

    def _phone_hash(self, command: CreateDigitalKey) -> tuple[str, str]:
        e164 = phones.normalize(command.phone, default_region=self._ports.default_region)
        return e164, self._ports.phone_hasher.hash(e164)

    def run(
        self,
        commands: Sequence[KeyCommand],
        *,
        records: Mapping[str, KeyRecord] | None = None,
        doors: Mapping[str, Door] | None = None,
        errors_as_outcomes: bool = False,
        action: str | None = None,
        takeover: bool = False,
        drafts: Mapping[int, tuple[KeyRecord, PhoneRecord | None]] | None = None,
    ) -> Result:
        """Run commands on keys of one site (see the module's steps). ``records`` and
        ``doors`` are what the caller has just read (stale ones only cost a retry: every write
        is conditional). With ``errors_as_outcomes`` a command that fails (bad input, illegal
        transition, a key that kept changing) is reported in its outcome and the others go on;
        otherwise the first error raises (nothing of a failed single command is written).
        ``takeover``: the caller's own earlier try of these commands failed (it is not running
        any more), so their door work is taken over without waiting for its lease. ``action``
        names the door changes (default: from the rows' states). ``drafts``: the new keys of
        the creates at those indexes, already drafted and checked (:meth:`create_many`)."""
        if not commands:
            return Result((), dict(doors or {}))
        site_id = _site_of(commands)
        known = dict(records or {})
        drafted = drafts or {}
        # A drafted create's key was read with its draft (absent from ``records``: new).
        wanted = {self._key_id_of(c) for i, c in enumerate(commands) if i not in drafted}
        wanted -= set(known)
        wanted.discard(None)
        if wanted:
            known.update(self._store.get_keys(site_id, wanted))  # type: ignore[arg-type]
        door_ids = {d for r in known.values() for d in r.door_ids}
        for command in commands:
            door_ids.update(_command_doors(command))
        all_doors = dict(doors or {})
        missing_doors = door_ids - set(all_doors)
        if missing_doors:
            all_doors.update(self._store.get_doors(site_id, missing_doors))

        def one(indexed: tuple[int, KeyCommand]) -> Outcome:
            index, command = indexed
            try:
                return self._persist(command, known, all_doors, drafted.get(index))
            except _REFUSALS as error:
                # A refusal of this command (not an outage: those raise, and the whole run is
                # retried; every step of it is idempotent).
                if not errors_as_outcomes:
                    raise
                return Outcome(command, None, False, error)

        # A batch's new keys get their door versions before they are written (step 5 first:
        # docs/data-model.md, "A batch's new keys"), so each is written once, not twice.
        early, carried, since = self._carry_new_keys(site_id, drafted, known, all_doors, action)
        if carried:
            drafted = {
                index: (_carrying(draft, carried), phone)
                for index, (draft, phone) in drafted.items()
            }
        outcomes = self._map(one, list(enumerate(commands)))
        if carried and self._engine.clock.now() - since >= CARRY_WITHIN_SECONDS:
            outcomes = self._carry_again(site_id, outcomes, carried)
        self._record_what_happened(outcomes)
        outcomes, made = self._hand_to_doors(site_id, outcomes, all_doors, action, takeover)
        made = _merged(early, made)
        self._tell_the_outside_world(site_id, outcomes, all_doors, made)
        return Result(tuple(outcomes), all_doors, made)

    def _carry_new_keys(
        self,
        site_id: str,
        drafted: Mapping[int, tuple[KeyRecord, PhoneRecord | None]],
        known: Mapping[str, KeyRecord],
        doors: dict[str, Door],
        action: str | None,
    ) -> tuple[dict[str, DoorChangeMade], dict[str, dict[str, tuple[int, int]]], int]:
        """Door changes for the pending rows of the drafted new keys (those not read as
        stored: a replay's key is there, and its writer hands its rows), made before the keys
        are written; the changes, per key the ``(seq, version)`` of its rows carried, and when
        this began."""
        since = self._engine.clock.now()
        new_keys = [draft for draft, _ in drafted.values() if draft.key_id not in known]
        work, actions = _door_work(new_keys, action)
        if not work:
            return {}, {}, since
        made, carried = self._allocate_changes(site_id, work, actions, doors)
        return made, carried, since

    def _carry_again(
        self,
        site_id: str,
        outcomes: list[Outcome],
        carried: Mapping[str, Mapping[str, tuple[int, int]]],
    ) -> list[Outcome]:
        """The batch's key writes ended later than readers trust a change naming a key not yet
        there (:data:`CARRY_WITHIN_SECONDS`): a door may have been given its early version
        without a key. The keys this run created forget those versions, so step 5 hands their
        rows again (a second change is harmless: a confirmation matches on ``(key, seq)``)."""
        logger.warning(
            "a batch's key writes outlasted its early door versions; handing the rows again",
            extra={"site_id": site_id, "keys": len(carried)},
        )

        def forget(outcome: Outcome) -> Outcome:
            record = outcome.record
            if record is None or not outcome.changed or record.key_id not in carried:
                return outcome
            versions = carried[record.key_id]
            expected = {door_id: version for door_id, (_, version) in versions.items()}
            unset: dict[str, tuple[int, int | None]] = {
                door_id: (seq, None) for door_id, (seq, _) in versions.items()
            }
            forgotten, _ = self._engine.mutate_key(
                site_id,
                record.key_id,
                lambda current, _doors, at: with_change_versions(
                    current, unset, at, replacing=expected
                ),
            )
            return replace(outcome, record=forgotten)

        return self._map(forget, outcomes)

    # ---------------------------------------------------------------------------- reading

    def _key_id_of(self, command: KeyCommand) -> str | None:
        if isinstance(command, CreateAccessMedium):
            if command.request_id is None:
                return None
            return key_id_for(command.site_id, ACCESS_MEDIUM, command.request_id)
        if isinstance(command, CreateDigitalKey):
            if command.request_id is None:
                return None
            return key_id_for(command.site_id, DIGITAL_KEY, command.request_id)
        return command.key_id

    # --------------------------------------------------------------------------- persist

    def _persist(
        self,
        command: KeyCommand,
        known: dict[str, KeyRecord],
        doors: dict[str, Door],
        drafted: tuple[KeyRecord, PhoneRecord | None] | None = None,
    ) -> Outcome:
        """Decide and write one command, re-reading and deciding again on a lost race."""
        engine = self._engine
        if isinstance(command, CreateAccessMedium | CreateDigitalKey):
            return self._create(command, known, doors, drafted)
        key_id = command.key_id
        validation.check_id(key_id, "key_id")
        current = known.get(key_id)
        for attempt in range(MAX_ATTEMPTS):
            if current is None and isinstance(command, ConfirmDoor):
                # A door change may name a key whose create never completed (docs/data-model.md,
                # "A batch's new keys"): there is nothing to confirm.
                return Outcome(command, None, False)
            if current is None:
                raise KeyNotFound(
                    f"key {key_id} does not exist at site {command.site_id}", field="key_id"
                )
            missing = [d for d in current.door_ids if d not in doors]
            if missing:
                doors.update(self._store.get_doors(command.site_id, missing))
            new = self.decide(command, current, doors, engine.clock.now())
            if new is None:
                return _replay(command, current)
            try:
                self._store.save_key(new)
            except ConcurrentUpdate as lost:
                backoff(attempt)
                current = _current_key(lost) or self._store.get_key(command.site_id, key_id)
                continue
            return _written(command, current, new)
        raise ConcurrentUpdate(f"key {key_id} kept changing; try again")

    def _create(
        self,
        command: CreateAccessMedium | CreateDigitalKey,
        known: dict[str, KeyRecord],
        doors: dict[str, Door],
        drafted: tuple[KeyRecord, PhoneRecord | None] | None = None,
    ) -> Outcome:
        engine = self._engine
        draft, phone = drafted or self._draft(command, doors)
        existing = known.get(draft.key_id)
        if existing is None:
            record = engine.finalize(
                None, draft, doors, engine.clock.now(), action="created", actor=command.actor
            )
            try:
                self._store.save_key(record)
            except ConcurrentUpdate as lost:
                # The same request is being created concurrently: that one wins, this replays.
                existing = _current_key(lost) or self._store.get_key(draft.site_id, draft.key_id)
                if existing is None:
                    raise
            else:
                event = record.last_event
                if phone is not None:
                    record = self._register_with_phone(record, phone, command.actor, doors)
                return Outcome(command, record, True, event=event)
        _check_same_request(existing, draft)
        if phone is not None:
            existing = self._register_with_phone(existing, phone, command.actor, doors)
        return _replay(command, existing)

    def _draft(
        self,
        command: CreateAccessMedium | CreateDigitalKey,
        doors: Mapping[str, Door],
        phones_read: Mapping[str, PhoneRecord | None] | None = None,
    ) -> tuple[KeyRecord, PhoneRecord | None]:
        """A new key from a create command (checked; nothing written), and for a digital key
        its phone as read now (or just before, in ``phones_read``: by hash, None when it was
        not registered)."""
        site_id = validation.check_id(command.site_id, "site_id")
        holder_id = validation.check_id(command.holder_id, "holder_id")
        door_ids = validation.check_door_ids(command.door_ids)
        start, end = validation.check_validity(command.valid_from, command.valid_until)
        schedule = validation.check_schedule(command.schedule)
        request_id = command.request_id
        if request_id is not None:
            request_id = validation.check_id(request_id, "request_id")
        _check_doors_exist(site_id, door_ids, doors)
        now = self._engine.clock.now()
        intent: dict[str, Any] = {
            "holder_id": holder_id,
            "door_ids": list(door_ids),
            "valid_from": start,
            "valid_until": end,
            "schedule": schedule,
        }
        new_key = functools.partial(
            KeyRecord,
            site_id=site_id,
            holder_id=holder_id,
            valid_from=start,
            valid_until=end,
            schedule=schedule,
            created_at=now,
            updated_at=now,
        )
        if isinstance(command, CreateAccessMedium):
            card_uid = validation.check_id(command.card_uid, "card_uid")
            created = status.next_door_state(ACCESS_MEDIUM, NOT_AT_DOOR, "create")
            medium = new_key(
                key_id=key_id_for(site_id, ACCESS_MEDIUM, request_id),
                key_type=ACCESS_MEDIUM,
                rows=tuple(DoorRow(door_id, created, 1, None) for door_id in door_ids),
                card_uid=card_uid,
                request_fingerprint=fingerprint(
                    {"type": ACCESS_MEDIUM, "card_uid": card_uid, **intent}
                ),
            )
            return medium, None
        e164, phone_hash = self._phone_hash(command)
        if phones_read is not None and phone_hash in phones_read:
            read = phones_read[phone_hash]
        else:
            read = self._store.get_phone(site_id, phone_hash)
        phone = read or PhoneRecord(site_id, phone_hash)
        digital = new_key(
            key_id=key_id_for(site_id, DIGITAL_KEY, request_id),
            key_type=DIGITAL_KEY,
            rows=tuple(DoorRow(door_id, NOT_AT_DOOR, 0, None) for door_id in door_ids),
            phone_blocked=phone.blocked,
            phone_blocked_rev=phone.blocked_rev,
            phone_e164=e164,
            phone_hash=phone_hash,
            request_fingerprint=fingerprint(
                {"type": DIGITAL_KEY, "phone_hash": phone_hash, **intent}
            ),
        )
        return digital, phone

    def _register_with_phone(
        self, record: KeyRecord, phone: PhoneRecord, actor: str, doors: Mapping[str, Door]
    ) -> KeyRecord:
        """Add the key to its phone's key set (conditional on the phone's revision, read with
        the create), then make the key follow a block/unblock that landed in between: one that
        lands after the registration finds the key in the set and handles it itself."""
        assert record.phone_hash is not None
        for attempt in range(MAX_ATTEMPTS):
            if record.key_id not in phone.key_ids:
                try:
                    self._store.save_phone(
                        replace(phone, key_ids=phone.key_ids | {record.key_id}, rev=phone.rev + 1)
                    )
                except ConcurrentUpdate as lost:
                    backoff(attempt)
                    if isinstance(lost.current, PhoneRecord):
                        phone = lost.current
                    else:
                        phone = self._store.get_phone(
                            record.site_id, record.phone_hash
                        ) or PhoneRecord(record.site_id, record.phone_hash)
                    continue
            if phone.blocked_rev > record.phone_blocked_rev:
                follow = FollowPhone(
                    record.site_id, record.key_id, phone.blocked, phone.blocked_rev, actor
                )
                outcome = self._persist(follow, {record.key_id: record}, dict(doors))
                assert outcome.record is not None
                if outcome.changed and outcome.event is not None:
                    self._store.put_event(outcome.event)
                return outcome.record
            return record
        raise ConcurrentUpdate(f"phone of key {record.key_id} kept changing; try again")

    # ---------------------------------------------------------------------------- decide

    def decide(
        self, command: KeyCommand, record: KeyRecord, doors: Mapping[str, Door], now: int
    ) -> KeyRecord | None:
        """The key after ``command`` (ready to write: next version, index copy, audit event),
        or None when the command changes nothing (a replay, or nothing to do)."""
        engine = self._engine
        if isinstance(command, RevokeKey):
            if record.revoked:
                return None
            revoked = replace(record, revoked=True)
            if record.key_type == ACCESS_MEDIUM:
                revoked = engine.transition(revoked, "revoke")
            return engine.finalize(
                record,
                revoked,
                doors,
                now,
                action="revoked",
                actor=command.actor,
                reason=command.reason,
                details=command.details,
            )
        if isinstance(command, KeyDelivered):
            token = command.event
            if token is not None and token in record.delivery_events:
                return None  # this very event took effect before
            if record.delivered:
                if token is None:
                    return None
                # Nothing to deliver, but the event is remembered: after a modification makes
                # the key wait for a new delivery, it must still change nothing.
                return replace(
                    record,
                    delivery_events=with_delivery_event(record, token),
                    version=record.version + 1,
                )
            # The core refuses `deliver` for an access medium: IllegalTransition, no write.
            if record.key_type != DIGITAL_KEY:
                engine.transition(record, "deliver")
            # Rows already at their doors (a credential delivered again after a change) stay.
            delivered = replace(
                engine.transition(record, "deliver", only_legal=True),
                delivered=True,
                delivery_events=(
                    record.delivery_events if token is None else with_delivery_event(record, token)
                ),
            )
            if record.phone_blocked:
                delivered = engine.transition(delivered, "block", only_legal=True)
            if record.revoked and record.app_reloaded:
                # Delivered after the app already dropped it: the revocation is complete.
                delivered = engine.transition(delivered, "complete_revocation", only_legal=True)
            return engine.finalize(
                record, delivered, doors, now, action="delivered", actor=command.actor
            )
        if isinstance(command, FollowPhone):
            if record.key_type != DIGITAL_KEY or record.phone_blocked_rev >= command.blocked_rev:
                return None
            if record.phone_blocked == command.blocked:
                # Nothing visible changes, but the key must record the newer revision so that
                # an older, slower command cannot overwrite it afterwards.
                return replace(
                    record, phone_blocked_rev=command.blocked_rev, version=record.version + 1
                )
            updated = replace(
                record, phone_blocked=command.blocked, phone_blocked_rev=command.blocked_rev
            )
            updated = engine.transition(
                updated, "block" if command.blocked else "unblock", only_legal=True
            )
            return engine.finalize(
                record,
                updated,
                doors,
                now,
                action="phone_blocked" if command.blocked else "phone_unblocked",
                actor=command.actor,
            )
        if isinstance(command, ConfirmDoor):
            row = record.row(command.door_id)
            # Only the row's latest intent counts, and only while it is still pending.
            if row is None or row.seq not in command.seqs or not is_pending(row.state):
                return None
            moved = engine.transition(replace(record, rows=(row,)), "confirm").rows[0]
            confirmed = record.with_row(moved)
            if moved.state == _REMOVED and not record.revoked:
                # A door removed from a key by a modification leaves the key once it confirms.
                confirmed = replace(
                    confirmed, rows=tuple(r for r in confirmed.rows if r.door_id != row.door_id)
                )
            return engine.finalize(
                record,
                confirmed,
                doors,
                now,
                action="door_confirmed",
                actor=command.actor,
                details={"door_id": command.door_id, "version": command.version},
            )
        if isinstance(command, AppReloaded):
            if record.key_type != DIGITAL_KEY or not record.revoked or record.app_reloaded:
                return None
            done = replace(record, app_reloaded=True)
            done = engine.transition(done, "complete_revocation", only_legal=True)
            return engine.finalize(
                record, done, doors, now, action="app_reloaded", actor=command.actor
            )
        if isinstance(command, RefreshStatus):
            return self._refresh(command, record, doors, now)
        if isinstance(command, ModifyKey):
            modified = self._modified(command, record, doors)
            if modified is None:
                return None
            details: dict[str, Any] = {}
            if command.request_id is not None:
                details["request_id"] = command.request_id
                details["request_fingerprint"] = _modification_fingerprint(command)
            return engine.finalize(
                record,
                modified,
                doors,
                now,
                action="modified",
                actor=command.actor,
                details=details,
            )
        raise TypeError(f"not a command on an existing key: {type(command).__name__}")

    def _refresh(
        self, command: RefreshStatus, record: KeyRecord, doors: Mapping[str, Door], now: int
    ) -> KeyRecord | None:
        engine = self._engine
        evaluated = engine.evaluate(record, doors, now)
        fresh = engine.index(engine.with_overdue_at(record, doors, now), evaluated, now)
        stored = record.indexed
        same = stored is not None and (stored.status, stored.home_status) == (
            fresh.status,
            fresh.home_status,
        )
        if same and stored is not None and stored.next_boundary_at == fresh.next_boundary_at:
            return None
        if same:
            # Nothing a person sees changed: only the next boundary moves; no event.
            return replace(
                engine.with_overdue_at(record, doors, now),
                indexed=fresh,
                version=record.version + 1,
            )
        reason = None
        if command.action == "time_passed":
            ended = record.valid_until is not None and now >= record.valid_until
            reason = "valid_until reached" if ended else "valid_from reached"
        return engine.finalize(
            record,
            record,
            doors,
            now,
            action=command.action,
            actor=command.actor,
            reason=reason,
            details=command.details,
        )

    # ---------------------------------------------------------------------------- modify

    def _modification(
        self, command: ModifyKey, record: KeyRecord, doors: Mapping[str, Door]
    ) -> tuple[tuple[str, ...], int, int | None, Any, bool]:
        """The checked new door set, validity and schedule, and whether the entry changes."""
        if record.revoked:
            raise KeyRevoked(f"key {record.key_id} is revoked: it cannot be modified")
        if command.door_ids is UNCHANGED:
            door_ids = tuple(r.door_id for r in record.rows if r.state != _REMOVED)
        else:
            if isinstance(command.door_ids, Sequence) and len(command.door_ids) == 0:
                raise InvalidInput(
                    "door_ids must name at least one door: a key with no door is a "
                    "revocation (POST .../keys/{key_id}/revoke)",
                    field="door_ids",
                )
            door_ids = validation.check_door_ids(command.door_ids)
            _check_doors_exist(record.site_id, door_ids, doors)
        valid_from = record.valid_from if command.valid_from is UNCHANGED else command.valid_from
        valid_until = (
            record.valid_until if command.valid_until is UNCHANGED else command.valid_until
        )
        start, end = validation.check_validity(valid_from, valid_until)
        schedule = (
            record.schedule
            if command.schedule is UNCHANGED
            else validation.check_schedule(command.schedule)
        )
        entry_changed = (start, end, schedule) != (
            record.valid_from,
            record.valid_until,
            record.schedule,
        )
        return door_ids, start, end, schedule, entry_changed

    def _modified(
        self, command: ModifyKey, record: KeyRecord, doors: Mapping[str, Door]
    ) -> KeyRecord | None:
        door_ids, start, end, schedule, entry_changed = self._modification(command, record, doors)
        if command.request_id is not None and self._already_applied(record, command):
            return None
        plans = status.plan_modification(
            record.key_type,
            [(row.door_id, row.state) for row in record.rows],
            list(door_ids),
            entry_changed,
        )
        if not entry_changed and all(p.action == "nothing" for p in plans):
            return None
        old = {row.door_id: row for row in record.rows}
        rows: list[DoorRow] = []
        for plan in plans:
            row = old.get(plan.door_id)
            if record.key_type == DIGITAL_KEY:
                # Doors hold no entry for a digital key (its signed credential lists the
                # doors): rows do not move. A removed door leaves the key now; the re-signed
                # credential no longer names it.
                if plan.action == "revoke":
                    continue
                rows.append(row or DoorRow(plan.door_id, plan.state_after, 0, None))
                continue
            if plan.action == "nothing" and row is not None:
                rows.append(row)
                continue
            # New door work: the row's new intent (seq) waits for its door change.
            rows.append(DoorRow(plan.door_id, plan.state_after, 1 if row is None else row.seq + 1))
        modified = replace(
            record, rows=tuple(rows), valid_from=start, valid_until=end, schedule=schedule
        )
        if record.key_type == DIGITAL_KEY:
            # The credential states the doors and the validity: signed and delivered again.
            modified = replace(modified, delivered=False)
        return modified

    def _already_applied(self, record: KeyRecord, command: ModifyKey) -> bool:
        """Whether a modification with this Idempotency-Key was applied to the key before
        (its last event, else its audit trail: read only when a key is given and the last
        event is not it). The same key with another change is refused."""
        request = (command.request_id, _modification_fingerprint(command))
        events = [record.last_event] if record.last_event is not None else []
        if not any(e.details.get("request_id") == command.request_id for e in events):
            events = self._store.list_events(record.site_id, record.key_id)
        for event in events:
            if event.action == "modified" and event.details.get("request_id") == request[0]:
                if event.details.get("request_fingerprint") != request[1]:
                    raise IdempotencyConflict(
                        "request_id was already used for a different modification"
                    )
                return True
        return False

    def plan_modification(self, command: ModifyKey) -> ModificationPlan:
        """What ``command`` would do, per door, without writing (a dry run)."""
        site_id = validation.check_id(command.site_id, "site_id")
        record = self._engine.load_key(site_id, validation.check_id(command.key_id, "key_id"))
        door_ids = set(record.door_ids) | set(_command_doors(command))
        doors = self._store.get_doors(site_id, door_ids)
        new_doors, _, _, _, entry_changed = self._modification(command, record, doors)
        plans = status.plan_modification(
            record.key_type,
            [(row.door_id, row.state) for row in record.rows],
            list(new_doors),
            entry_changed,
        )
        before = {row.door_id: row.state for row in record.rows}
        out = []
        for plan in plans:
            door = doors[plan.door_id]
            out.append(
                DoorPlan(
                    door_id=plan.door_id,
                    action=plan.action,
                    state_before=before.get(plan.door_id),
                    state_after=plan.state_after,
                    online=door.online,
                    needs_technician=plan.action != "nothing"
                    and is_pending(plan.state_after)
                    and not door.online,
                )
            )
        changes_doors = any(p.action != "nothing" for p in plans)
        return ModificationPlan(
            key_id=record.key_id,
            doors=tuple(out),
            redelivery=record.key_type == DIGITAL_KEY and (entry_changed or changes_doors),
        )

    # ------------------------------------------------------------- record what happened

    def _record_what_happened(self, outcomes: Sequence[Outcome]) -> None:
        """The audit events of the keys written, and a replay's last event again (the same
        item: a crash between the key write and this step loses nothing), in batches. The
        outbound events of a change leave from here too."""
        events = [outcome.event for outcome in outcomes if outcome.event is not None]
        if events:
            self._store.put_events(events)

    # ------------------------------------------------------------------- hand to doors

    @staticmethod
    def _settles(outcome: Outcome, now: int, takeover: bool) -> bool:
        """Whether this run hands the key's unsettled rows to its doors: always for a key it
        wrote; for a key another request wrote, only once that writer's lease has run out
        (it crashed, or is very late), or when the caller knows that writer is dead."""
        record = outcome.record
        if record is None:
            return False
        return outcome.changed or takeover or now - record.updated_at >= SETTLE_LEASE_SECONDS

    def _hand_to_doors(
        self,
        site_id: str,
        outcomes: list[Outcome],
        doors: dict[str, Door],
        action: str | None,
        takeover: bool,
    ) -> tuple[list[Outcome], dict[str, DoorChangeMade]]:
        now = self._engine.clock.now()
        work, actions = _door_work(
            [
                o.record
                for o in outcomes
                if o.record is not None and self._settles(o, now, takeover)
            ],
            action,
        )
        if not work:
            return outcomes, {}
        made, carried = self._allocate_changes(site_id, work, actions, doors)
        engine = self._engine

        def record_versions(outcome: Outcome) -> Outcome:
            record = outcome.record
            if record is None or record.key_id not in carried:
                return outcome
            versions = carried[record.key_id]
            recorded = with_change_versions(record, versions, now)
            if recorded is None:
                return outcome
            try:
                self._store.save_key(recorded)
            except ConcurrentUpdate:
                # Changed since (e.g. a fast online door already confirmed): re-read, and
                # record only on rows still carrying the intent the change was made for.
                recorded, _ = engine.mutate_key(
                    site_id,
                    record.key_id,
                    lambda current, _doors, at: with_change_versions(current, versions, at),
                )
            return replace(outcome, record=recorded)

        return self._map(record_versions, outcomes), made

    def _allocate_changes(
        self,
        site_id: str,
        work: Mapping[str, list[ChangeRef]],
        actions: Mapping[str, str],
        doors: dict[str, Door],
    ) -> tuple[dict[str, DoorChangeMade], dict[str, dict[str, tuple[int, int]]]]:
        """One door change per door of ``work`` (its rows' refs, the change's action from
        ``actions``), side by side; ``doors`` is updated with each door as its allocation left
        it. Returns the changes made, and per key the ``(seq, version)`` of its rows carried."""
        engine = self._engine
        missing = [d for d in work if d not in doors]
        if missing:
            doors.update(self._store.get_doors(site_id, missing))

        def allocate(door_id: str) -> tuple[str, int, Door]:
            refs = tuple(work[door_id])
            version, door = engine.allocate(
                site_id, door_id, refs, actions[door_id], doors.get(door_id)
            )
            return door_id, version, door

        carried: dict[str, dict[str, tuple[int, int]]] = {}
        made: dict[str, DoorChangeMade] = {}
        for door_id, version, door in self._map(allocate, sorted(work)):
            doors[door_id] = door
            made[door_id] = DoorChangeMade(version, len(work[door_id]))
            for ref in work[door_id]:
                carried.setdefault(ref.key_id, {})[door_id] = (ref.seq, version)
        return made, carried

    # ------------------------------------------------------ tell the outside world

    def _tell_the_outside_world(
        self,
        site_id: str,
        outcomes: Sequence[Outcome],
        doors: Mapping[str, Door],
        made: Mapping[str, DoorChangeMade],
    ) -> None:
        engine = self._engine
        # A replayed command asks again the online doors holding its earlier work: the first
        # attempt may have died before asking (a door asked twice for one version applies it
        # once).
        replayed = [
            o.record
            for o in outcomes
            if o.record is not None and not o.changed and isinstance(o.command, _REPLAYABLE)
        ]
        resync = doors_awaiting(replayed) - set(made)
        stale = [d for d in resync if d not in doors]
        latest = dict(doors)
        if stale:
            latest.update(self._store.get_doors(site_id, stale))
        engine.request_syncs(site_id, set(made) | resync, latest)

        digital = [o for o in outcomes if o.record and o.record.key_type == DIGITAL_KEY]
        queue = self._ports.delivery_queue
        queued: set[str] = set()
        if queue is not None:
            # The deliveries left to the worker go to its queue in one request (SQS batches
            # of 10): a batch create of 150 digital keys made 150 SendMessage calls.
            queued = {
                o.record.key_id
                for o in digital
                if o.record is not None
                and isinstance(o.command, _DELIVERS)
                and self.delivery_due(o.record)
            }
            if queued:
                queue.request_deliveries(site_id, sorted(queued))

        def tell_mobile_cloud(outcome: Outcome) -> None:
            record = outcome.record
            assert record is not None
            if isinstance(outcome.command, RevokeKey) and record.phone_e164 is not None:
                self._ports.mobile_gateway.revoke(site_id, record.key_id, record.phone_e164)
            elif isinstance(outcome.command, _DELIVERS) and record.key_id not in queued:
                self.deliver_if_due(record)

        # One call per digital key, independent of each other: a batch create or a revocation
        # chunk makes them side by side, not one after another (the first failure raises,
        # as before; a retry of the run makes the calls again, which the mobile-access cloud
        # and the delivery queue take more than once).
        self._map(tell_mobile_cloud, digital)

    @staticmethod
    def delivery_due(record: KeyRecord) -> bool:
        # Not to a phone that must not get it: already delivered, revoked, or blocked.
        if record.key_type != DIGITAL_KEY or record.delivered or record.revoked:
            return False
        return not record.phone_blocked and record.phone_e164 is not None

    def deliver_if_due(self, record: KeyRecord) -> None:
        """Hand a digital key to the mobile-access cloud unless it must not reach the phone.
        With a ``delivery_queue`` port the signing and delivery are left to the worker."""
        if not self.delivery_due(record):
            return
        if self._ports.delivery_queue is not None:
            self._ports.delivery_queue.request_delivery(record.site_id, record.key_id)
            return
        self.sign_and_deliver(record)

    def sign_and_deliver(self, record: KeyRecord) -> None:
        assert record.phone_e164 is not None
        credential = self._ports.signer.sign_digital_key(record)
        self._ports.mobile_gateway.deliver(
            record.site_id, record.key_id, record.phone_e164, credential
        )

    # ---------------------------------------------------------------------------- helpers

    def _map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self._parallel == 1 or len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._parallel, len(items))) as pool:
            return list(pool.map(function, items))


def _site_of(commands: Sequence[KeyCommand]) -> str:
    site_id = commands[0].site_id
    if any(c.site_id != site_id for c in commands):
        raise ValueError("a pipeline run takes commands of one site")
    return site_id


def _check_same_request(existing: KeyRecord, draft: KeyRecord) -> None:
    """A create whose request id names an existing key replays it only if it is the same
    request (the key's fingerprint)."""
    if existing.request_fingerprint != draft.request_fingerprint:
        raise IdempotencyConflict("request_id was already used for a different key request")


def _of_item(error: KeyworkerError, index: int) -> KeyworkerError:
    """A refusal of one create of a batch, naming the item: ``items[3].door_ids``."""
    where = f"items[{index}]"
    field_name = getattr(error, "field", None)
    named = f"{where}.{field_name}" if field_name else where
    if isinstance(error, InvalidInput | NotFound):
        return type(error)(f"{where}: {error}", field=named)
    return type(error)(f"{where}: {error}")


def _modification_fingerprint(command: ModifyKey) -> str:
    fields = {
        name: getattr(command, name)
        for name in ("door_ids", "valid_from", "valid_until", "schedule")
        if not isinstance(getattr(command, name), Unchanged)
    }
    if "door_ids" in fields:
        fields["door_ids"] = list(fields["door_ids"])
    return fingerprint(fields)


def _door_work(
    records: Iterable[KeyRecord], action: str | None
) -> tuple[dict[str, list[ChangeRef]], dict[str, str]]:
    """Per door, the rows of ``records`` that wait for a door change (pending, no version
    carrying them yet), and the action of each door's change (``action``, or from its rows'
    state)."""
    work: dict[str, list[ChangeRef]] = {}
    actions: dict[str, str] = {}
    for record in records:
        for row in record.rows:
            if row.change_version is None and is_pending(row.state):
                work.setdefault(row.door_id, []).append(
                    ChangeRef(record.key_id, row.seq, row.state)
                )
                actions.setdefault(row.door_id, action or _door_action(row.state))
    return work, actions


def _current_key(lost: ConcurrentUpdate) -> KeyRecord | None:
    """The key as a lost write found it, when the store brought it back."""
    return lost.current if isinstance(lost.current, KeyRecord) else None


def _carrying(draft: KeyRecord, carried: Mapping[str, Mapping[str, tuple[int, int]]]) -> KeyRecord:
    """A new key's draft with its rows recording the early door versions that carry them."""
    versions = carried.get(draft.key_id)
    if not versions:
        return draft
    return with_change_versions(draft, versions, bump=False) or draft


def _merged(
    early: Mapping[str, DoorChangeMade], late: Mapping[str, DoorChangeMade]
) -> dict[str, DoorChangeMade]:
    """The door changes of a run's two hand-overs (a door in both: its latest version, and
    the rows of both)."""
    merged = dict(early)
    for door_id, change in late.items():
        before = merged.get(door_id)
        merged[door_id] = (
            change
            if before is None
            else DoorChangeMade(max(before.version, change.version), before.keys + change.keys)
        )
    return merged


def _door_action(state: str) -> str:
    """The door change's action, from the state of the rows it carries."""
    return {
        "deployment_pending": "deploy",
        "revocation_pending": "revoke",
        "blocking_pending": "block",
        "unblocking_pending": "unblock",
    }.get(state, "deploy")


__all__ = [
    "DoorChangeMade",
    "DoorPlan",
    "KeyPipeline",
    "ModificationPlan",
    "Outcome",
    "Result",
    "fingerprint",
    "key_id_for",
]
