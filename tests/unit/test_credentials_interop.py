"""Independent cross-check: pycose (a maintained COSE library) verifies keyworker's credentials,
and keyworker verifies credentials that pycose signed. The claim map comes from cbor2."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pycose.algorithms import EdDSA, Es256
from pycose.headers import KID, Algorithm
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P256, Ed25519
from pycose.messages import Sign1Message

from keyworker import credentials as cr
from keyworker import errors

NOW = 1_767_225_600


def claims() -> cr.CredentialClaims:
    return cr.CredentialClaims(
        site_id="site-zurich-1",
        key_id="key-0042",
        credential_id=bytes(range(16, 32)),
        issued_at=NOW,
        valid_from=NOW,
        valid_until=NOW + 3600,
        door_ids=("door-entrance", "door-garage"),
        key_type=cr.KeyType.DIGITAL_KEY,
        holder_ref="holder-7",
        schedule=cr.CredentialSchedule(
            "Europe/Zurich", (cr.ScheduleWindow(("sat", "sun"), 0, 1440),)
        ),
    )


def claims_map(c: cr.CredentialClaims) -> dict[int, Any]:
    """The documented claim map, written out here (docs/credential-format.md)."""
    assert c.schedule is not None
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {
        1: c.site_id,
        2: c.key_id,
        4: c.valid_until,
        5: c.valid_from,
        6: c.issued_at,
        7: c.credential_id,
        -65537: list(c.door_ids),
        -65538: [
            c.schedule.time_zone,
            [
                [sum(1 << days.index(d) for d in w.days), w.start_minute, w.end_minute]
                for w in c.schedule.windows
            ],
        ],
        -65539: 1,
        -65540: c.holder_ref,
    }


def pycose_key(algorithm: cr.Algorithm, pkcs8: bytes) -> OKPKey | EC2Key:
    private = serialization.load_der_private_key(pkcs8, password=None)
    if algorithm is cr.Algorithm.EDDSA:
        assert isinstance(private, ed25519.Ed25519PrivateKey)
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return OKPKey(crv=Ed25519, x=public, d=raw)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    numbers = private.private_numbers()
    return EC2Key(
        crv=P256,
        x=numbers.public_numbers.x.to_bytes(32, "big"),
        y=numbers.public_numbers.y.to_bytes(32, "big"),
        d=numbers.private_value.to_bytes(32, "big"),
    )


COSE_ALG = {cr.Algorithm.EDDSA: EdDSA, cr.Algorithm.ES256: Es256}


def pycose_decode(token: bytes) -> Sign1Message:
    """``Sign1Message.decode`` with cbor2 >= 6: that cbor2 hands a tag's array over as a tuple,
    and maps as frozendicts, which pycose 1.1's ``decode`` does not accept; so do its two steps
    here (check the tag, then pycose's own ``from_cose_obj``) with plain containers."""
    tagged = cbor2.loads(token)
    assert tagged.tag == 18
    protected, unprotected, payload, signature = tagged.value
    message = Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)
    assert isinstance(message, Sign1Message)
    return message


@pytest.mark.parametrize("algorithm", list(cr.Algorithm))
def test_pycose_verifies_keyworker_credentials(algorithm: cr.Algorithm) -> None:
    pkcs8 = cr.generate_signing_key(algorithm)
    key = cr.SigningKey.from_pkcs8(algorithm, "site-2026-01", pkcs8)
    token = cr.issue(key, claims())

    message = pycose_decode(token)
    message.key = pycose_key(algorithm, pkcs8)
    assert message.verify_signature()
    assert message.phdr[Algorithm] is COSE_ALG[algorithm]
    assert message.phdr[KID] == b"site-2026-01"
    assert cbor2.loads(message.payload) == claims_map(claims())

    # And pycose notices tampering too: the check above is not vacuous.
    tampered = pycose_decode(token)
    tampered.payload = message.payload.replace(b"holder-7", b"holder-8")
    tampered.key = pycose_key(algorithm, pkcs8)
    assert not tampered.verify_signature()


@pytest.mark.parametrize("algorithm", list(cr.Algorithm))
def test_keyworker_verifies_pycose_credentials(algorithm: cr.Algorithm) -> None:
    pkcs8 = cr.generate_signing_key(algorithm)
    ours = cr.SigningKey.from_pkcs8(algorithm, "site-2026-01", pkcs8)
    message = Sign1Message(
        phdr={Algorithm: COSE_ALG[algorithm], KID: b"site-2026-01"},
        payload=cbor2.dumps(claims_map(claims())),
    )
    message.key = pycose_key(algorithm, pkcs8)
    token = message.encode()

    verified = cr.verify(token, [ours.verification_key()], now=NOW)
    assert verified.claims == claims()
    assert verified.algorithm is algorithm
    assert verified.kid == "site-2026-01"

    other = cr.SigningKey.from_pkcs8(algorithm, "site-2026-01", cr.generate_signing_key(algorithm))
    with pytest.raises(errors.BadSignature):
        cr.verify(token, [other.verification_key()])


def test_pycose_token_with_an_unknown_critical_header_is_refused() -> None:
    pkcs8 = cr.generate_signing_key(cr.Algorithm.EDDSA)
    ours = cr.SigningKey.from_pkcs8("EdDSA", "k", pkcs8)
    message = Sign1Message(
        phdr={Algorithm: EdDSA, KID: b"k", 2: [-70001], -70001: True},
        payload=cbor2.dumps(claims_map(claims())),
    )
    message.key = pycose_key(cr.Algorithm.EDDSA, pkcs8)
    with pytest.raises(errors.UnknownCriticalHeader):
        cr.verify(message.encode(), [ours.verification_key()])
