"""Replaying any command or confirmation changes nothing the second time; a command retried
after a crash midway finishes the job instead of repeating it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from moto_state import scan_all
from service_world import DAY, PHONE, SITE, T0, World

from keyworker.api.wire import key_out
from keyworker.domain.engine import CHANGE_GRACE_SECONDS, SETTLE_LEASE_SECONDS
from keyworker.domain.models import DoorChange, KeyView
from keyworker.domain.services import build_services
from keyworker.errors import StoreUnavailable


@pytest.fixture
def site(world: World) -> World:
    world.door("entrance", kind="common", connectivity="online")
    world.door("flat-1")
    return world


def _replayed(world: World, command: Callable[[], Any]) -> None:
    """Run ``command`` twice; the second run must leave every item exactly as it was."""
    first = command()
    after_first = scan_all(world.client)
    second = command()
    assert scan_all(world.client) == after_first
    if isinstance(first, KeyView):
        assert key_out(second) == key_out(first)


def test_put_door(site: World) -> None:
    _replayed(
        site,
        lambda: site.services.doors.put_door(
            SITE, "flat-1", name="Flat", kind="unit", connectivity="online", actor="a"
        ),
    )


def test_create_access_medium(site: World) -> None:
    _replayed(
        site,
        lambda: site.services.keys.create_access_medium(
            SITE,
            holder_id="h",
            card_uid="c",
            door_ids=["entrance", "flat-1"],
            valid_from=T0,
            actor="admin",
            request_id="req-1",
        ),
    )


def test_create_digital_key(site: World) -> None:
    _replayed(
        site,
        lambda: site.services.keys.create_digital_key(
            SITE,
            holder_id="h",
            phone=PHONE,
            door_ids=["entrance"],
            valid_from=T0,
            actor="admin",
            request_id="req-2",
        ),
    )


def test_revoke(site: World) -> None:
    key_id = site.access_medium(["entrance", "flat-1"])
    _replayed(site, lambda: site.services.keys.revoke(SITE, key_id, actor="admin"))


def test_key_delivered(site: World) -> None:
    key_id = site.digital_key(["entrance"])
    _replayed(site, lambda: site.services.keys.key_delivered(SITE, key_id, actor="cloud"))


def test_block_and_unblock(site: World) -> None:
    key_id = site.digital_key(["entrance", "flat-1"])
    site.services.keys.key_delivered(SITE, key_id, actor="cloud")
    _replayed(site, lambda: site.services.phones.block(SITE, PHONE, actor="admin"))
    _replayed(site, lambda: site.services.phones.unblock(SITE, PHONE, actor="admin"))


def test_app_reloaded(site: World) -> None:
    key_id = site.digital_key(["entrance"])
    site.services.keys.key_delivered(SITE, key_id, actor="cloud")
    site.services.keys.revoke(SITE, key_id, actor="admin")
    _replayed(site, lambda: site.services.phones.app_reloaded(SITE, PHONE, actor="app"))


def test_door_synced_and_stale_versions(site: World) -> None:
    site.access_medium(["flat-1"])
    site.access_medium(["flat-1"], card_uid="card-2")
    _replayed(site, lambda: site.sync("flat-1", 2))
    # An older version after a newer one is stale: nothing changes.
    before = scan_all(site.client)
    result = site.sync("flat-1", 1)
    assert result.stale
    assert scan_all(site.client) == before


def test_time_service(site: World) -> None:
    key_id = site.access_medium(["entrance"], valid_from=T0 + DAY)
    site.clock.set(T0 + 2 * DAY)
    _replayed(site, site.services.time.process_due)
    record = site.store.get_key(SITE, key_id)
    assert record is not None
    assert record.indexed is not None
    assert record.indexed.status == "door_update_pending"


class _FailingOnce:
    """Wraps the store; the first ``put_change`` at ``door_id`` fails as if the Lambda died
    right after allocating that door's version, before writing the version's change.

    The door is named, not "whichever comes first": a command hands its doors their changes
    in parallel, so the first ``put_change`` to arrive may be any door's."""

    def __init__(self, inner: Any, door_id: str = "entrance") -> None:
        self._inner = inner
        self._door_id = door_id
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put_change(self, change: DoorChange) -> bool:
        if not self.failed and change.door_id == self._door_id:
            self.failed = True
            raise StoreUnavailable("the Lambda died here")
        return bool(self._inner.put_change(change))


