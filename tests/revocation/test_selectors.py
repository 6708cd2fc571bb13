"""Selectors: their JSON form, phone numbers kept only as keyed hashes, the stored form."""

from __future__ import annotations

import pytest

from keyworker.errors import InvalidPhoneNumber, InvalidSelector
from keyworker.phones import PhoneHasher
from keyworker.revocation.selectors import MAX_SELECTOR_IDS, Selector, parse_selector

HASHER = PhoneHasher(b"selector-test-secret-0123456789")


def parse(value: object) -> Selector:
    return parse_selector(value, hasher=HASHER, default_region="CH")


def test_each_target_and_the_filters() -> None:
    assert parse({"all": True}) == Selector("all")
    assert parse({"door_ids": ["b", "a", "b"]}).ids == ("b", "a")  # repeats count once
    holders = parse({"holder_ids": ["h1"], "type": "digital_key", "status": ["active"]})
    assert holders == Selector("holder_ids", ("h1",), "digital_key", ("active",))
    assert parse({"key_ids": ["k-1"]}).target == "key_ids"


def test_phone_numbers_become_keyed_hashes_and_masks() -> None:
    selector = parse({"phones": ["079 123 45 67", "+41791234567", "+41 79 765 43 21"]})
    assert selector.ids == (HASHER.hash("+41791234567"), HASHER.hash("+41797654321"))
    assert selector.masked_phones == ("+41*******67", "+41*******21")
    stored = selector.as_stored()
    assert "+41791234567" not in repr(stored)
    assert Selector.from_stored(stored) == selector
    assert selector.as_api() == {"phones": ["+41*******67", "+41*******21"]}


def test_the_stored_form_round_trips() -> None:
    for value in (
        {"all": True, "type": "access_medium"},
        {"door_ids": ["d"], "status": ["planned"]},
    ):
        selector = parse(value)
        assert Selector.from_stored(selector.as_stored()) == selector
        assert selector.as_api() == value


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("all", "selector"),
        ({"all": True, "key_ids": ["k"]}, "selector"),
        ({"key_ids": ["k"] * (MAX_SELECTOR_IDS + 1)}, "selector.key_ids"),
        ({"key_ids": [3]}, "selector.key_ids[0]"),
        ({"status": ["active"]}, "selector"),
        ({"all": True, "status": []}, "selector.status"),
        ({"all": True, "status": "active"}, "selector.status"),
    ],
)
def test_bad_selectors(value: object, field: str) -> None:
    with pytest.raises(InvalidSelector) as error:
        parse(value)
    assert error.value.field == field


def test_a_phone_that_is_not_a_string_or_not_a_number() -> None:
    for phones in ([41791234567], ["+41 12"]):
        with pytest.raises(InvalidPhoneNumber) as error:
            parse({"phones": phones})
        assert error.value.field == "selector.phones[0]"
