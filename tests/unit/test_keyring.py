"""The Secrets Manager keyring against moto's Secrets Manager and KMS: loading once per
container, the cache's time to live, rotation by kid, retirement, and broken key material."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from keyworker import credentials as cr
from keyworker import errors
from keyworker.adapters.secrets_keyring import KeyCache, SecretsManagerKeyring, verify_for_site

REGION = "eu-central-1"
NOW = 1_767_225_600


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


class Counted:
    """A Secrets Manager client whose GetSecretValue calls are counted (botocore event hook)."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager", region_name=REGION)
        self.reads = 0
        self.client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)

    def _count(self, **_: Any) -> None:
        self.reads += 1


def keyring(clock: FakeClock, ttl: float = 300.0) -> tuple[SecretsManagerKeyring, Counted]:
    counted = Counted()
    return SecretsManagerKeyring(counted.client, cache=KeyCache(ttl, clock)), counted


def claims(credential_id: bytes = bytes(16)) -> cr.CredentialClaims:
    return cr.CredentialClaims(
        site_id="site-1",
        key_id="key-1",
        credential_id=credential_id,
        issued_at=NOW,
        valid_from=NOW,
        valid_until=None,
        door_ids=("door-1",),
        key_type=cr.KeyType.DIGITAL_KEY,
        holder_ref="holder-1",
    )


@pytest.mark.parametrize("algorithm", list(cr.Algorithm))
def test_site_keys_live_in_a_kms_encrypted_secret_and_load_once(
    aws: None, algorithm: cr.Algorithm
) -> None:
    kms_key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
    clock = FakeClock()
    ring, counted = keyring(clock)
    ring.create_site(
        "site-1", algorithm=algorithm, signing_kid="s-1", door_master_kid="d-1", kms_key_id=kms_key
    )
    described = counted.client.describe_secret(SecretId=ring.secret_name("site-1"))
    assert described["KmsKeyId"] == kms_key

    key = ring.signing_key("site-1")
    assert (key.kid, key.algorithm) == ("s-1", algorithm.value)
    token = cr.issue(key, claims())
    assert verify_for_site(ring, "site-1", token, now=NOW).claims == claims()
    door = ring.door_key("site-1", "door-1")
    assert door.kid == "d-1"
    message = cr.encode_door_update(door, cr.DoorUpdate("door-1", 0, 1), blocklist_len=0)
    assert cr.open_door_update(message, ring.door_keys("site-1", "door-1")).kid == "d-1"
    with pytest.raises(errors.BadSignature):
        cr.open_door_update(message, ring.door_keys("site-1", "door-2"))
    assert counted.reads == 1


def test_cache_expires_after_its_ttl(aws: None) -> None:
    clock = FakeClock()
    ring, counted = keyring(clock, ttl=60)
    ring.create_site(
        "site-1", algorithm=cr.Algorithm.EDDSA, signing_kid="s-1", door_master_kid="d-1"
    )
    ring.signing_key("site-1")
    clock.now += 59
    ring.signing_key("site-1")
    assert counted.reads == 1
    clock.now += 1
    ring.signing_key("site-1")
    assert counted.reads == 2


def test_rotation_by_kid_reaches_other_containers(aws: None) -> None:
    clock = FakeClock()
    admin, _ = keyring(clock)
    admin.create_site(
        "site-1", algorithm=cr.Algorithm.ES256, signing_kid="2026-01", door_master_kid="d-1"
    )
    container, counted = keyring(clock)
    old_token = cr.issue(container.signing_key("site-1"), claims(bytes([1]) * 16))

    admin.rotate_signing_key("site-1", new_kid="2026-07")
    new_key = admin.signing_key("site-1")
    assert new_key.kid == "2026-07"
    assert new_key.algorithm == "ES256"
    new_token = cr.issue(new_key, claims(bytes([2]) * 16))

    # The container still trusts only what it cached; an unknown kid re-reads at most once
    # per refresh interval.
    assert counted.reads == 1
    with pytest.raises(errors.UnknownKeyId):
        verify_for_site(container, "site-1", new_token)
    assert counted.reads == 1
    clock.now += 11
    assert verify_for_site(container, "site-1", new_token).kid == "2026-07"
    assert counted.reads == 2
    assert verify_for_site(container, "site-1", old_token).kid == "2026-01"
    assert [k.kid for k in container.verification_keys("site-1")] == ["2026-07", "2026-01"]

    admin.retire_signing_key("site-1", "2026-01")
    clock.now += 301
    with pytest.raises(errors.UnknownKeyId):
        verify_for_site(container, "site-1", old_token)
    secret = json.loads(
        counted.client.get_secret_value(SecretId=admin.secret_name("site-1"))["SecretString"]
    )
    retired = next(k for k in secret["signing"]["keys"] if k["kid"] == "2026-01")
    assert retired["retired"] is True
    assert "pkcs8" not in retired


