"""``keyworker demo``: a scripted day at a generated site, through the public HTTP API only.

It onboards a site with doors (common and unit, online and offline), issues access media and
digital keys, lets the simulators deploy them, sends a technician to some offline doors,
blocks a phone, revokes a key, runs a bulk revocation, and prints what every key's status is
now, the technician's worklist and what each step took.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

from tqdm import tqdm

from keyworker.limits import MAX_KEYS_PER_BATCH
from keyworker.local.client import ApiClient, ApiError
from keyworker.revocation.cli import follow

T = TypeVar("T")

COMMON_DOORS = [
    ("entrance-north", "Entrance north", "online"),
    ("garage", "Garage", "online"),
    ("entrance-south", "Entrance south", "online"),
    ("laundry", "Laundry", "offline"),
    ("bike-room", "Bike room", "online"),
    ("mail-room", "Mail room", "online"),
    ("rooftop", "Rooftop terrace", "offline"),
    ("gym", "Gym", "online"),
]
WORKDAY_SCHEDULE = {
    "time_zone": "Europe/Zurich",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}],
}


#: How often the demo looks again while it waits for the stack (a check is one or a few API
#: requests; half a second cost each wait a quarter of a second on average).
POLL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class DemoSize:
    doors: int = 50
    keys: int = 2000
    digital_share: float = 0.3
    workers: int = 8
    # Keys per POST /keys/batch (the most one accepts), one request at a time: each online
    # door gets one change and one sync per batch, and two batches at once only shared the
    # same emulator (docs/local-stack.md, "Second round").
    batch: int = 500
    batch_workers: int = 1


def new_site_id() -> str:
    """A fresh site for each demo run: demo-<local time>."""
    return time.strftime("demo-%Y%m%d-%H%M%S")


@dataclass
class Timings:
    # name, seconds, requests, AWS calls (None: the emulator's count is not known)
    steps: list[tuple[str, float, int, int | None]] = field(default_factory=list)

    def step(self, name: str, seconds: float, requests: int, aws_calls: int | None) -> None:
        self.steps.append((name, seconds, requests, aws_calls))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class Demo:
    def __init__(
        self,
        client: ApiClient,
        size: DemoSize,
        out: TextIO,
        seed: int = 7,
        progress: bool = True,
        aws_calls: Callable[[], int | None] | None = None,
    ) -> None:
        self.client = client
        # Every call the whole stack made to the AWS emulator so far (functions, pollers,
        # simulators): read around each step for the AWS calls per key.
        self.aws_calls = aws_calls or (lambda: None)
        self.size = size
        self.out = out
        self.random = random.Random(seed)
        self.progress = progress
        self.timings = Timings()
        self.doors: list[dict[str, str]] = []
        self.keys: list[dict[str, Any]] = []
        self.phones: dict[str, list[str]] = {}  # phone -> key ids

    # ----------------------------------------------------------------------------- helpers

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _parallel(
        self,
        label: str,
        items: list[T],
        work: Callable[[T], Any],
        unit: str = "req",
        workers: int | None = None,
    ) -> list[Any]:
        pool = ThreadPoolExecutor(workers or self.size.workers)
        try:
            results = pool.map(work, items)
            bar: Iterable[Any] = tqdm(
                results,
                total=len(items),
                desc=label,
                unit=unit,
                disable=not self.progress,
                file=sys.stderr,
                leave=False,
            )
            return list(bar)
        finally:
            # A failed request ends the step: the requests still queued are dropped rather than
            # sent, each with its retries, to a stack that may be gone.
            pool.shutdown(wait=True, cancel_futures=True)

    def _timed(self, name: str, action: Callable[[], T]) -> T:
        start, requests, calls = time.monotonic(), self.client.requests, self.aws_calls()
        result = action()
        seconds = time.monotonic() - start
        calls_after = self.aws_calls()
        aws = None if calls is None or calls_after is None else calls_after - calls
        self.timings.step(name, seconds, self.client.requests - requests, aws)
        return result

    def _wait_until(self, what: str, done: Callable[[], bool], timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    # ------------------------------------------------------------------------------- steps

    def create_doors(self) -> None:
        commons = COMMON_DOORS[: max(1, min(len(COMMON_DOORS), self.size.doors // 6))]
        units = self.size.doors - len(commons)
        for door_id, name, connectivity in commons:
            self.doors.append(
                {"door_id": door_id, "name": name, "kind": "common", "connectivity": connectivity}
            )
        for n in range(units):
            # Rental-property doors are mostly offline (battery locks without a network).
            connectivity = "online" if n % 5 in (0, 3) else "offline"
            self.doors.append(
                {
                    "door_id": f"apt-{101 + n}",
                    "name": f"Apartment {101 + n}",
                    "kind": "unit",
                    "connectivity": connectivity,
                }
            )

        def put(door: dict[str, str]) -> Any:
            body = {k: door[k] for k in ("name", "kind", "connectivity")}
            return self.client.put(f"/doors/{door['door_id']}", body)

        self._parallel("doors", self.doors, put)

    def issue_keys(self) -> None:
        now = time.time()
        commons = [d["door_id"] for d in self.doors if d["kind"] == "common"]
        units = [d["door_id"] for d in self.doors if d["kind"] == "unit"]
        requests: list[tuple[str, dict[str, Any]]] = []
        digital = int(self.size.keys * self.size.digital_share)
        for n in range(self.size.keys):
            unit = units[n % len(units)]
            doors = [unit, *self.random.sample(commons, k=min(len(commons), 1 + n % 2))]
            body: dict[str, Any] = {
                "holder_id": f"holder-{n:05d}",
                "door_ids": doors,
                "valid_from": _iso(now - 86400),
            }
            if n % 10 == 9:
                body["valid_from"] = _iso(now + 30 * 86400)  # moves in next month: planned
            if n < digital:
                # Holders 0 and 1 share a phone: blocking it touches both keys.
                body["phone"] = f"+4179{5000000 + (n if n > 1 else 0):07d}"
                if n % 7 == 3:
                    body["schedule"] = WORKDAY_SCHEDULE
                if n % 10 == 5:
                    body["valid_until"] = _iso(now + 20)  # expires during the demo
                requests.append((f"key-{n}", {"type": "digital_key", **body}))
            else:
                body["card_uid"] = f"04{n:08X}"
                if n % 9 == 4:
                    body["schedule"] = WORKDAY_SCHEDULE
                requests.append((f"key-{n}", {"type": "access_medium", **body}))

        # Issued as the property manager's import sends them: in batches (POST /keys/batch),
        # so the keys at one door share its door change and each online door syncs once per
        # batch, not once per key.
        size = min(self.size.batch, MAX_KEYS_PER_BATCH)
        batches = [requests[i : i + size] for i in range(0, len(requests), size)]

        def create(batch: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
            first = batch[0][0]
            keys: list[dict[str, Any]] = self.client.post(
                "/keys/batch",
                {"items": [body for _, body in batch]},
                idempotency_key=f"{self.client.site_id}-{first}",
            )["items"]
            for key, (_, body) in zip(keys, batch, strict=True):
                if "phone" in body:
                    key["phone"] = body["phone"]
            return keys

        self.keys = [
            key
            for keys in self._parallel(
                "keys", batches, create, unit="batch", workers=self.size.batch_workers
            )
            for key in keys
        ]
        for key in self.keys:
            if "phone" in key:
                self.phones.setdefault(key["phone"], []).append(key["key_id"])

    def wait_for_automation(self) -> None:
        online = [d["door_id"] for d in self.doors if d["connectivity"] == "online"]

        def doors_synced() -> bool:
            for door_id in online:
                door = self.client.get(f"/doors/{door_id}")
                if door["confirmed_version"] < door["desired_version"]:
                    return False
            return True

        def keys_delivered() -> bool:
            page = self.client.get("/keys", status="deployment_pending", limit=1)
            return not page["items"]

        self._wait_until("online doors to sync", doors_synced)
        self._wait_until("digital keys to be delivered", keys_delivered)

    def technician_visits(self, count: int) -> list[str]:
        worklist = self.client.get("/doors", visit="needed")["doors"]
        visited = []
        for entry in worklist[:count]:
            door_id = entry["door_id"]
            update = self.client.get(f"/doors/{door_id}/update")
            # The technician's device applies the payload at the door, then reports it.
            self.client.post(f"/doors/{door_id}/sync", {"version": update["version"]})
            visited.append(door_id)
        return visited

    def block_phone(self) -> str:
        phone = next(p for p, keys in self.phones.items() if len(keys) > 1)
        self.client.post(f"/phones/{phone}/block")
        return phone

    def revoke_one_digital_key(self) -> str:
        key = next(
            k for k in self.keys if k["type"] == "digital_key" and len(self.phones[k["phone"]]) == 1
        )
        self.client.post(f"/keys/{key['key_id']}/revoke")
        return str(key["key_id"])

    def bulk_revocation(self, door_id: str) -> dict[str, Any]:
        run = self.client.post(
            "/revocations",
            {"selector": {"door_ids": [door_id]}, "reason": f"{door_id} access withdrawn"},
            idempotency_key=f"{self.client.site_id}-revoke-{door_id}",
        )
        view: dict[str, Any] = follow(
            self.client,
            run["run_id"],
            interval=POLL_SECONDS,
            desc=f"revoking keys of {door_id}",
            disable=not self.progress,
            leave=False,
        )
        return view

    # ----------------------------------------------------------------------------- summary

    def summary(self) -> dict[str, Any]:
        keys = self.client.all_keys()
        general = Counter((k["status"]["code"], k["status"]["label"]) for k in keys)
        home = Counter(
            (k["home_status"]["code"], k["home_status"]["label"])
            if k["home_status"]
            else ("-", "(not shown in the app)")
            for k in keys
        )
        doors = Counter(
            d["status"]["label"] for k in keys for d in k["doors"] if d["status"] is not None
        )
        worklist = self.client.get("/doors", visit="needed")["doors"]
        return {
            "keys": len(keys),
            "general": general,
            "home": home,
            "doors": doors,
            "worklist": worklist,
        }

    def print_summary(
        self, result: dict[str, Any], total_seconds: float, aws_total: int | None = None
    ) -> None:
        say = self.say
        say("")
        say(f"Keys at site {self.client.site_id}: {result['keys']}")
        _table(say, "General status (admin portal)", result["general"])
        _table(say, "Home-app status (what keyholders see)", result["home"])
        say("")
        say("Deployment status at doors")
        for label, count in sorted(result["doors"].items(), key=lambda x: -x[1]):
            say(f"  {label:<40} {count:>6}")
        say("")
        say("Technician's worklist (offline doors to visit)")
        say(f"  {'door':<12} {'pending changes':>16} {'oldest (s)':>11}")
        for entry in result["worklist"][:12]:
            say(
                f"  {entry['door_id']:<12} {entry['pending_changes']:>16} "
                f"{entry.get('oldest_pending_age_seconds', 0):>11}"
            )
        if len(result["worklist"]) > 12:
            say(f"  ... and {len(result['worklist']) - 12} more")
        say("")
        say("Measured")
        say(f"  {'step':<44} {'seconds':>8} {'requests':>9} {'req/s':>7} {'AWS calls':>10}")
        for name, seconds, requests, aws in self.timings.steps:
            rate = requests / seconds if seconds > 0 else 0.0
            aws_text = "-" if aws is None else str(aws)
            say(f"  {name:<44} {seconds:>8.1f} {requests:>9} {rate:>7.0f} {aws_text:>10}")
        total_text = "-" if aws_total is None else str(aws_total)
        requests_total = self.client.requests
        say(f"  {'total':<44} {total_seconds:>8.1f} {requests_total:>9} {'':>7} {total_text:>10}")
        if aws_total is not None and self.size.keys:
            say(
                f"  AWS calls per key: {aws_total / self.size.keys:.1f} (every call the stack "
                f"made to its emulator during the demo, over the {self.size.keys} keys issued)"
            )

    def run(self) -> dict[str, Any]:
        started, calls_before = time.monotonic(), self.aws_calls()
        size = self.size
        self.say(f"Site {self.client.site_id}: {size.doors} doors, {size.keys} keys")
        self._timed(f"put {size.doors} doors", self.create_doors)
        self._timed(f"issue {size.keys} keys", self.issue_keys)
        self._timed("deploy: online doors sync, keys delivered", self.wait_for_automation)
        visited = self._timed(
            "technician visits 5 offline doors", lambda: self.technician_visits(5)
        )
        self.say(f"Technician updated {', '.join(visited)}")
        phone = self._timed("block a phone", self.block_phone)
        self.say(f"Blocked phone {phone[:4]}*****{phone[-2:]} ({len(self.phones[phone])} keys)")
        revoked = self._timed("revoke one digital key", self.revoke_one_digital_key)
        self.say(f"Revoked digital key {revoked}")
        garage = next(
            (d["door_id"] for d in self.doors if d["door_id"] == "garage"), self.doors[0]["door_id"]
        )
        report = self._timed(
            f"bulk revocation: keys of {garage}", lambda: self.bulk_revocation(garage)
        )
        counts = report["counts"]
        visits = report["report"]["doors_to_visit_total"] if report.get("report") else 0
        self.say(
            f"Revocation run {report['run_id']}: {report['state']}; "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
            + f"; offline doors to visit {visits}"
        )
        self._timed("let the field catch up", self.wait_for_automation)
        result = self._timed("read every key's status", self.summary)
        calls_after = self.aws_calls()
        aws_total = (
            None if calls_before is None or calls_after is None else calls_after - calls_before
        )
        self.print_summary(result, time.monotonic() - started, aws_total)
        return result


def _table(say: Callable[[str], None], title: str, counts: Counter[tuple[str, str]]) -> None:
    say("")
    say(title)
    for (code, label), count in sorted(counts.items(), key=lambda x: -x[1]):
        say(f"  {label:<40} {code:<26} {count:>6}")


def run_demo(
    client: ApiClient,
    size: DemoSize,
    out: TextIO,
    progress: bool = True,
    aws_calls: Callable[[], int | None] | None = None,
) -> int:
    try:
        Demo(client, size, out, progress=progress, aws_calls=aws_calls).run()
    except (ApiError, TimeoutError) as error:
        print(f"keyworker demo: {error}", file=sys.stderr)
        return 1
    return 0
