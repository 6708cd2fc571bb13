"""feedback.Deliveries: the key deliveries of one batch meet and run as one group; each
event gets its own answer or refusal, an outage fails every joined event, and events that
leave (errors before they could join) still let the group run."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from keyworker.errors import KeyNotFound, StoreUnavailable
from keyworker.feedback import Deliveries
from keyworker.field_events import KeyDelivered


@dataclass
class _Status:
    code: str


@dataclass
class _Shown:
    status: _Status


@dataclass
class _View:
    status: _Shown


def _event(key_id: str) -> KeyDelivered:
    return KeyDelivered(event_id=f"e-{key_id}", site_id="s", key_id=key_id)


class _Runs:
    def __init__(self, outage: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.outage = outage
        self.lock = threading.Lock()

    def __call__(self, events: list[KeyDelivered]) -> list[Any]:
        with self.lock:
            self.calls.append([e.key_id for e in events])
        if self.outage:
            raise StoreUnavailable("DynamoDB is throttling")
        return [
            KeyNotFound(f"key {e.key_id} does not exist")
            if e.key_id.startswith("unknown")
            else _View(_Shown(_Status(f"deployed:{e.key_id}")))
            for e in events
        ]


def _apply_all(group: Deliveries, plans: list[tuple[str, str]]) -> list[Any]:
    """Each plan ``(join|leave, key)`` from its own thread, all at once; answers or errors."""

    def one(plan: tuple[str, str]) -> Any:
        what, key = plan
        if what == "leave":
            group.leave()
            return "left"
        try:
            return group.join(_event(key))
        except Exception as error:  # the answer under test
            return error

    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        return list(pool.map(one, plans))


def test_the_group_runs_once_with_every_joined_event_and_answers_each() -> None:
    runs = _Runs()
    plans = [("join", "k1"), ("leave", "dup"), ("join", "unknown-1"), ("join", "k2")]
    answers = _apply_all(Deliveries(runs, expected=len(plans)), plans)
    assert len(runs.calls) == 1
    assert sorted(runs.calls[0]) == ["k1", "k2", "unknown-1"]
    assert answers[0] == _View(_Shown(_Status("deployed:k1")))
    assert answers[1] == "left"
    assert isinstance(answers[2], KeyNotFound)
    assert answers[3] == _View(_Shown(_Status("deployed:k2")))


def test_an_outage_fails_every_joined_event() -> None:
    runs = _Runs(outage=True)
    answers = _apply_all(
        Deliveries(runs, expected=3), [("join", "a"), ("join", "b"), ("leave", "c")]
    )
    assert isinstance(answers[0], StoreUnavailable)
    assert isinstance(answers[1], StoreUnavailable)
    assert answers[2] == "left"
    assert len(runs.calls) == 1


def test_a_group_that_everyone_left_runs_nothing() -> None:
    runs = _Runs()
    assert _apply_all(Deliveries(runs, expected=2), [("leave", "a"), ("leave", "b")]) == [
        "left",
        "left",
    ]
    assert runs.calls == []


def test_one_delivery_alone_runs_at_once() -> None:
    runs = _Runs()
    group = Deliveries(runs, expected=1)
    assert group.join(_event("k")) == _View(_Shown(_Status("deployed:k")))
    assert runs.calls == [["k"]]


def test_more_arrivals_than_expected_is_a_bug_that_says_so() -> None:
    group = Deliveries(_Runs(), expected=1)
    group.leave()
    with pytest.raises(AssertionError, match="more deliveries"):
        group.leave()