def test_a_revoke_retried_after_a_crash_finishes_the_job(site: World) -> None:
    key_id = site.access_medium(["entrance", "flat-1"])
    for door_id in ("entrance", "flat-1"):
        site.sync(door_id)
    assert site.ports is not None
    failing = _FailingOnce(site.store)
    crashing = build_services(replace(site.ports, store=failing))

    with pytest.raises(StoreUnavailable):
        crashing.keys.revoke(SITE, key_id, actor="admin")
    # The intent is written; the entrance's version 2 is allocated, its change never written.
    assert site.key(key_id)["status"]["code"] == "revocation_pending"
    assert site.services.doors.get_door(SITE, "entrance").desired_version == 2

    # A retry within the writer's lease leaves the door work to that writer (it may still be
    # running: a concurrent duplicate must not make a second door change).
    early = crashing.keys.revoke(SITE, key_id, actor="admin")
    assert any(row.change_version is None for row in early.record.rows)
    # The retried command after the lease (an SQS redelivery comes after the queue's visibility
    # timeout, 180 s) finishes: every door gets its removal work, the entrance at a version of
    # its own.
    site.clock.advance(SETTLE_LEASE_SECONDS)
    view = crashing.keys.revoke(SITE, key_id, actor="admin")
    rows = {row.door_id: row for row in view.record.rows}
    assert rows["entrance"].change_version == 3
    # The flat's door was handed its change beside the entrance's (doors in parallel): if the
    # crashed try got to it, that change stays (it names the same intent; a door applies it
    # once) and the retry adds the one the key records.
    assert rows["flat-1"].change_version in (2, 3)
    # Within the grace period the missing version 2 is in flight: the entrance is given (and
    # confirms) nothing past version 1 yet.
    assert site.services.doors.door_update(SITE, "entrance").version == 1
    assert site.sync("entrance").stale
    # Once it is older than the grace period, a reader voids it and the door gets the rest.
    site.clock.advance(CHANGE_GRACE_SECONDS)
    update = site.services.doors.door_update(SITE, "entrance")
    assert update.version == 3
    work = site.services.doors.pending_work(SITE, "entrance").changes
    assert [(c.version, c.action) for c in work] == [(2, "void"), (3, "revoke")]
    for door_id in ("entrance", "flat-1"):
        door = site.services.doors.get_door(SITE, door_id)
        assert door.desired_version == rows[door_id].change_version
        site.sync(door_id)
    assert site.key(key_id)["status"]["code"] == "revoked"
    actions = [e.action for e in site.services.queries.history(SITE, key_id)]
    assert actions.count("revoked") == 1


def test_the_time_service_finishes_door_work_a_crashed_command_left(site: World) -> None:
    key_id = site.access_medium(["entrance", "flat-1"])
    for door_id in ("entrance", "flat-1"):
        site.sync(door_id)
    assert site.ports is not None
    crashing = build_services(replace(site.ports, store=_FailingOnce(site.store)))
    with pytest.raises(StoreUnavailable):
        crashing.keys.revoke(SITE, key_id, actor="admin")
    # Nobody retries. Within the lease the key is not due; after it, the time service runs it
    # through the pipeline again, which hands its rows to their doors.
    assert site.services.time.process_due() == []
    assert site.store.get_key(SITE, key_id).rows[1].change_version is None  # type: ignore[union-attr]
    site.clock.advance(SETTLE_LEASE_SECONDS)
    site.services.time.process_due()
    record = site.store.get_key(SITE, key_id)
    assert record is not None
    assert all(row.change_version is not None for row in record.rows)
    assert record.indexed is not None
    # No lease any more: the next boundary is when the revocation's door work becomes too
    # long (pending_too_long), no longer the lease's end.
    assert record.overdue_at is not None
    assert record.indexed.next_boundary_at == record.overdue_at > site.clock.now()
    # The entrance's version the crash allocated is void once past the grace period.
    site.clock.advance(CHANGE_GRACE_SECONDS)
    for door_id in ("entrance", "flat-1"):
        site.sync(door_id)
    assert site.key(key_id)["status"]["code"] == "revoked"


def test_replayed_create_after_a_crash_delivers_and_registers(site: World) -> None:
    class DeadGateway:
        def deliver(self, *args: Any) -> None:
            raise StoreUnavailable("mobile-access cloud unreachable")

        def revoke(self, *args: Any) -> None:
            raise AssertionError("not called")

    assert site.ports is not None
    broken = build_services(replace(site.ports, mobile_gateway=DeadGateway()))
    arguments: dict[str, Any] = {
        "holder_id": "h",
        "phone": PHONE,
        "door_ids": ["entrance"],
        "valid_from": T0,
        "actor": "admin",
        "request_id": "req-9",
    }
    with pytest.raises(StoreUnavailable):
        broken.keys.create_digital_key(SITE, **arguments)
    view = site.services.keys.create_digital_key(SITE, **arguments)
    assert [d[1] for d in site.mobile.delivered] == [view.record.key_id]
    phone = site.store.get_phone(SITE, site.hasher.hash("+41791234567"))
    assert phone is not None
    assert phone.key_ids == {view.record.key_id}
