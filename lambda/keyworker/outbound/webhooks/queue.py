"""The webhook delivery queue (SQS): one message per (subscription, event) attempt."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from keyworker.outbound.webhooks.model import DeliveryMessage

#: SQS holds a message back at most 15 minutes; a longer wait is a chain of these.
MAX_DELAY_SECONDS = 900
_BATCH = 10


def delay_for(not_before: float, now: float) -> int:
    return max(0, min(MAX_DELAY_SECONDS, math.ceil(not_before - now)))


class SqsDeliveryQueue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.url = url

    def send(self, message: DeliveryMessage, delay_seconds: int = 0) -> None:
        self._client.send_message(
            QueueUrl=self.url,
            MessageBody=json.dumps(message.to_json(), separators=(",", ":")),
            DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
        )

    def send_many(self, messages: Sequence[DeliveryMessage]) -> None:
        for start in range(0, len(messages), _BATCH):
            part = messages[start : start + _BATCH]
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(m.to_json(), separators=(",", ":"))}
                for i, m in enumerate(part)
            ]
            response = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = response.get("Failed") or []
            for failure in failed:
                # Send the refused ones one by one (a throttled entry); an error raises.
                self.send(part[int(failure["Id"])])
