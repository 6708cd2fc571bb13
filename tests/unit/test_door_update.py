"""Door-update payloads through the Python facade: round trips, MAC checks, the blocklist
limit, bad input, batches, pycose interop and the shared vectors of door_updates.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from pycose.algorithms import HMAC256
from pycose.headers import KID, Algorithm
from pycose.keys import SymmetricKey
from pycose.messages import Mac0Message

from keyworker import credentials as cr
from keyworker import errors

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "door_updates.json").read_text())
NOW = 1_767_225_600
SECRET = bytes(range(32))


SATURDAY_NINE_TO_TEN = cr.CredentialSchedule(
    "Europe/Zurich", (cr.ScheduleWindow(("sat",), 540, 600),)
)


def cid(n: int) -> bytes:
    return bytes([n]) * 16


def all_kinds() -> tuple[cr.DoorChange, ...]:
    return (
        cr.DoorChange.add_credential(cid(1), NOW, NOW + 3600),
        cr.DoorChange.add_credential(cid(2), NOW, None),
        cr.DoorChange.remove_credential(cid(3)),
        cr.DoorChange.block_phone(cid(4)),
        cr.DoorChange.unblock_phone(cid(5)),
        cr.DoorChange.add_credential(cid(6), NOW, None, SATURDAY_NINE_TO_TEN),
    )


def update(*changes: cr.DoorChange, door_id: str = "door-unit-12") -> cr.DoorUpdate:
    return cr.DoorUpdate(door_id=door_id, from_version=3, to_version=9, changes=changes)


def test_door_update_round_trips() -> None:
    key = cr.DoorKey("doors-1", SECRET)
    u = update(*all_kinds())
    message = cr.encode_door_update(key, u, blocklist_len=0)
    assert message == cr.encode_door_update(key, u, blocklist_len=0)
    opened = cr.open_door_update(message, [cr.DoorKey("doors-0", bytes(32)), key])
    assert opened == cr.OpenedDoorUpdate(kid="doors-1", update=u)
    assert (
        cr.open_door_update(cr.encode_door_update(key, update(), blocklist_len=0), [key]).update
        == update()
    )


def test_a_door_that_is_up_to_date_gets_the_empty_update() -> None:
    key = cr.DoorKey("doors-1", SECRET)
    empty = cr.DoorUpdate("door-unit-12", 9, 9)
    message = cr.encode_door_update(key, empty, blocklist_len=0)
    assert cr.open_door_update(message, [key]).update == empty


def test_payload_is_the_documented_cbor() -> None:
    message = cr.encode_door_update(
        cr.DoorKey("doors-1", SECRET), update(*all_kinds()), blocklist_len=0
    )
    tagged = cbor2.loads(message)
    assert tagged.tag == 17
    protected, _, payload, tag = tagged.value
    assert cbor2.loads(protected) == {1: 5, 4: b"doors-1"}
    assert len(tag) == 32
    assert cbor2.dumps(cbor2.loads(payload), canonical=True) == payload
    assert cbor2.loads(payload) == {
        0: 2,
        1: "door-unit-12",
        2: 3,
        3: 9,
        4: [
            [0, cid(1), NOW, NOW + 3600],
            [0, cid(2), NOW, None],
            [1, cid(3)],
            [2, cid(4)],
            [3, cid(5)],
            [0, cid(6), NOW, None, ["Europe/Zurich", [[32, 540, 600]]]],
        ],
    }


def test_a_door_that_reads_only_format_1_refuses_a_format_2_update() -> None:
    key = cr.DoorKey("doors-1", SECRET)
    message = cr.encode_door_update(key, update(*all_kinds()), blocklist_len=0)
    assert cr.open_door_update(message, [key]).format == cr.DOOR_UPDATE_FORMAT == 2
    with pytest.raises(errors.UnsupportedFormat, match="format 2 is newer than format 1"):
        cr.open_door_update(message, [key], newest_format=1)


def test_the_door_decision_is_the_cores() -> None:
    # 2026-01-03 is a Saturday; 09:00 in Zurich (UTC+1 in January) is 08:00Z.
    nine = NOW + 2 * 86_400 + 8 * 3600
    decide = cr.door_decision
    assert decide(NOW, None, SATURDAY_NINE_TO_TEN, nine) == cr.DoorDecision.ADMIT
    assert decide(NOW, None, SATURDAY_NINE_TO_TEN, nine + 3600) == "outside_schedule"
    assert decide(NOW, nine, SATURDAY_NINE_TO_TEN, nine) == cr.DoorDecision.EXPIRED
    assert decide(nine + 1, None, None, nine) == cr.DoorDecision.NOT_YET_VALID
    assert decide(NOW, None, None, nine + 3600) == cr.DoorDecision.ADMIT
    with pytest.raises(errors.InvalidInput) as raised:
        decide(NOW, None, cr.CredentialSchedule("Mars/Base", SATURDAY_NINE_TO_TEN.windows), nine)
    assert raised.value.field == "schedule.time_zone"


def test_a_full_phone_hash_is_cut_to_the_16_bytes_the_door_keeps() -> None:
    key = cr.DoorKey("doors-1", SECRET)
    full_hash = bytes(range(32))
    message = cr.encode_door_update(
        key, update(cr.DoorChange.block_phone(full_hash)), blocklist_len=0
    )
    assert cr.open_door_update(message, [key]).update.changes == (
        cr.DoorChange.block_phone(full_hash[:16]),
    )


def test_wrong_key_tampering_and_unknown_kid_are_refused() -> None:
    key = cr.DoorKey("doors-1", SECRET)
    message = cr.encode_door_update(key, update(*all_kinds()), blocklist_len=0)
    with pytest.raises(errors.BadSignature):
        cr.open_door_update(message, [cr.DoorKey("doors-1", bytes(32))])
    with pytest.raises(errors.UnknownKeyId):
        cr.open_door_update(message, [cr.DoorKey("doors-2", SECRET)])
    for i in range(len(message)):
        tampered = bytearray(message)
        tampered[i] ^= 0x04
        with pytest.raises(errors.CredentialError):
            cr.open_door_update(bytes(tampered), [key])


def test_blocklist_limit_counts_entries_in_order() -> None:
    key = cr.DoorKey("doors-1", SECRET)
    assert cr.BLOCKLIST_LIMIT == 65_535
    full = cr.BLOCKLIST_LIMIT
    cr.encode_door_update(key, update(cr.DoorChange.block_phone(cid(1))), blocklist_len=full - 1)
    with pytest.raises(errors.BlocklistFull, match="door-unit-12"):
        cr.encode_door_update(key, update(cr.DoorChange.block_phone(cid(1))), blocklist_len=full)
    # An unblock first makes room for the block after it.
    cr.encode_door_update(
        key,
        update(cr.DoorChange.unblock_phone(cid(2)), cr.DoorChange.block_phone(cid(1))),
        blocklist_len=full,
    )
    with pytest.raises(errors.BlocklistFull):
        cr.encode_door_update(
            key,
            update(cr.DoorChange.block_phone(cid(1)), cr.DoorChange.unblock_phone(cid(2))),
            blocklist_len=full,
        )


@pytest.mark.parametrize(
    ("u", "field"),
    [
        (update(door_id=""), "door_id"),
        (cr.DoorUpdate("d", 5, 4), "to_version"),
        (cr.DoorUpdate("d", 5, 5, (cr.DoorChange.remove_credential(cid(1)),)), "to_version"),
        (update(cr.DoorChange.remove_credential(b"short")), "changes[0].subject"),
        (update(cr.DoorChange.add_credential(cid(1), NOW, NOW)), "changes[0].valid_until"),
        (update(cr.DoorChange.add_credential(cid(1), -5, None)), "changes[0].valid_from"),
        (
            update(cr.DoorChange(cr.ChangeOp.REMOVE_CREDENTIAL, cid(1), NOW)),
            "changes[0].valid_from",
        ),
        (
            update(cr.DoorChange.add_credential(cid(1), NOW, None), cr.DoorChange(9, cid(1))),
            "changes[1].op",
        ),  # type: ignore[arg-type]
        (update(("not", "a", "change")), "changes[0]"),  # type: ignore[arg-type]
        (
            update(
                cr.DoorChange(cr.ChangeOp.REMOVE_CREDENTIAL, cid(1), schedule=SATURDAY_NINE_TO_TEN)
            ),
            "changes[0].schedule",
        ),
        (
            update(
                cr.DoorChange.add_credential(
                    cid(1), NOW, None, cr.CredentialSchedule("Europe/Atlantis", ())
                )
            ),
            "changes[0].schedule.windows",
        ),
        (
            update(
                cr.DoorChange.add_credential(
                    cid(1),
                    NOW,
                    None,
                    cr.CredentialSchedule("Europe/Atlantis", SATURDAY_NINE_TO_TEN.windows),
                )
            ),
            "changes[0].schedule.time_zone",
        ),
        (
            update(
                cr.DoorChange.add_credential(
                    cid(1),
                    NOW,
                    None,
                    cr.CredentialSchedule("UTC", (cr.ScheduleWindow(("sunday",), 0, 60),)),
                )
            ),
            "changes[0].schedule.windows[0].days",
        ),
    ],
)
def test_bad_updates_raise_invalid_input_naming_the_field(u: cr.DoorUpdate, field: str) -> None:
    with pytest.raises(errors.InvalidInput) as raised:
        cr.encode_door_update(cr.DoorKey("doors-1", SECRET), u, blocklist_len=0)
    assert raised.value.field == field


def test_bad_door_keys() -> None:
    with pytest.raises(errors.InvalidInput) as raised:
        cr.DoorKey("doors-1", bytes(31))
    assert raised.value.field == "secret"
    with pytest.raises(errors.InvalidInput) as raised:
        cr.derive_door_secret(bytes(32), "site", "")
    assert raised.value.field == "door_id"


def test_door_secrets_differ_per_door_and_per_master() -> None:
    a = cr.derive_door_secret(bytes(32), "site", "door-a")
    assert len(a) == 32
    assert a == cr.derive_door_secret(bytes(32), "site", "door-a")
    assert a != cr.derive_door_secret(bytes(32), "site", "door-b")
    assert a != cr.derive_door_secret(bytes(32), "site-2", "door-a")
    assert a != cr.derive_door_secret(bytes([1]) * 32, "site", "door-a")


def test_batch_equals_one_by_one() -> None:
    jobs = [
        (cr.DoorKey("doors-1", bytes([i]) * 32), update(*all_kinds(), door_id=f"door-{i}"), i)
        for i in range(30)
    ]
    messages = cr.encode_door_updates(jobs)
    assert messages == [cr.encode_door_update(k, u, blocklist_len=n) for k, u, n in jobs]
    assert cr.encode_door_updates(jobs, parallel=False) == messages
    jobs[12] = (jobs[12][0], cr.DoorUpdate("d", 2, 1), 0)
    with pytest.raises(errors.InvalidInput) as raised:
        cr.encode_door_updates(jobs)
    assert raised.value.field == "updates[12].to_version"


def test_pycose_verifies_keyworker_door_updates_and_back() -> None:
    key = cr.DoorKey("doors-1", SECRET)
    message = cr.encode_door_update(key, update(*all_kinds()), blocklist_len=0)
    tagged = cbor2.loads(message)
    protected, unprotected, payload, tag = tagged.value
    theirs = Mac0Message.from_cose_obj([protected, dict(unprotected), payload, tag], True)
    assert isinstance(theirs, Mac0Message)
    theirs.key = SymmetricKey(k=SECRET)
    assert theirs.verify_tag()

    produced = Mac0Message(phdr={Algorithm: HMAC256, KID: b"doors-1"}, payload=payload)
    produced.key = SymmetricKey(k=SECRET)
    opened = cr.open_door_update(produced.encode(), [key])
    assert opened.update == update(*all_kinds())
    with pytest.raises(errors.BadSignature):
        cr.open_door_update(produced.encode(), [cr.DoorKey("doors-1", bytes(32))])


def schedule_from_json(s: dict[str, Any] | None) -> cr.CredentialSchedule | None:
    if s is None:
        return None
    return cr.CredentialSchedule(
        s["time_zone"],
        tuple(
            cr.ScheduleWindow(tuple(w["days"]), w["start_minute"], w["end_minute"])
            for w in s["windows"]
        ),
    )


def door_update_from_json(u: dict[str, Any]) -> cr.DoorUpdate:
    return cr.DoorUpdate(
        door_id=u["door_id"],
        from_version=u["from_version"],
        to_version=u["to_version"],
        changes=tuple(
            cr.DoorChange(
                cr.ChangeOp(c["op"]),
                bytes.fromhex(c["subject"]),
                c["valid_from"],
                c["valid_until"],
                schedule_from_json(c["schedule"]),
            )
            for c in u["changes"]
        ),
    )


def vector_key() -> cr.DoorKey:
    master = VECTORS["door_master"]
    secret = cr.derive_door_secret(
        bytes.fromhex(master["secret"]), VECTORS["site_id"], VECTORS["door_id"]
    )
    assert secret.hex() == VECTORS["door_secret"]
    return cr.DoorKey(master["kid"], secret)


@pytest.mark.parametrize("case", VECTORS["encode"], ids=lambda c: c["name"])
def test_encode_vectors(case: dict[str, Any]) -> None:
    u = door_update_from_json(case["update"])
    if case["expect"] == "valid":
        assert (
            cr.encode_door_update(vector_key(), u, blocklist_len=case["blocklist_len"]).hex()
            == case["message"]
        )
    else:
        with pytest.raises(getattr(errors, case["expect"])):
            cr.encode_door_update(vector_key(), u, blocklist_len=case["blocklist_len"])


@pytest.mark.parametrize("case", VECTORS["open"], ids=lambda c: c["name"])
def test_open_vectors(case: dict[str, Any]) -> None:
    message = bytes.fromhex(case["message"])
    newest = case.get("newest_format", cr.DOOR_UPDATE_FORMAT)
    if case["expect"] == "valid":
        opened = cr.open_door_update(message, [vector_key()], newest_format=newest)
        expected = case.get("update", VECTORS["encode"][0]["update"])
        assert opened.update == door_update_from_json(expected)
        assert opened.format == case["format"]
    else:
        with pytest.raises(getattr(errors, case["expect"])):
            cr.open_door_update(message, [vector_key()], newest_format=newest)


@pytest.mark.parametrize("case", VECTORS["decisions"], ids=lambda c: str(c["instant"]))
def test_door_decision_vectors(case: dict[str, Any]) -> None:
    """The generator decides with Python's zoneinfo; the core must agree."""
    decision = cr.door_decision(
        case["valid_from"],
        case["valid_until"],
        schedule_from_json(case["schedule"]),
        case["instant"],
    )
    assert decision == case["expect"]


