"""A chunk reads its keys without their previous audit event and writes them back whole: the
attributes it reads must be every attribute a key item can have, or a write would drop one."""

from __future__ import annotations

import dataclasses

from keyworker.domain.models import KeyRecord
from keyworker.revocation.store import KEY_ITEM_ATTRIBUTES, _complete_key
from keyworker.store.dynamodb import key_from_item, key_to_item


def test_the_sample_key_sets_every_field() -> None:
    sample = _complete_key()
    unset = [f.name for f in dataclasses.fields(KeyRecord) if getattr(sample, f.name) is None]
    # last_event is read apart (actor and action); every other field must show in the item.
    assert unset == ["last_event"], f"set {unset} in _complete_key so their attributes are read"


def test_every_attribute_of_the_item_is_read_and_round_trips() -> None:
    item = key_to_item(_complete_key())
    assert set(item) == set(KEY_ITEM_ATTRIBUTES)
    assert key_from_item(item) == _complete_key()
