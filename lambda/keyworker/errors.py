"""Every error keyworker raises on purpose.

The native core raises these classes by name (see ``rust/keyworker-py/src/errors.rs``), so a
caller catches the same types whether a rule was checked in Rust or in Python.
"""

from typing import Any


class KeyworkerError(Exception):
    """Base of keyworker's own errors."""


class InvalidInput(KeyworkerError, ValueError):
    """Input that breaks a documented rule; ``field`` names what is wrong when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidKeyData(InvalidInput):
    """Facts of a key that cannot be evaluated (unknown codes, validity window reversed, ...)."""


class InvalidSchedule(InvalidKeyData):
    """A schedule out of range: unknown weekday, minutes outside 0..1440, start not before end."""


class InvalidModification(InvalidInput):
    """A key modification that cannot be planned: no door left (that is a revocation, not a
    modification), a door listed twice, or a door row that is no longer a door of the key."""


class InvalidBulkInput(InvalidInput):
    """Columnar bulk input whose arrays disagree (lengths, offsets out of range)."""


class IllegalTransition(KeyworkerError):
    """An event that the status model does not allow in the current state; nothing changed."""


class InvalidEvent(InvalidInput):
    """A field event (CloudEvents envelope or its data) that is malformed."""


class UnknownEventType(InvalidEvent):
    """A field event whose ``type`` keyworker does not handle."""


class InvalidPhoneNumber(InvalidInput):
    """A phone number that cannot be parsed or is not a valid number (E.164 normalisation)."""


class NotFound(KeyworkerError, LookupError):
    """A referenced thing (key, door, ...) does not exist at the site; ``field`` names it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class KeyNotFound(NotFound):
    """No key with this id exists at the site."""


class DoorNotFound(NotFound):
    """No door with this id exists at the site (it may exist at another site)."""


class Conflict(KeyworkerError):
    """The request conflicts with the stored state; nothing changed."""


class ConcurrentUpdate(Conflict):
    """A conditional write lost to a concurrent one (optimistic locking); retry with fresh state.
    ``current``: the item as the write found it, when the store got it back with the failure
    (a retry need not read it again); None when it did not."""

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


class IdempotencyConflict(Conflict):
    """An idempotency key was reused for a different request."""


class KeyRevoked(Conflict):
    """The command needs a key that is not revoked (a revoked key cannot be modified)."""


class SiteTooLarge(Conflict):
    """The site holds more keys than a whole-site view (summary, exposure) reads."""


class DuplicateInProgress(Conflict):
    """A message or event with this id is being processed right now; retry later."""


class StoreError(KeyworkerError):
    """The state store failed in a way that is not about the request (missing table, ...)."""


class StoreUnavailable(StoreError):
    """The state store throttled or was unreachable after the client's own retries; retry later."""


# --- credentials and door updates (raised by keyworker_core::credential) ---


class InvalidKeyMaterial(KeyworkerError):
    """Stored key material that cannot be used (not PKCS#8, wrong curve, too short)."""


class KeyMaterialNotFound(KeyworkerError):
    """The keyring holds no signing key or door master secret for this site."""


class CredentialError(KeyworkerError):
    """A credential or door update that must not be trusted; nothing was accepted."""


class InvalidCredential(CredentialError):
    """Bytes that are not a well-formed credential or door update (CBOR, COSE or claims)."""


class BadSignature(CredentialError):
    """The signature of a credential (or the MAC of a door update) does not verify."""


class UnexpectedAlgorithm(CredentialError):
    """The protected ``alg`` is missing, unsupported, or not the algorithm of the kid's key."""


class UnknownCriticalHeader(CredentialError):
    """The protected header marks a parameter critical that keyworker does not understand."""


class UnknownKeyId(CredentialError):
    """No trusted key has this kid: never issued here, or retired."""


class CredentialExpired(CredentialError):
    """The credential's validity window has ended (``exp`` at or before now)."""


class CredentialNotYetValid(CredentialError):
    """The credential's validity window has not started (``nbf`` after now)."""


class UnsupportedFormat(CredentialError):
    """A door update in a format newer than the reader (a door's firmware) knows; refused whole,
    never applied in part."""


class BlocklistFull(KeyworkerError):
    """The door update would take a door's blocklist past its limit; nothing was encoded."""


# --- the HTTP API's callers (raised by keyworker.api.auth) ---


class NotAuthenticated(KeyworkerError):
    """The request carries no verified identity (no token, or no claims from the authorizer)."""


class SiteForbidden(KeyworkerError):
    """The caller's token does not grant the site in the path; says nothing about the site."""


# --- jobs and the outside world (raised by keyworker.jobs and keyworker.adapters) ---


class ConfigurationError(KeyworkerError):
    """A Lambda's environment lacks a setting it needs, or holds one that is malformed."""


class InvalidJob(InvalidInput):
    """A jobs-queue message that is not a job keyworker can run (malformed JSON or fields)."""


class UnknownJobKind(InvalidJob):
    """A job whose ``kind`` is not registered with the worker."""


class GatewayError(KeyworkerError):
    """An outside system (queue, mobile-access cloud, door commands) did not take a request."""


class JobQueueUnavailable(GatewayError):
    """A job could not be put on the jobs queue; the state change is written, a retry of the
    same request (same idempotency key) finishes the work."""


class DoorCommandsUnavailable(GatewayError):
    """A door update could not be put on the door-commands queue; the job is retried."""


class MobileAccessUnavailable(GatewayError):
    """The mobile-access cloud did not answer, or answered 5xx/429 after the client's retries."""


class MobileAccessRejected(GatewayError):
    """The mobile-access cloud refused a request (4xx): retrying the same request cannot help."""


# --- bulk revocation runs (raised by keyworker.revocation) ---


class InvalidSelector(InvalidInput):
    """A revocation run's selector that is malformed or names what the site does not have."""


class RunNotFound(NotFound):
    """No revocation run with this id exists at the site."""


class RunStateConflict(IllegalTransition):
    """The revocation run's state does not allow the command (e.g. cancelling a finished run)."""


# A failure reason shown in the API (``last_error``) is at most this long.
MAX_REASON_LEN = 200


def safe_reason(error: BaseException) -> str:
    """A short reason for a failed job that is safe to show: keyworker's own errors say what
    failed in words written for that (no phone number, no credential); anything else is named
    by its class only, never its message or traceback (they may carry anything)."""
    if isinstance(error, KeyworkerError):
        text = " ".join(str(error).split()) or type(error).__name__
    else:
        text = f"internal error ({type(error).__name__})"
    return text[:MAX_REASON_LEN]
