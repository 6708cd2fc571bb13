import time
from pathlib import Path

import jwt
import pytest

from keyworker.local.tokens import InvalidToken, LocalTokenIssuer


def test_token_round_trips_its_sites(tmp_path: Path) -> None:
    issuer = LocalTokenIssuer.for_state_dir(tmp_path)
    claims = issuer.verify(issuer.issue(["site-a", "site-b"]))
    assert claims["sites"] == "site-a site-b"
    assert claims["exp"] > time.time()


def test_same_state_dir_shares_one_secret(tmp_path: Path) -> None:
    token = LocalTokenIssuer.for_state_dir(tmp_path).issue(["s"])
    assert LocalTokenIssuer.for_state_dir(tmp_path).verify(token)["sites"] == "s"


def test_token_of_another_stack_is_rejected(tmp_path: Path) -> None:
    token = LocalTokenIssuer.for_state_dir(tmp_path / "a").issue(["s"])
    with pytest.raises(InvalidToken):
        LocalTokenIssuer.for_state_dir(tmp_path / "b").verify(token)


def test_expired_tampered_and_unsigned_tokens_are_rejected(tmp_path: Path) -> None:
    issuer = LocalTokenIssuer.for_state_dir(tmp_path)
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(issuer.issue(["s"], ttl_seconds=-10))
    header, _payload, signature = issuer.issue(["s"]).split(".")
    forged_payload = jwt.utils.base64url_encode(b'{"sites":"other"}').decode()
    with pytest.raises(InvalidToken):
        issuer.verify(f"{header}.{forged_payload}.{signature}")
    unsigned = jwt.encode({"sites": "s", "sub": "x"}, key=None, algorithm="none")
    with pytest.raises(InvalidToken):
        issuer.verify(unsigned)


def test_a_token_needs_a_site(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="site"):
        LocalTokenIssuer.for_state_dir(tmp_path).issue([])
