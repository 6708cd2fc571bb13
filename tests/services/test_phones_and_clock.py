"""Phone numbers (E.164, keyed hash, masking) and the injected clock."""

import pytest

from keyworker.clock import FixedClock, SystemClock
from keyworker.errors import InvalidPhoneNumber
from keyworker.phones import PhoneHasher, mask, normalize


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+41 79 123 45 67", None, "+41791234567"),
        ("+41-79-123-45-67", None, "+41791234567"),
        ("079 123 45 67", "CH", "+41791234567"),
        ("+1 (650) 253-0000", None, "+16502530000"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize(raw, default_region=region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "hello", "079 123 45 67", "+41 12", "+999 1234567"])
def test_unparseable_or_invalid_numbers_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw)
    assert caught.value.field == "phone"


def test_mask_keeps_only_country_code_and_last_two_digits() -> None:
    assert mask("+41791234567") == "+41*******67"
    assert "1234" not in mask("+41791234567")
    assert mask("garbage") == "+***"


def test_keyed_hash_depends_on_the_secret_and_hides_the_number() -> None:
    one = PhoneHasher(b"0123456789abcdef-one")
    two = PhoneHasher(b"0123456789abcdef-two")
    digest = one.hash("+41791234567")
    assert digest == one.hash("+41791234567")
    assert digest != two.hash("+41791234567")
    assert len(digest) == 64
    assert "41791234567" not in digest
    assert "0123456789" not in repr(one)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        PhoneHasher(b"short")


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(1_000)
    assert clock.now() == 1_000
    assert clock.advance(60) == 1_060
    clock.set(5)
    assert clock.now() == 5
    assert SystemClock().now() > 1_700_000_000
