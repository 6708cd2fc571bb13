"""Every error keyworker raises on purpose.

The native core raises these classes by name (see ``rust/keyworker-py/src/errors.rs``), so a
caller catches the same types whether a rule was checked in Rust or in Python.
"""


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
    """A conditional write lost to a concurrent one (optimistic locking); retry with fresh state."""


class IdempotencyConflict(Conflict):
    """An idempotency key was reused for a different request."""


class StoreError(KeyworkerError):
    """The state store failed in a way that is not about the request (missing table, ...)."""


class StoreUnavailable(StoreError):
    """The state store throttled or was unreachable after the client's own retries; retry later."""