def test_current_kid_cannot_be_retired_and_kids_are_unique(aws: None) -> None:
    ring, _ = keyring(FakeClock())
    ring.create_site(
        "site-1", algorithm=cr.Algorithm.EDDSA, signing_kid="s-1", door_master_kid="d-1"
    )
    with pytest.raises(errors.InvalidKeyMaterial):
        ring.retire_signing_key("site-1", "s-1")
    with pytest.raises(errors.InvalidKeyMaterial):
        ring.rotate_signing_key("site-1", new_kid="s-1")
    with pytest.raises(errors.UnknownKeyId):
        ring.retire_signing_key("site-1", "s-0")
    with pytest.raises(errors.InvalidKeyMaterial):
        ring.retire_door_master("site-1", "d-1")


def test_door_master_rotation_keeps_old_updates_readable_until_retired(aws: None) -> None:
    ring, _ = keyring(FakeClock())
    ring.create_site(
        "site-1", algorithm=cr.Algorithm.EDDSA, signing_kid="s-1", door_master_kid="d-1"
    )
    old = cr.encode_door_update(
        ring.door_key("site-1", "door-1"), cr.DoorUpdate("door-1", 0, 1), blocklist_len=0
    )
    ring.rotate_door_master("site-1", new_kid="d-2")
    assert ring.door_key("site-1", "door-1").kid == "d-2"
    assert [k.kid for k in ring.door_keys("site-1", "door-1")] == ["d-2", "d-1"]
    assert cr.open_door_update(old, ring.door_keys("site-1", "door-1")).kid == "d-1"
    ring.retire_door_master("site-1", "d-1")
    with pytest.raises(errors.UnknownKeyId):
        cr.open_door_update(old, ring.door_keys("site-1", "door-1"))


def test_missing_and_broken_key_material(aws: None) -> None:
    ring, counted = keyring(FakeClock())
    with pytest.raises(errors.KeyMaterialNotFound):
        ring.signing_key("nowhere")
    name = ring.secret_name("site-1")
    counted.client.create_secret(Name=name, SecretString="not json")
    with pytest.raises(errors.InvalidKeyMaterial):
        ring.signing_key("site-1")
    broken = {
        "signing": {
            "current": "s-1",
            "keys": [{"kid": "s-1", "algorithm": "EdDSA", "pkcs8": "AAAA"}],
        },
        "doors": {"current": "d-1", "masters": [{"kid": "d-1", "secret": "AAAA"}]},
    }
    counted.client.put_secret_value(SecretId=name, SecretString=json.dumps(broken))
    with pytest.raises(errors.InvalidKeyMaterial):
        ring.signing_key("site-1")
    del broken["doors"]
    counted.client.put_secret_value(SecretId=name, SecretString=json.dumps(broken))
    with pytest.raises(errors.InvalidKeyMaterial):
        ring.signing_key("site-1")


def test_key_material_never_reaches_the_logs(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    ring, counted = keyring(FakeClock())
    ring.create_site(
        "site-1", algorithm=cr.Algorithm.EDDSA, signing_kid="s-1", door_master_kid="d-1"
    )
    with caplog.at_level(logging.DEBUG, logger="keyworker"):
        keys = ring.site_keys("site-1")
    secret = json.loads(
        counted.client.get_secret_value(SecretId=ring.secret_name("site-1"))["SecretString"]
    )
    private = secret["signing"]["keys"][0]["pkcs8"]
    master = secret["doors"]["masters"][0]["secret"]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "s-1" in logged
    assert private not in logged
    assert master not in logged
    assert private not in repr(keys)
    assert master not in repr(keys)
    assert repr(base64.b64decode(master)) not in repr(keys)
    assert repr(base64.b64decode(private)) not in repr(keys)
