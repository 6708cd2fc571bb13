"""Every status of the seed's three tables, observed through the HTTP API of a running
``keyworker local`` (simulators off: the test is the door, the technician, the mobile-access
cloud and the app, and speaks through the API and the events queue)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from local_stack_harness import Api, RunningStack, eventually

pytestmark = pytest.mark.e2e

SCHEDULE = {
    "time_zone": "Europe/Zurich",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}],
}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def event(event_type: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "e2e",
            "type": event_type,
            "data": data,
        }
    )


class Site:
    def __init__(self, stack: RunningStack, name: str) -> None:
        self.name = name
        self.api = Api(stack.api, stack.token(name), name)
        self.stack = stack
        self.sqs = stack.sqs()
        self.events_queue = stack.queue_url("events")

    def key(self, key_id: str) -> dict[str, Any]:
        key: dict[str, Any] = self.api.ok("GET", f"/keys/{key_id}")
        return key

    def sync(self, door_id: str) -> None:
        """A technician (or the door) applies everything pending and reports the version."""
        update = self.api.ok("GET", f"/doors/{door_id}/update")
        self.api.ok("POST", f"/doors/{door_id}/sync", {"version": update["version"]})

    def send_event(self, event_type: str, data: dict[str, Any]) -> None:
        self.sqs.send_message(QueueUrl=self.events_queue, MessageBody=event(event_type, data))

    def doors(self) -> None:
        for door_id, kind, connectivity in (
            ("entrance", "common", "online"),
            ("laundry", "common", "online"),
            ("apt-1", "unit", "offline"),
        ):
            self.api.ok(
                "PUT",
                f"/doors/{door_id}",
                {"name": door_id.title(), "kind": kind, "connectivity": connectivity},
            )


def labels(key: dict[str, Any]) -> tuple[str, str | None, list[str | None]]:
    home = key["home_status"]["label"] if key["home_status"] else None
    return (
        key["status"]["label"],
        home,
        [d["status"]["label"] if d["status"] else None for d in key["doors"]],
    )


def test_every_seed_status_is_observed_through_the_api(quiet_stack: RunningStack) -> None:
    site = Site(quiet_stack, f"e2e-{uuid.uuid4().hex[:8]}")
    site.doors()
    seen_general: set[str] = set()
    seen_doors: set[str] = set()
    seen_home: set[str] = set()

    def observe(key: dict[str, Any]) -> dict[str, Any]:
        general, home, doors = labels(key)
        seen_general.add(f"{key['type']}:{general}")
        if home:
            seen_home.add(home)
        seen_doors.update(label for label in doors if label)
        return key

    now = time.time()
    # --- access medium: planned, then moving in with automated and manual door work
    planned = site.api.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "t-1",
            "card_uid": "04AA0001",
            "door_ids": ["entrance"],
            "valid_from": iso(now + 30 * 86400),
        },
    )
    assert labels(observe(site.key(planned["key_id"])))[0] == "Planned"

    card = site.api.ok(
        "POST",
        "/access-media",
        {
            "holder_id": "t-2",
            "card_uid": "04AA0002",
            "door_ids": ["entrance", "apt-1"],
            "valid_from": iso(now - 60),
            "schedule": SCHEDULE,
        },
        **{"idempotency-key": "card-t-2"},
    )
    assert labels(observe(site.key(card["key_id"]))) == (
        "Door update pending",
        "Please update the door",
        ["(automated) Deployment pending", "(manual) Deployment pending"],
    )
    site.sync("apt-1")  # the technician visits the apartment door
    assert labels(observe(site.key(card["key_id"]))) == (
        "Door update pending",
        "Updating common doors",
        ["(automated) Deployment pending", "Deployed"],
    )
    site.send_event(
        "door.synced",
        {
            "site_id": site.name,
            "door_id": "entrance",
            "version": site.api.ok("GET", "/doors/entrance")["desired_version"],
        },
    )
    active = eventually(
        lambda: (k := observe(site.key(card["key_id"])))["status"]["code"] == "active" and k,
        "the entrance to confirm through the events queue",
    )
    assert labels(active) == ("Active", "Mon–Fri 07:00–19:00", ["Deployed", "Deployed"])

    site.api.ok("POST", f"/keys/{card['key_id']}/revoke")
    assert labels(observe(site.key(card["key_id"]))) == (
        "Revocation pending",
        "Please update the door",
        ["(automated) Revocation pending", "(manual) Revocation pending"],
    )
    site.sync("apt-1")
    site.sync("entrance")
    assert observe(site.key(card["key_id"]))["status"]["label"] == "Revoked"

    # --- digital keys: delivery, blocking, revocation, expiry
    phone = "+41791112233"
    digital = site.api.ok(
        "POST",
        "/digital-keys",
        {
            "holder_id": "t-3",
            "phone": phone,
            "door_ids": ["entrance", "apt-1"],
            "valid_from": iso(now - 60),
        },
    )
    assert labels(observe(site.key(digital["key_id"])))[:2] == ("Deployment pending", None)
    site.send_event("key.delivered", {"site_id": site.name, "key_id": digital["key_id"]})
    eventually(
        lambda: observe(site.key(digital["key_id"]))["status"]["code"] == "deployed",
        "the delivery event",
    )
    assert labels(site.key(digital["key_id"])) == ("Deployed", "Always", ["Deployed", "Deployed"])

    site.api.ok("POST", f"/phones/{phone}/block")
    assert labels(observe(site.key(digital["key_id"]))) == (
        "Deployed",
        "Blocked",
        ["(automated) Blocking pending", "(manual) Blocking pending"],
    )
    site.sync("entrance")
    site.sync("apt-1")
    assert labels(observe(site.key(digital["key_id"])))[2] == ["Blocked", "Blocked"]
    site.api.ok("POST", f"/phones/{phone}/unblock")
    assert labels(observe(site.key(digital["key_id"]))) == (
        "Deployed",
        "Always",
        ["(automated) Unblocking pending", "(manual) Unblocking pending"],
    )
    site.sync("entrance")
    site.sync("apt-1")
    assert labels(observe(site.key(digital["key_id"])))[2] == ["Deployed", "Deployed"]

    site.api.ok("POST", f"/keys/{digital['key_id']}/revoke")
    assert labels(observe(site.key(digital["key_id"])))[:2] == (
        "Revocation pending",
        "Deactivation in progress",
    )
    site.send_event("app.key_list_reloaded", {"site_id": site.name, "phone": phone})
    eventually(
        lambda: observe(site.key(digital["key_id"]))["status"]["code"] == "revoked",
        "the app reload event",
    )
    assert labels(site.key(digital["key_id"]))[1] is None  # the app no longer shows it

    short = site.api.ok(
        "POST",
        "/digital-keys",
        {
            "holder_id": "t-4",
            "phone": "+41791112244",
            "door_ids": ["laundry"],
            "valid_from": iso(now - 60),
            "valid_until": iso(time.time() + 2),
        },
    )
    site.send_event("key.delivered", {"site_id": site.name, "key_id": short["key_id"]})
    eventually(
        lambda: (
            (k := observe(site.key(short["key_id"])))["home_status"]
            and k["home_status"]["label"] == "Expired"
        ),
        "the short key to expire",
    )

    assert seen_general == {
        "access_medium:Planned",
        "access_medium:Door update pending",
        "access_medium:Active",
        "access_medium:Revocation pending",
        "access_medium:Revoked",
        "digital_key:Deployment pending",
        "digital_key:Deployed",
        "digital_key:Revocation pending",
        "digital_key:Revoked",
    }
    assert seen_doors == {
        "(manual) Deployment pending",
        "(automated) Deployment pending",
        "Deployed",
        "(manual) Revocation pending",
        "(automated) Revocation pending",
        "(manual) Blocking pending",
        "(automated) Blocking pending",
        "Blocked",
        "(manual) Unblocking pending",
        "(automated) Unblocking pending",
    }
    assert seen_home == {
        "Always",
        "Mon–Fri 07:00–19:00",
        "Updating common doors",
        "Please update the door",
        "Deactivation in progress",
        "Expired",
        "Blocked",
    }


def test_poisoned_event_lands_in_the_dlq_and_the_stack_keeps_serving(
    quiet_stack: RunningStack,
) -> None:
    site = Site(quiet_stack, f"e2e-{uuid.uuid4().hex[:8]}")
    site.doors()
    dlq = quiet_stack.queue_url("events-dlq")
    poison = json.dumps(
        {
            "specversion": "1.0",
            "id": "poison-1",
            "source": "e2e",
            "type": "door.exploded",
            "data": {},
        }
    )
    site.sqs.send_message(QueueUrl=site.events_queue, MessageBody=poison)

    def dead_letters() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = site.sqs.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=0,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        return [m for m in messages if json.loads(m["Body"]).get("id") == "poison-1"]

    # Two receives (--max-receive-count 2), each failing, one second apart; meanwhile the
    # stack keeps answering.
    status, _ = site.api.call("GET", "/doors/entrance")
    assert status == 200
    (dead,) = eventually(dead_letters, "the poisoned event in the DLQ", timeout=60)
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= 1
    status, door = site.api.call("GET", "/doors/entrance")
    assert status == 200
    assert door["door_id"] == "entrance"
