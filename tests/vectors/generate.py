"""Write the credential and door-update test vectors, independently of keyworker.

Everything here is built with cbor2 (deterministic mode), cryptography (Ed25519, ECDSA P-256
with RFC 6979 deterministic nonces, HKDF) and the standard library's hmac and zoneinfo (the
door decisions), following RFC 8392, RFC 9052 and docs/credential-format.md, never with
keyworker's own code. So when the Rust and
Python tests check keyworker against these files, two implementations of the format meet.

Run from the repository root: ``.venv/bin/python tests/vectors/generate.py``. The output is
deterministic (fixed keys, deterministic signatures), so re-running changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).parent

# COSE / CWT labels (RFC 9052, RFC 8392) and keyworker's private claims (docs).
ALG, CRIT, KID = 1, 2, 4
ISS, SUB, EXP, NBF, IAT, CTI = 1, 2, 4, 5, 6, 7
DOOR_IDS, SCHEDULE, KEY_TYPE, HOLDER_REF = -65537, -65538, -65539, -65540
ES256, EDDSA, ES384, HMAC_256_64, HMAC_256_256 = -7, -8, -35, 4, 5
TAG_SIGN1, TAG_MAC0 = 18, 17
# Door-update payload: field 0 is the format; format 1 is a payload without it.
DOOR_FORMAT, DOOR_ID, FROM_VERSION, TO_VERSION, ENTRIES = 0, 1, 2, 3, 4
DOOR_UPDATE_FORMAT = 2
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
KEY_TYPES = {"access_medium": 0, "digital_key": 1}


def enc(value: Any) -> bytes:
    return cbor2.dumps(value, canonical=True)


def pkcs8(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ED_OTHER = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
P256_KEY = ec.derive_private_key(
    0x1F2E3D4C5B6A79880123456789ABCDEF00112233445566778899AABBCCDDEEFF, ec.SECP256R1()
)


def public_raw(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


KEYS = {
    "site-ed-2026-01": ("EdDSA", ED_KEY),
    "site-es-2026-01": ("ES256", P256_KEY),
}


def sign(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    der = key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def claims_map(c: dict[str, Any]) -> dict[int, Any]:
    m: dict[int, Any] = {
        ISS: c["site_id"],
        SUB: c["key_id"],
        NBF: c["valid_from"],
        IAT: c["issued_at"],
        CTI: bytes.fromhex(c["credential_id"]),
        DOOR_IDS: c["door_ids"],
        KEY_TYPE: KEY_TYPES[c["key_type"]],
        HOLDER_REF: c["holder_ref"],
    }
    if c["valid_until"] is not None:
        m[EXP] = c["valid_until"]
    if c["schedule"] is not None:
        m[SCHEDULE] = schedule_value(c["schedule"])
    return m


def schedule_value(schedule: dict[str, Any]) -> list[Any]:
    """``[time_zone, [[weekday_mask, start, end], ...]]``, Monday = bit 0."""
    windows = [
        [sum(1 << WEEKDAYS.index(d) for d in w["days"]), w["start_minute"], w["end_minute"]]
        for w in schedule["windows"]
    ]
    return [schedule["time_zone"], windows]


def sign1(
    payload: bytes,
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    protected: dict[int, Any],
    unprotected: dict[int, Any] | None = None,
    tagged: bool = True,
) -> bytes:
    protected_bytes = enc(protected)
    tbs = enc(["Signature1", protected_bytes, b"", payload])
    body = [protected_bytes, unprotected or {}, payload, sign(key, tbs)]
    return enc(cbor2.CBORTag(TAG_SIGN1, body) if tagged else body)


FULL = {
    "site_id": "site-zurich-1",
    "key_id": "key-0001",
    "credential_id": "00112233445566778899aabbccddeeff",
    "issued_at": 1767225600,
    "valid_from": 1767225600,
    "valid_until": 1798761600,
    "door_ids": ["door-entrance", "door-unit-12"],
    "schedule": {
        "time_zone": "Europe/Zurich",
        "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start_minute": 420, "end_minute": 1140},
            {"days": ["sat"], "start_minute": 540, "end_minute": 720},
        ],
    },
    "key_type": "digital_key",
    "holder_ref": "holder-42",
}
MINIMAL = {
    "site_id": "s",
    "key_id": "k",
    "credential_id": "ff" * 16,
    "issued_at": 0,
    "valid_from": 0,
    "valid_until": None,
    "door_ids": ["d"],
    "schedule": None,
    "key_type": "access_medium",
    "holder_ref": "h",
}


def credential_vectors() -> dict[str, Any]:
    ed_kid, es_kid = b"site-ed-2026-01", b"site-es-2026-01"
    full = enc(claims_map(FULL))
    ed_header = {ALG: EDDSA, KID: ed_kid}
    ed_token = sign1(full, ED_KEY, ed_header)
    flipped_payload = bytearray(ed_token)
    flipped_payload[ed_token.index(b"holder-42")] ^= 0x01  # 'h' -> 'i': still valid CBOR
    flipped_signature = bytearray(ed_token)
    flipped_signature[-1] ^= 0x80
    cases: list[dict[str, Any]] = [
        {
            "name": "eddsa_full",
            "claims": FULL,
            "kid": "site-ed-2026-01",
            "token": ed_token.hex(),
            "claims_cbor": full.hex(),
            "now": FULL["valid_from"],
            "expect": "valid",
            "keyworker_issues_exactly": True,
        },
        {
            "name": "eddsa_minimal_no_schedule_no_exp",
            "claims": MINIMAL,
            "kid": "site-ed-2026-01",
            "token": sign1(enc(claims_map(MINIMAL)), ED_KEY, ed_header).hex(),
            "claims_cbor": enc(claims_map(MINIMAL)).hex(),
            "now": 4102444800,
            "expect": "valid",
            "keyworker_issues_exactly": True,
        },
        {
            "name": "es256_full",
            "claims": FULL,
            "kid": "site-es-2026-01",
            "token": sign1(full, P256_KEY, {ALG: ES256, KID: es_kid}).hex(),
            "claims_cbor": full.hex(),
            "now": None,
            "expect": "valid",
            # ECDSA signatures are randomized in ring: only the signed bytes can match.
            "keyworker_issues_exactly": False,
        },
        {
            "name": "valid_from_is_inclusive",
            "token": ed_token.hex(),
            "now": FULL["valid_from"],
            "expect": "valid",
        },
        {
            "name": "tampered_payload",
            "token": bytes(flipped_payload).hex(),
            "expect": "BadSignature",
        },
        {
            "name": "tampered_signature",
            "token": bytes(flipped_signature).hex(),
            "expect": "BadSignature",
        },
        {
            "name": "signed_by_another_key_under_trusted_kid",
            "token": sign1(full, ED_OTHER, ed_header).hex(),
            "expect": "BadSignature",
        },
        {
            "name": "alg_of_another_key_type",
            "token": sign1(full, ED_KEY, {ALG: ES256, KID: ed_kid}).hex(),
            "expect": "UnexpectedAlgorithm",
        },
        {
            "name": "alg_es384",
            "token": sign1(full, ED_KEY, {ALG: ES384, KID: ed_kid}).hex(),
            "expect": "UnexpectedAlgorithm",
        },
        {
            "name": "alg_hmac_on_a_signature",
            "token": sign1(full, ED_KEY, {ALG: HMAC_256_256, KID: ed_kid}).hex(),
            "expect": "UnexpectedAlgorithm",
        },
        {
            "name": "alg_missing",
            "token": sign1(full, ED_KEY, {KID: ed_kid}).hex(),
            "expect": "UnexpectedAlgorithm",
        },
        {
            "name": "unknown_critical_header",
            "token": sign1(
                full, ED_KEY, {ALG: EDDSA, CRIT: [-70000], KID: ed_kid, -70000: 1}
            ).hex(),
            "expect": "UnknownCriticalHeader",
        },
        {
            "name": "unknown_kid",
            "token": sign1(full, ED_KEY, {ALG: EDDSA, KID: b"site-ed-2025-01"}).hex(),
            "expect": "UnknownKeyId",
        },
        {
            "name": "expired_at_exp",
            "token": ed_token.hex(),
            "now": FULL["valid_until"],
            "expect": "CredentialExpired",
        },
        {
            "name": "not_yet_valid",
            "token": ed_token.hex(),
            "now": FULL["valid_from"] - 1,
            "expect": "CredentialNotYetValid",
        },
        {
            "name": "untagged_sign1",
            "token": sign1(full, ED_KEY, ed_header, tagged=False).hex(),
            "expect": "InvalidCredential",
        },
        {"name": "not_cbor", "token": "ff00ff", "expect": "InvalidCredential"},
        {"name": "empty", "token": "", "expect": "InvalidCredential"},
        {
            "name": "signed_payload_is_not_a_claims_set",
            "token": sign1(enc([1, 2, 3]), ED_KEY, ed_header).hex(),
            "expect": "InvalidCredential",
        },
        {
            "name": "signed_claims_missing_door_ids",
            "token": sign1(
                enc({k: v for k, v in claims_map(FULL).items() if k != DOOR_IDS}), ED_KEY, ed_header
            ).hex(),
            "expect": "InvalidCredential",
        },
        {
            "name": "alg_in_unprotected_header",
            "token": sign1(full, ED_KEY, {KID: ed_kid}, unprotected={ALG: EDDSA}).hex(),
            "expect": "InvalidCredential",
        },
    ]
    for case in cases:
        case.setdefault("now", None)
    return {
        "description": "Key credentials (CWT in COSE_Sign1), written by tests/vectors/generate.py"
        " with cbor2 and cryptography. Every token is checked against all trusted keys.",
        "trusted_keys": [
            {
                "kid": kid,
                "algorithm": alg,
                "pkcs8": pkcs8(key).hex(),
                "public_key": public_raw(key).hex(),
            }
            for kid, (alg, key) in KEYS.items()
        ],
        "cases": cases,
    }


def door_secret(master: bytes, site_id: str, door_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"keyworker door key v1",
        info=site_id.encode() + b"\x00" + door_id.encode(),
    ).derive(master)


def mac0(payload: bytes, secret: bytes, protected: dict[int, Any]) -> bytes:
    protected_bytes = enc(protected)
    tag = hmac.new(secret, enc(["MAC0", protected_bytes, b"", payload]), hashlib.sha256).digest()
    return enc(cbor2.CBORTag(TAG_MAC0, [protected_bytes, {}, payload, tag]))


def entry_value(change: dict[str, Any]) -> list[Any]:
    op = change["op"]
    subject = bytes.fromhex(change["subject"])
    if op == 0:
        entry = [op, subject, change["valid_from"], change["valid_until"]]
        if change["schedule"] is not None:
            entry.append(schedule_value(change["schedule"]))
        return entry
    return [op, subject]


def door_payload(update: dict[str, Any], *, door_format: int | None = DOOR_UPDATE_FORMAT) -> bytes:
    """The payload map; ``door_format=None`` writes format 1 (no field 0)."""
    m: dict[int, Any] = {
        DOOR_ID: update["door_id"],
        FROM_VERSION: update["from_version"],
        TO_VERSION: update["to_version"],
        ENTRIES: [entry_value(c) for c in update["changes"]],
    }
    if door_format is not None:
        m[DOOR_FORMAT] = door_format
    return enc(m)


def door_decision(held: dict[str, Any], instant: int) -> str:
    """The door rule of docs/credential-format.md, on the standard library's zoneinfo."""
    if instant < held["valid_from"]:
        return "not_yet_valid"
    if held["valid_until"] is not None and instant >= held["valid_until"]:
        return "expired"
    schedule = held["schedule"]
    if schedule is None:
        return "admit"
    local = datetime.fromtimestamp(instant, ZoneInfo(schedule["time_zone"]))
    day, minute = WEEKDAYS[local.weekday()], local.hour * 60 + local.minute
    inside = any(
        day in w["days"] and w["start_minute"] <= minute < w["end_minute"]
        for w in schedule["windows"]
    )
    return "admit" if inside else "outside_schedule"


