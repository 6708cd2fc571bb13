"""Key credentials through the Python facade: round trips, every rejection, bad input, batches,
and the shared vectors of tests/vectors/credentials.json."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cbor2
import pytest

from keyworker import credentials as cr
from keyworker import errors

VECTORS = Path(__file__).parent.parent / "vectors"
NOW = 1_767_225_600


def make_claims(**changes: Any) -> cr.CredentialClaims:
    claims = cr.CredentialClaims(
        site_id="site-zurich-1",
        key_id="key-0001",
        credential_id=bytes(range(16)),
        issued_at=NOW,
        valid_from=NOW,
        valid_until=NOW + 86_400 * 365,
        door_ids=("door-entrance", "door-unit-12"),
        key_type=cr.KeyType.DIGITAL_KEY,
        holder_ref="holder-42",
        schedule=cr.CredentialSchedule(
            time_zone="Europe/Zurich",
            windows=(
                cr.ScheduleWindow(("mon", "tue", "wed", "thu", "fri"), 420, 1140),
                cr.ScheduleWindow(("sat",), 540, 720),
            ),
        ),
    )
    return replace(claims, **changes)


def new_key(algorithm: cr.Algorithm, kid: str = "k1") -> cr.SigningKey:
    return cr.SigningKey.from_pkcs8(algorithm, kid, cr.generate_signing_key(algorithm))


@pytest.mark.parametrize("algorithm", list(cr.Algorithm))
def test_issued_credentials_verify_with_all_their_claims(algorithm: cr.Algorithm) -> None:
    key = new_key(algorithm)
    claims = make_claims()
    verified = cr.verify(cr.issue(key, claims), [key.verification_key()], now=NOW)
    assert verified == cr.VerifiedCredential(kid="k1", algorithm=algorithm, claims=claims)


def test_minimal_credential_round_trips() -> None:
    key = new_key(cr.Algorithm.ES256)
    claims = make_claims(
        valid_until=None, schedule=None, door_ids=("d",), key_type=cr.KeyType.ACCESS_MEDIUM
    )
    assert cr.verify(cr.issue(key, claims), [key.verification_key()]).claims == claims


def test_claims_are_deterministic_cbor_in_the_documented_map() -> None:
    key = new_key(cr.Algorithm.EDDSA)
    claims = make_claims()
    token = cr.issue(key, claims)
    # EdDSA is deterministic, so equal claims give equal tokens.
    assert token == cr.issue(key, claims)
    tag = cbor2.loads(token)
    assert tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    assert cbor2.loads(protected) == {1: -8, 4: b"k1"}
    assert unprotected == {}
    assert len(signature) == 64
    # Re-encoding with cbor2's canonical mode gives the same bytes: the payload is sorted.
    decoded = cbor2.loads(payload)
    assert cbor2.dumps(decoded, canonical=True) == payload
    assert decoded == {
        1: "site-zurich-1",
        2: "key-0001",
        4: NOW + 86_400 * 365,
        5: NOW,
        6: NOW,
        7: bytes(range(16)),
        -65537: ["door-entrance", "door-unit-12"],
        -65538: ["Europe/Zurich", [[0b0011111, 420, 1140], [0b0100000, 540, 720]]],
        -65539: 1,
        -65540: "holder-42",
    }


def test_rotation_old_kid_verifies_until_removed() -> None:
    old, new = new_key(cr.Algorithm.ES256, "2026-01"), new_key(cr.Algorithm.ES256, "2026-07")
    token = cr.issue(old, make_claims())
    trusted = [new.verification_key(), old.verification_key()]
    assert cr.verify(token, trusted).kid == "2026-01"
    with pytest.raises(errors.UnknownKeyId):
        cr.verify(token, [new.verification_key()])


def test_wrong_key_under_the_same_kid_is_a_bad_signature() -> None:
    token = cr.issue(new_key(cr.Algorithm.EDDSA), make_claims())
    with pytest.raises(errors.BadSignature):
        cr.verify(token, [new_key(cr.Algorithm.EDDSA).verification_key()])


def test_token_algorithm_must_be_the_kids_algorithm() -> None:
    token = cr.issue(new_key(cr.Algorithm.EDDSA), make_claims())
    with pytest.raises(errors.UnexpectedAlgorithm):
        cr.verify(token, [new_key(cr.Algorithm.ES256).verification_key()])


def test_every_single_bit_flip_is_rejected() -> None:
    key = new_key(cr.Algorithm.EDDSA)
    token = cr.issue(key, make_claims())
    for i in range(len(token)):
        for bit in (0x01, 0x80):
            tampered = bytearray(token)
            tampered[i] ^= bit
            with pytest.raises(errors.CredentialError):
                cr.verify(bytes(tampered), [key.verification_key()])


def test_validity_window_is_checked_when_asked() -> None:
    key = new_key(cr.Algorithm.EDDSA)
    claims = make_claims()
    assert claims.valid_until is not None
    token = cr.issue(key, claims)
    keys = [key.verification_key()]
    cr.verify(token, keys)
    cr.verify(token, keys, now=claims.valid_until - 1)
    with pytest.raises(errors.CredentialExpired):
        cr.verify(token, keys, now=claims.valid_until)
    with pytest.raises(errors.CredentialNotYetValid):
        cr.verify(token, keys, now=claims.valid_from - 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"credential_id": b"short"}, "credential_id"),
        ({"credential_id": "not bytes"}, "credential_id"),
        ({"valid_until": NOW}, "valid_until"),
        ({"valid_from": -1}, "valid_from"),
        ({"door_ids": ()}, "door_ids"),
        ({"door_ids": ("a", "a")}, "door_ids[1]"),
        ({"site_id": ""}, "site_id"),
        ({"holder_ref": "x" * 129}, "holder_ref"),
        ({"key_type": "phone"}, "key_type"),
        ({"issued_at": "yesterday"}, "issued_at"),
        (
            {
                "schedule": cr.CredentialSchedule(
                    "Europe/Zurich", (cr.ScheduleWindow(("mo",), 0, 60),)
                )
            },
            "schedule.windows[0].days",
        ),
        (
            {
                "schedule": cr.CredentialSchedule(
                    "Europe/Zurich", (cr.ScheduleWindow(("mon",), 60, 60),)
                )
            },
            "schedule.windows[0].start_minute",
        ),
        (
            {
                "schedule": cr.CredentialSchedule(
                    "Europe/Zurich", (cr.ScheduleWindow(("mon",), 0, 1441),)
                )
            },
            "schedule.windows[0].end_minute",
        ),
        (
            {"schedule": cr.CredentialSchedule("", (cr.ScheduleWindow(("mon",), 0, 60),))},
            "schedule.time_zone",
        ),
        ({"schedule": cr.CredentialSchedule("UTC", ())}, "schedule.windows"),
    ],
)
def test_bad_claims_raise_invalid_input_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.InvalidInput) as raised:
        cr.issue(new_key(cr.Algorithm.EDDSA), make_claims(**changes))
    assert raised.value.field == field
    assert field in str(raised.value)


def test_bad_key_material_and_algorithm_names() -> None:
    with pytest.raises(errors.InvalidKeyMaterial):
        cr.SigningKey.from_pkcs8("ES256", "k1", b"\x30\x03\x02\x01\x00")
    ed = cr.generate_signing_key("EdDSA")
    with pytest.raises(errors.InvalidKeyMaterial):
        cr.SigningKey.from_pkcs8("ES256", "k1", ed)
    with pytest.raises(errors.InvalidInput) as raised:
        cr.generate_signing_key("RS256")
    assert raised.value.field == "algorithm"
    with pytest.raises(errors.InvalidInput) as raised:
        cr.VerificationKey("ES256", "k1", b"\x04" + bytes(10))
    assert raised.value.field == "public_key"
    with pytest.raises(errors.InvalidInput) as raised:
        cr.SigningKey.from_pkcs8("EdDSA", "", ed)
    assert raised.value.field == "kid"


def test_key_reprs_show_the_kid_and_never_key_material() -> None:
    pkcs8 = cr.generate_signing_key("EdDSA")
    key = cr.SigningKey.from_pkcs8("EdDSA", "site-2026", pkcs8)
    door = cr.DoorKey("doors-1", bytes(range(32)))
    text = f"{key!r} {door!r} {key.verification_key()!r}"
    assert "site-2026" in text
    assert "doors-1" in text
    assert pkcs8.hex() not in text
    assert pkcs8[-32:].hex() not in text


def test_batch_equals_one_by_one_and_checks_everything_first() -> None:
    key = new_key(cr.Algorithm.EDDSA)
    batch = [make_claims(credential_id=bytes([i]) * 16) for i in range(40)]
    tokens = cr.issue_batch(key, batch)
    assert tokens == [cr.issue(key, c) for c in batch]
    assert cr.issue_batch(key, batch, parallel=False) == tokens
    assert cr.issue_batch(key, []) == []
    batch[17] = make_claims(door_ids=())
    with pytest.raises(errors.InvalidInput) as raised:
        cr.issue_batch(key, batch)
    assert raised.value.field == "claims[17].door_ids"


def test_es256_batch_verifies() -> None:
    key = new_key(cr.Algorithm.ES256)
    batch = [make_claims(credential_id=bytes([i]) * 16) for i in range(20)]
    for claims, token in zip(batch, cr.issue_batch(key, batch), strict=True):
        assert cr.verify(token, [key.verification_key()]).claims == claims


def test_batch_signing_releases_the_interpreter() -> None:
    """While one thread signs a long batch, another thread keeps running Python."""
    key = new_key(cr.Algorithm.ES256)
    batch = [make_claims()] * 3000
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        started = time.perf_counter()
        cr.issue_batch(key, batch, parallel=False)
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        counter.join()
    # Holding the GIL for the whole batch would leave the counter at a handful of ticks
    # (one switch interval is 5 ms); released, it spins freely.
    assert ticks > max(50, int(elapsed / 0.005) * 4)


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "credentials.json").read_text())
    return data


def claims_from_json(c: dict[str, Any]) -> cr.CredentialClaims:
    schedule = c["schedule"]
    return cr.CredentialClaims(
        site_id=c["site_id"],
        key_id=c["key_id"],
        credential_id=bytes.fromhex(c["credential_id"]),
        issued_at=c["issued_at"],
        valid_from=c["valid_from"],
        valid_until=c["valid_until"],
        door_ids=tuple(c["door_ids"]),
        key_type=cr.KeyType(c["key_type"]),
        holder_ref=c["holder_ref"],
        schedule=None
        if schedule is None
        else cr.CredentialSchedule(
            schedule["time_zone"],
            tuple(
                cr.ScheduleWindow(tuple(w["days"]), w["start_minute"], w["end_minute"])
                for w in schedule["windows"]
            ),
        ),
    )


VECTOR_DATA = load_vectors()


@pytest.mark.parametrize("case", VECTOR_DATA["cases"], ids=lambda c: c["name"])
def test_credential_vectors(case: dict[str, Any]) -> None:
    keys = [
        cr.VerificationKey(k["algorithm"], k["kid"], bytes.fromhex(k["public_key"]))
        for k in VECTOR_DATA["trusted_keys"]
    ]
    token = bytes.fromhex(case["token"])
    if case["expect"] == "valid":
        verified = cr.verify(token, keys, now=case["now"])
        if "claims" in case:
            expected = claims_from_json(case["claims"])
            assert verified.claims == expected
            signer = next(k for k in VECTOR_DATA["trusted_keys"] if k["kid"] == case["kid"])
            key = cr.SigningKey.from_pkcs8(
                signer["algorithm"], signer["kid"], bytes.fromhex(signer["pkcs8"])
            )
            ours = cr.issue(key, expected)
            assert cbor2.loads(ours).value[2].hex() == case["claims_cbor"]
            if case["keyworker_issues_exactly"]:
                assert ours == token
    else:
        expected_error = getattr(errors, case["expect"])
        with pytest.raises(expected_error):
            cr.verify(token, keys, now=case["now"])


def test_every_rejection_class_has_a_vector() -> None:
    expected = {case["expect"] for case in VECTOR_DATA["cases"]}
    assert {
        "BadSignature",
        "UnexpectedAlgorithm",
        "UnknownCriticalHeader",
        "UnknownKeyId",
        "CredentialExpired",
        "CredentialNotYetValid",
        "InvalidCredential",
    } <= expected
