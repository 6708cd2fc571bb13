"""Phone numbers of keyholders: normalised to E.164, indexed by a keyed hash, masked in logs.

A phone number is personal data. keyworker stores it normalised (E.164, by the
``phonenumbers`` library, never by hand-written parsing) on the digital keys that need it for
delivery, but every index and every item key uses an HMAC-SHA256 of it under a secret key that
is injected (from Secrets Manager on AWS), so the table's keys reveal no number and cannot be
reversed by hashing all numbers of a country. Logs only ever see :func:`mask`.
"""

from __future__ import annotations

import hashlib
import hmac

from keyworker import limits
from keyworker.errors import InvalidPhoneNumber

PHONE_FIELD = "phone"
# Shorter secrets would make the keyed hash guessable by brute force over the number space.
MIN_SECRET_BYTES = 16


def normalize(raw: str, *, default_region: str | None = None, field: str = PHONE_FIELD) -> str:
    """The E.164 form of ``raw`` (``+41791234567``); raises :class:`InvalidPhoneNumber`.

    Without ``default_region`` (ISO 3166 code of the site's country) only international
    numbers (starting with ``+``) are accepted. Arabic-Indic digits are the same digits
    (``phonenumbers`` normalises them); letters and extensions are refused.
    """
    # phonenumbers (~40 ms to import, its metadata) is loaded by the two functions that parse
    # a number, not with this module: most requests and jobs never parse one (cold start).
    import phonenumbers

    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumber("a phone number is required", field=field)
    # phonenumbers also reads letters (vanity numbers, "ext. 12"); keyworker takes only the
    # characters of limits.PHONE_PATTERN, the same as the API documents.
    if len(raw) > limits.MAX_PHONE_LEN or not limits.matches(limits.PHONE_RE, raw):
        raise InvalidPhoneNumber(
            f"must be {limits.PHONE_RULE}, at most {limits.MAX_PHONE_LEN} characters",
            field=field,
        )
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(f"not a phone number: {error}", field=field) from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("not a valid phone number", field=field) from None
    # E.164 has no extension: a key delivered to the bare number would reach the wrong phone.
    if parsed.extension:
        raise InvalidPhoneNumber(
            "a phone number with an extension is not a mobile number", field=field
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(e164: str) -> str:
    """A form safe for logs: country calling code and the last two digits (``+41*******67``)."""
    if not e164.startswith("+") or len(e164) < 6:
        return "+***"
    import phonenumbers  # deferred, as in normalize (cold start)

    try:
        country_code = str(phonenumbers.parse(e164, None).country_code)
    except phonenumbers.NumberParseException:
        return "+***"
    hidden = len(e164) - 1 - len(country_code) - 2
    return f"+{country_code}{'*' * max(hidden, 0)}{e164[-2:]}"


class PhoneHasher:
    """Keyed hash of E.164 numbers: the only form of a phone number used as a key or index."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the phone hash secret must have at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret

    def hash(self, e164: str) -> str:
        """Hex HMAC-SHA256 of the E.164 number."""
        return hmac.new(self._secret, e164.encode("ascii"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # the secret must never reach a log line through repr()
        return "PhoneHasher(<secret>)"
