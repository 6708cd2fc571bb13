"""The local stack's processes collect less often after start-up, and still collect."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from keyworker.local.collector import YOUNG_GENERATION, settle_after_start


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class _Node:
    other: _Node | None = None


def test_what_was_loaded_is_frozen_and_collections_are_rarer(collector_restored: None) -> None:
    settle_after_start()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_GENERATION > 700


def test_cycles_made_after_settling_are_still_collected(collector_restored: None) -> None:
    settle_after_start()
    collected: list[int] = []
    made = 4 * YOUNG_GENERATION
    for n in range(made):
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # only the cyclic collector can free these
        weakref.finalize(a, collected.append, n)
        del a, b
    # No gc.collect(): the collector ran by itself as the garbage grew.
    assert len(collected) >= made // 2
