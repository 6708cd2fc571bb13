"""Run an action at most once per message id: dedupe records in the state table, by
Powertools' idempotency utility.

A record is put conditionally (only if absent, or expired) as ``INPROGRESS`` with an
in-progress expiry taken from the Lambda's remaining time, the action runs, and the record
becomes ``COMPLETED`` with the action's result. A repeat within ``expires_after_seconds``
gets the stored result and the action does not run again; a repeat while the first is still
running is refused (:class:`keyworker.errors.DuplicateInProgress`, retried later); an
action that raised deletes its record so a retry runs it. A crash mid-action leaves
``INPROGRESS`` until its expiry, then a retry runs it.

Records live in the single table under ``pk = DEDUPE#<scope>`` and ``sk = <scope>#<sha256 of
the id>``, with the Powertools attributes (``expiration`` is the table's TTL attribute).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from keyworker.domain.ports import Result
from keyworker.errors import DuplicateInProgress

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb.client import DynamoDBClient


# The SQS maximum retention is 14 days: a message can be redelivered (or replayed from a DLQ
# by an operator) for that long, so its record must outlive it.
DEFAULT_EXPIRY_SECONDS = 15 * 24 * 3600


class DynamoDeduplicator:
    """:class:`Deduplicator` on the state table (Powertools idempotency, sort key ``sk``)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        scope: str,
        expires_after_seconds: int = DEFAULT_EXPIRY_SECONDS,
    ) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            hash_function="sha256",
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=f"DEDUPE#{scope}",
            boto3_client=client,
        )
        self._once = idempotent_function(
            self._call,
            data_keyword_argument="message",
            persistence_store=persistence,
            config=self._config,
            key_prefix=scope,
        )

    @staticmethod
    def _call(*, message: Mapping[str, str], action: Callable[[], Result]) -> Result:
        return dict(action())

    def register_lambda_context(self, context: LambdaContext | None) -> None:
        # The in-progress expiry of a record is the invocation's deadline.
        if context is not None:
            self._config.register_lambda_context(context)

    def run(self, message_id: str, action: Callable[[], Result]) -> tuple[Result, bool]:
        ran = False

        def tracked() -> Result:
            nonlocal ran
            ran = True
            return action()

        try:
            result = self._once(message={"id": message_id}, action=tracked)
        except IdempotencyAlreadyInProgressError:
            raise DuplicateInProgress(f"{message_id!r} is being processed") from None
        return result, ran
