"""Bearer tokens for the local stack, checked the way API Gateway's JWT authorizer would.

On AWS an identity provider issues the tokens and API Gateway's JWT authorizer checks them;
the api Lambda only reads the verified claims. Locally, `keyworker token` issues HS256 tokens
signed with a secret kept in the state directory, and the local HTTP server verifies them
before it builds the API Gateway event, so the handler sees the same claims in both places.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from keyworker.errors import KeyworkerError

ISSUER = "keyworker-local"
AUDIENCE = "keyworker-api"
SITES_CLAIM = "sites"
_ALGORITHM = "HS256"
_SECRET_FILE = "token-secret"


class InvalidToken(KeyworkerError):
    """A bearer token that is missing, malformed, expired or not signed by this stack."""


@dataclass(frozen=True, slots=True)
class LocalTokenIssuer:
    """Issues and verifies the local stack's bearer tokens."""

    secret: bytes

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> LocalTokenIssuer:
        """The issuer of the stack started from this state directory (secret made once)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / _SECRET_FILE
        if not path.exists():
            # Exclusive create: two processes starting at once agree on one secret.
            try:
                with path.open("xb") as f:
                    f.write(secrets.token_bytes(32))
                path.chmod(0o600)
            except FileExistsError:
                pass
        return cls(secret=path.read_bytes())

    def issue(
        self, sites: Sequence[str], *, ttl_seconds: int = 12 * 3600, subject: str = "local-admin"
    ) -> str:
        if not sites:
            raise ValueError("a token needs at least one site")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_seconds,
            # API Gateway passes JWT claims to Lambda as strings; a space-separated list
            # survives that unchanged, the way OAuth scopes do.
            SITES_CLAIM: " ".join(sites),
        }
        return jwt.encode(claims, self.secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[_ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", SITES_CLAIM]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return claims
