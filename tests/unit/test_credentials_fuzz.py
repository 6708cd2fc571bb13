"""Decoding arbitrary bytes through the native module never crashes the interpreter: every
input either verifies or raises one of keyworker's own credential errors."""

from __future__ import annotations

import cbor2
from hypothesis import given
from hypothesis import strategies as st

from keyworker import credentials as cr
from keyworker import errors

SIGNING_KEY = cr.SigningKey.from_pkcs8("EdDSA", "k1", cr.generate_signing_key("EdDSA"))
DOOR_KEY = cr.DoorKey("doors-1", bytes(range(32)))
TOKEN = cr.issue(
    SIGNING_KEY,
    cr.CredentialClaims(
        site_id="s",
        key_id="k",
        credential_id=bytes(16),
        issued_at=0,
        valid_from=0,
        valid_until=10,
        door_ids=("d",),
        key_type=cr.KeyType.ACCESS_MEDIUM,
        holder_ref="h",
    ),
)
MESSAGE = cr.encode_door_update(
    DOOR_KEY,
    cr.DoorUpdate("d", 1, 2, (cr.DoorChange.remove_credential(bytes(16)),)),
    blocklist_len=0,
)


def check_credential(data: bytes) -> None:
    try:
        cr.verify(data, [SIGNING_KEY.verification_key()], now=5)
    except errors.CredentialError:
        return
    assert data == TOKEN


def check_door_update(data: bytes) -> None:
    try:
        cr.open_door_update(data, [DOOR_KEY])
    except errors.CredentialError:
        return
    assert data == MESSAGE


@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    check_credential(data)
    check_door_update(data)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_valid_messages(edits: list[tuple[int, int]]) -> None:
    for original, check in ((TOKEN, check_credential), (MESSAGE, check_door_update)):
        data = bytearray(original)
        for at, value in edits:
            data[at % len(data)] = value
        check(bytes(data))


cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.integers(-70000, 10) | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(st.sampled_from([17, 18, 61]), st.lists(cbor_values, min_size=0, max_size=5))
def test_well_formed_cbor_of_the_wrong_shape(tag: int, items: list[object]) -> None:
    data = cbor2.dumps(cbor2.CBORTag(tag, items))
    check_credential(data)
    check_door_update(data)
