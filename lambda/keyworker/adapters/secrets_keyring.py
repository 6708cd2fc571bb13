"""Site signing keys and door keys: the keyring port and its Secrets Manager implementation.

Each site has one secret, ``{prefix}/sites/{site_id}/credential-keys``, encrypted at rest by KMS
(the account's default key or the one given at creation). Its JSON holds:

- ``signing``: the site's credential signing keys (PKCS#8, base64), one of them ``current``;
  older kids keep verifying until they are retired (``"retired": true``, kept for the record)
  or removed;
- ``doors``: the site's door master secrets (base64), one ``current``; a door's own MAC key is
  derived from a master by the core (HKDF-SHA256 over site and door id), under the master's kid.

A :class:`SecretsManagerKeyring` reads a site's secret once and keeps the parsed keys for
``cache_ttl`` seconds, so a Lambda container (which builds the keyring once, in its
composition root) calls Secrets Manager about once per site per TTL, and a rotation reaches
every container within one TTL. Private key bytes live only inside the native key objects and
the secret itself: they are never logged, and no repr shows them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from keyworker.credentials import (
    Algorithm,
    DoorKey,
    SigningKey,
    VerificationKey,
    VerifiedCredential,
    derive_door_secret,
    generate_signing_key,
    verify,
)
from keyworker.domain.ports import Keyring
from keyworker.errors import InvalidKeyMaterial, KeyMaterialNotFound, UnknownKeyId

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = logging.getLogger(__name__)

SECRET_FORMAT_VERSION = 1
DOOR_MASTER_BYTES = 32
DEFAULT_CACHE_TTL_SECONDS = 300.0
# An unknown kid may mean a rotation this container has not seen yet; re-reading the secret
# at most this often keeps a flood of forged kids from turning into a flood of API calls.
MIN_REFRESH_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class SiteKeys:
    """A site's parsed key material. ``repr`` shows kids only."""

    site_id: str
    signing_key: SigningKey
    verification_keys: tuple[VerificationKey, ...]
    door_master_kid: str
    door_masters: Mapping[str, bytes] = field(repr=False)

    def door_key(self, door_id: str, kid: str | None = None) -> DoorKey:
        kid = self.door_master_kid if kid is None else kid
        master = self.door_masters.get(kid)
        if master is None:
            raise UnknownKeyId(f"site {self.site_id} has no door master {kid!r}")
        return DoorKey(kid, derive_door_secret(master, self.site_id, door_id))

    def door_keys(self, door_id: str) -> tuple[DoorKey, ...]:
        kids = [self.door_master_kid, *(k for k in self.door_masters if k != self.door_master_kid)]
        return tuple(self.door_key(door_id, kid) for kid in kids)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidKeyMaterial(f"{where} must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidKeyMaterial(f"{where} is not base64") from error


def parse_site_keys(site_id: str, document: Mapping[str, Any]) -> SiteKeys:
    """Turn a site's secret document into key objects; any defect is ``InvalidKeyMaterial``."""
    try:
        signing = document["signing"]
        doors = document["doors"]
        current_kid = signing["current"]
        keys: list[SigningKey] = []
        for entry in signing["keys"]:
            if entry.get("retired", False):
                continue
            keys.append(
                SigningKey.from_pkcs8(
                    entry["algorithm"],
                    entry["kid"],
                    _unb64(entry["pkcs8"], f"signing key {entry['kid']!r}"),
                )
            )
        masters = {
            entry["kid"]: _unb64(entry["secret"], f"door master {entry['kid']!r}")
            for entry in doors["masters"]
            if not entry.get("retired", False)
        }
        door_kid = doors["current"]
    except (KeyError, TypeError, AttributeError) as error:
        raise InvalidKeyMaterial(
            f"key secret of site {site_id} is incomplete: {error!r}"
        ) from error
    by_kid = {k.kid: k for k in keys}
    if current_kid not in by_kid:
        raise InvalidKeyMaterial(f"site {site_id}: current signing kid {current_kid!r} is missing")
    if door_kid not in masters:
        raise InvalidKeyMaterial(f"site {site_id}: current door master {door_kid!r} is missing")
    current = by_kid[current_kid]
    return SiteKeys(
        site_id=site_id,
        signing_key=current,
        verification_keys=(
            current.verification_key(),
            *(k.verification_key() for k in keys if k.kid != current_kid),
        ),
        door_master_kid=door_kid,
        door_masters=masters,
    )


@dataclass(slots=True)
class _Cached:
    keys: SiteKeys
    loaded_at: float


class KeyCache:
    """Parsed site keys with a time to live; the clock is injected so tests need not wait."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, site_id: str) -> SiteKeys | None:
        with self._lock:
            cached = self._entries.get(site_id)
        if cached is None or self._clock() - cached.loaded_at >= self._ttl:
            return None
        return cached.keys

    def age(self, site_id: str) -> float | None:
        with self._lock:
            cached = self._entries.get(site_id)
        return None if cached is None else self._clock() - cached.loaded_at

    def put(self, keys: SiteKeys) -> None:
        with self._lock:
            self._entries[keys.site_id] = _Cached(keys, self._clock())

    def drop(self, site_id: str) -> None:
        with self._lock:
            self._entries.pop(site_id, None)


class SecretsManagerKeyring:
    """:class:`Keyring` over one Secrets Manager secret per site, cached per container."""

    def __init__(
        self,
        client: SecretsManagerClient,
        *,
        prefix: str = "keyworker",
        cache: KeyCache | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")
        self._cache = cache if cache is not None else KeyCache(DEFAULT_CACHE_TTL_SECONDS)

    def secret_name(self, site_id: str) -> str:
        return f"{self._prefix}/sites/{site_id}/credential-keys"

    # ------------------------------------------------------------------ reading (Keyring)

    def site_keys(self, site_id: str, *, refresh: bool = False) -> SiteKeys:
        cached = None if refresh else self._cache.get(site_id)
        if cached is not None:
            return cached
        keys = parse_site_keys(site_id, self._read(site_id))
        self._cache.put(keys)
        logger.info(
            "loaded credential keys",
            extra={
                "site_id": site_id,
                "signing_kid": keys.signing_key.kid,
                "trusted_kids": [k.kid for k in keys.verification_keys],
                "door_master_kid": keys.door_master_kid,
            },
        )
        return keys

    def signing_key(self, site_id: str) -> SigningKey:
        return self.site_keys(site_id).signing_key

    def verification_keys(
        self, site_id: str, *, refresh: bool = False
    ) -> tuple[VerificationKey, ...]:
        if refresh:
            age = self._cache.age(site_id)
            # Re-read only if the cached copy is not itself fresh.
            refresh = age is None or age >= MIN_REFRESH_INTERVAL_SECONDS
        return self.site_keys(site_id, refresh=refresh).verification_keys

    def door_key(self, site_id: str, door_id: str) -> DoorKey:
        return self.site_keys(site_id).door_key(door_id)

    def door_keys(self, site_id: str, door_id: str) -> tuple[DoorKey, ...]:
        return self.site_keys(site_id).door_keys(door_id)

    # ------------------------------------------------------------ provisioning, rotation

    def create_site(
        self,
        site_id: str,
        *,
        algorithm: Algorithm,
        signing_kid: str,
        door_master_kid: str,
        kms_key_id: str | None = None,
    ) -> None:
        """Create the site's secret with a fresh signing key and door master."""
        document = {
            "format": SECRET_FORMAT_VERSION,
            "signing": {
                "current": signing_kid,
                "keys": [_new_signing_entry(algorithm, signing_kid)],
            },
            "doors": {
                "current": door_master_kid,
                "masters": [_new_door_master_entry(door_master_kid)],
            },
        }
        name = self.secret_name(site_id)
        secret = json.dumps(document)
        if kms_key_id is None:
            self._client.create_secret(Name=name, SecretString=secret)
        else:
            self._client.create_secret(Name=name, SecretString=secret, KmsKeyId=kms_key_id)
        self._cache.drop(site_id)

    def rotate_signing_key(
        self, site_id: str, *, new_kid: str, algorithm: Algorithm | None = None
    ) -> None:
        """Make a fresh key current; the previous ones keep verifying until retired."""
        document = self._read(site_id)
        signing = document["signing"]
        if any(entry["kid"] == new_kid for entry in signing["keys"]):
            raise InvalidKeyMaterial(f"site {site_id} already has signing kid {new_kid!r}")
        if algorithm is None:
            current = next(e for e in signing["keys"] if e["kid"] == signing["current"])
            algorithm = Algorithm(current["algorithm"])
        signing["keys"].append(_new_signing_entry(algorithm, new_kid))
        signing["current"] = new_kid
        self._write(site_id, document)

    def retire_signing_key(self, site_id: str, kid: str) -> None:
        """Stop trusting ``kid``: credentials it signed no longer verify."""
        document = self._read(site_id)
        signing = document["signing"]
        if signing["current"] == kid:
            raise InvalidKeyMaterial(f"kid {kid!r} is current for site {site_id}; rotate first")
        found = [entry for entry in signing["keys"] if entry["kid"] == kid]
        if not found:
            raise UnknownKeyId(f"site {site_id} has no signing kid {kid!r}")
        for entry in found:
            entry["retired"] = True
            # Keep the entry for the record, not the private key.
            entry.pop("pkcs8", None)
        self._write(site_id, document)

    def rotate_door_master(self, site_id: str, *, new_kid: str) -> None:
        """Make a fresh door master current; doors accept both until the old one is retired."""
        document = self._read(site_id)
        doors = document["doors"]
        if any(entry["kid"] == new_kid for entry in doors["masters"]):
            raise InvalidKeyMaterial(f"site {site_id} already has door master {new_kid!r}")
        doors["masters"].append(_new_door_master_entry(new_kid))
        doors["current"] = new_kid
        self._write(site_id, document)

    def retire_door_master(self, site_id: str, kid: str) -> None:
        document = self._read(site_id)
        doors = document["doors"]
        if doors["current"] == kid:
            raise InvalidKeyMaterial(f"door master {kid!r} is current for site {site_id}")
        before = len(doors["masters"])
        doors["masters"] = [entry for entry in doors["masters"] if entry["kid"] != kid]
        if len(doors["masters"]) == before:
            raise UnknownKeyId(f"site {site_id} has no door master {kid!r}")
        self._write(site_id, document)

    # ------------------------------------------------------------------------ storage

    def _read(self, site_id: str) -> dict[str, Any]:
        name = self.secret_name(site_id)
        try:
            response = self._client.get_secret_value(SecretId=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise KeyMaterialNotFound(f"site {site_id} has no credential keys") from error
            raise
        try:
            document = json.loads(response["SecretString"])
        except (KeyError, ValueError) as error:
            raise InvalidKeyMaterial(f"key secret of site {site_id} is not JSON") from error
        if not isinstance(document, dict):
            raise InvalidKeyMaterial(f"key secret of site {site_id} is not a JSON object")
        return document

    def _write(self, site_id: str, document: Mapping[str, Any]) -> None:
        self._client.put_secret_value(
            SecretId=self.secret_name(site_id), SecretString=json.dumps(document)
        )
        self._cache.drop(site_id)


def _new_signing_entry(algorithm: Algorithm, kid: str) -> dict[str, Any]:
    pkcs8 = generate_signing_key(algorithm.value)
    # Fail here, before storing, if the core would not load what it generated.
    SigningKey.from_pkcs8(algorithm.value, kid, pkcs8)
    return {"kid": kid, "algorithm": algorithm.value, "pkcs8": _b64(pkcs8)}


def _new_door_master_entry(kid: str) -> dict[str, Any]:
    return {"kid": kid, "secret": _b64(secrets.token_bytes(DOOR_MASTER_BYTES))}


def verify_for_site(
    keyring: Keyring, site_id: str, token: bytes, *, now: int | None = None
) -> VerifiedCredential:
    """Verify a credential with the site's trusted keys; an unknown kid re-reads the keyring
    once (it may be a rotation this container has not seen yet) before giving up."""
    try:
        return verify(token, keyring.verification_keys(site_id), now=now)
    except UnknownKeyId:
        return verify(token, keyring.verification_keys(site_id, refresh=True), now=now)