def test_documented_entry_sizes() -> None:
    """docs/credential-format.md promises these sizes; measure them on real payloads."""
    key = cr.DoorKey("doors-1", SECRET)

    def payload_len(*changes: cr.DoorChange) -> int:
        message = cr.encode_door_update(key, update(*changes), blocklist_len=0)
        return len(cbor2.loads(message).value[2])

    empty = payload_len()
    n = 1000
    sizes = {
        "add_with_exp": payload_len(*[cr.DoorChange.add_credential(cid(1), NOW, NOW + 1)] * n),
        "add_open_ended": payload_len(*[cr.DoorChange.add_credential(cid(1), NOW, None)] * n),
        "remove": payload_len(*[cr.DoorChange.remove_credential(cid(1))] * n),
        "block": payload_len(*[cr.DoorChange.block_phone(cid(1))] * n),
    }
    # 1000 entries need a 3-byte array header instead of 1: 2 extra bytes.
    per_entry = {kind: (size - empty - 2) / n for kind, size in sizes.items()}
    assert per_entry == {"add_with_exp": 29, "add_open_ended": 25, "remove": 19, "block": 19}
    assert VECTORS["entry_sizes"]["add_with_exp"] == 29
    # A schedule adds its claim -65538 form: 3 + the time zone's length, and 4 to 9 bytes per
    # window ([32, 540, 600] takes 9: head 1, mask 2, minutes 3 each).
    one_window = payload_len(cr.DoorChange.add_credential(cid(1), NOW, None, SATURDAY_NINE_TO_TEN))
    assert one_window - empty == 25 + 3 + len("Europe/Zurich") + 9
    assert VECTORS["entry_sizes"]["add_with_schedule_two_windows"] == 29 + 3 + 13 + 9 + 9