def door_update_vectors() -> dict[str, Any]:
    master = bytes(range(100, 132))
    site_id, door_id = "site-zurich-1", "door-unit-12"
    secret = door_secret(master, site_id, door_id)
    kid = "doors-2026-01"
    saturday_nine_to_ten = {
        "time_zone": "Europe/Zurich",
        "windows": [
            {"days": ["sat"], "start_minute": 540, "end_minute": 600},
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start_minute": 1110, "end_minute": 1440},
        ],
    }
    none = {"valid_from": None, "valid_until": None, "schedule": None}
    changes = [
        {
            "op": 0,
            "subject": "00112233445566778899aabbccddeeff",
            "valid_from": 1767225600,
            "valid_until": 1798761600,
            "schedule": None,
        },
        {
            "op": 0,
            "subject": "10" * 16,
            "valid_from": 1767225600,
            "valid_until": None,
            "schedule": None,
        },
        {"op": 1, "subject": "20" * 16, **none},
        {"op": 2, "subject": "30" * 16, **none},
        {"op": 3, "subject": "40" * 16, **none},
        {
            "op": 0,
            "subject": "50" * 16,
            "valid_from": 1767225600,
            "valid_until": 1798761600,
            "schedule": saturday_nine_to_ten,
        },
    ]
    update = {"door_id": door_id, "from_version": 4, "to_version": 7, "changes": changes}
    payload = door_payload(update)
    header = {ALG: HMAC_256_256, KID: kid.encode()}
    message = mac0(payload, secret, header)
    tampered = bytearray(message)
    tampered[message.index(b"door-unit-12")] ^= 0x01
    sizes = {
        "add_with_exp": len(enc(entry_value(changes[0]))),
        "add_open_ended": len(enc(entry_value(changes[1]))),
        "remove": len(enc(entry_value(changes[2]))),
        "block": len(enc(entry_value(changes[3]))),
        "unblock": len(enc(entry_value(changes[4]))),
        "add_with_schedule_two_windows": len(enc(entry_value(changes[5]))),
    }
    # Format 1: what doors read before schedules existed (no field 0, no schedule slot).
    format_1_update = {**update, "changes": changes[:5]}
    format_1 = door_payload(format_1_update, door_format=None)
    unknown_zone = {
        **changes[5],
        "schedule": {**saturday_nine_to_ten, "time_zone": "Europe/Atlantis"},
    }

    # The door's decision on the scheduled card: Saturday 2026-01-03 (Zurich at UTC+1),
    # Saturday 2026-07-04 (UTC+2, summer time) and the edges of the validity.
    held = changes[5]
    saturday_nine = 1767427200  # 2026-01-03T08:00:00Z = 09:00 in Zurich
    summer_saturday_nine = 1783148400  # 2026-07-04T07:00:00Z = 09:00 in Zurich
    instants = [
        saturday_nine - 1,
        saturday_nine,
        saturday_nine + 3599,
        saturday_nine + 3600,
        saturday_nine + 86400,  # Sunday 09:00
        saturday_nine + 86400 * 2 + 3600 * 9 + 1800,  # Monday 18:30
        saturday_nine + 86400 * 2 + 3600 * 9 + 1799,  # Monday 18:29:59
        saturday_nine + 86400 * 2 + 3600 * 14 + 3599,  # Monday 23:59:59
        summer_saturday_nine - 3600,  # 08:00 local in summer: the winter offset would admit
        summer_saturday_nine,
        1767225600 - 7 * 86400 + 3600 * 8 + 1800 - 86400 * 4,  # a Saturday before validity
        1798761600,  # validity ended (exclusive)
        1798761600 - 1,
    ]
    decisions = [
        {
            "valid_from": held["valid_from"],
            "valid_until": held["valid_until"],
            "schedule": held["schedule"],
            "instant": t,
            "expect": door_decision(held, t),
        }
        for t in instants
    ] + [
        {**changes[1], "instant": t, "expect": door_decision(changes[1], t)}
        for t in (1767225600 - 1, 1767225600, saturday_nine - 1, 4102444800)
    ]
    for d in decisions:
        d.pop("op", None)
        d.pop("subject", None)
    return {
        "description": "Door updates (CBOR in COSE_Mac0, HMAC 256/256), written by"
        " tests/vectors/generate.py with cbor2, hmac and cryptography's HKDF; door decisions"
        " with zoneinfo.",
        "door_master": {"kid": kid, "secret": master.hex()},
        "site_id": site_id,
        "door_id": door_id,
        "door_secret": secret.hex(),
        "format": DOOR_UPDATE_FORMAT,
        "entry_sizes": sizes,
        "encode": [
            {
                "name": "all_change_kinds",
                "update": update,
                "blocklist_len": 10,
                "payload": payload.hex(),
                "message": message.hex(),
                "expect": "valid",
            },
            {
                "name": "blocklist_would_overflow",
                "update": {**update, "changes": [changes[3], {**changes[3], "subject": "31" * 16}]},
                "blocklist_len": 65534,
                "expect": "BlocklistFull",
            },
            {
                "name": "schedule_in_an_unknown_time_zone",
                "update": {**update, "changes": [unknown_zone]},
                "blocklist_len": 0,
                "expect": "InvalidInput",
            },
        ],
        "open": [
            {"name": "valid", "message": message.hex(), "expect": "valid", "format": 2},
            {
                "name": "format_1_without_schedules",
                "message": mac0(format_1, secret, header).hex(),
                "expect": "valid",
                "format": 1,
                "update": format_1_update,
            },
            {
                "name": "read_by_a_door_that_knows_only_format_1",
                "message": message.hex(),
                "newest_format": 1,
                "expect": "UnsupportedFormat",
            },
            {
                "name": "format_3",
                "message": mac0(
                    enc({**cbor2.loads(payload), DOOR_FORMAT: 3}), secret, header
                ).hex(),
                "expect": "UnsupportedFormat",
            },
            {
                "name": "format_3_with_an_unknown_entry",
                "message": mac0(
                    enc({**cbor2.loads(payload), DOOR_FORMAT: 3, ENTRIES: [[9, b"x"]]}),
                    secret,
                    header,
                ).hex(),
                "expect": "UnsupportedFormat",
            },
            {
                "name": "format_1_entry_with_a_schedule",
                "message": mac0(door_payload(update, door_format=None), secret, header).hex(),
                "expect": "InvalidCredential",
            },
            {
                "name": "format_1_written_as_field_0",
                "message": mac0(door_payload(format_1_update, door_format=1), secret, header).hex(),
                "expect": "InvalidCredential",
            },
            {
                "name": "schedule_in_an_unknown_time_zone",
                "message": mac0(
                    door_payload({**update, "changes": [unknown_zone]}), secret, header
                ).hex(),
                "expect": "InvalidCredential",
            },
            {
                "name": "schedule_window_ends_after_midnight",
                "message": mac0(
                    door_payload(
                        {
                            **update,
                            "changes": [
                                {
                                    **changes[5],
                                    "schedule": {
                                        "time_zone": "UTC",
                                        "windows": [
                                            {"days": ["sat"], "start_minute": 0, "end_minute": 1441}
                                        ],
                                    },
                                }
                            ],
                        }
                    ),
                    secret,
                    header,
                ).hex(),
                "expect": "InvalidCredential",
            },
            {
                "name": "tampered_payload",
                "message": bytes(tampered).hex(),
                "expect": "BadSignature",
            },
            {
                "name": "wrong_door_secret",
                "message": mac0(
                    payload, door_secret(master, site_id, "door-entrance"), header
                ).hex(),
                "expect": "BadSignature",
            },
            {
                "name": "unknown_kid",
                "message": mac0(payload, secret, {ALG: HMAC_256_256, KID: b"doors-2025"}).hex(),
                "expect": "UnknownKeyId",
            },
            {
                "name": "truncated_mac_algorithm",
                "message": mac0(payload, secret, {ALG: HMAC_256_64, KID: kid.encode()}).hex(),
                "expect": "UnexpectedAlgorithm",
            },
            {
                "name": "unknown_critical_header",
                "message": mac0(
                    payload,
                    secret,
                    {ALG: HMAC_256_256, CRIT: [-70000], KID: kid.encode(), -70000: 0},
                ).hex(),
                "expect": "UnknownCriticalHeader",
            },
            {
                "name": "payload_not_a_door_update",
                "message": mac0(enc({1: door_id}), secret, header).hex(),
                "expect": "InvalidCredential",
            },
        ],
        "decisions": decisions,
    }


def main() -> None:
    for name, data in [
        ("credentials.json", credential_vectors()),
        ("door_updates.json", door_update_vectors()),
    ]:
        (HERE / name).write_text(json.dumps(data, indent=2) + "\n")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
