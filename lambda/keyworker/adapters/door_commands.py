"""Door commands: how an online door gets its update.

The worker encodes what the door must apply now (``DoorService.door_update``: every pending
change, from the key's latest intent, MAC'd under the door's key) and puts it on the
door-commands queue, from which the door's gateway (or IoT bridge) delivers it. A door applies
a version once: sending the same version again is harmless, so sends need no dedupe.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from keyworker.domain.doors import DoorService
from keyworker.domain.models import DoorUpdate
from keyworker.domain.ports import DoorCommands
from keyworker.errors import DoorCommandsUnavailable, safe_reason

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

logger = logging.getLogger(__name__)


def door_command_body(update: DoorUpdate) -> str:
    return json.dumps(
        {
            "site_id": update.site_id,
            "door_id": update.door_id,
            "from_version": update.confirmed_version,
            "version": update.version,
            "payload": base64.urlsafe_b64encode(update.payload).decode().rstrip("="),
        },
        separators=(",", ":"),
    )


class SqsDoorCommands:
    """:class:`DoorCommands` on the door-commands SQS queue."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, update: DoorUpdate) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=door_command_body(update),
                MessageAttributes={
                    "site_id": {"DataType": "String", "StringValue": update.site_id},
                    "door_id": {"DataType": "String", "StringValue": update.door_id},
                },
            )
        except (ClientError, BotoCoreError) as error:
            raise DoorCommandsUnavailable(
                f"could not send door {update.door_id} its update {update.version}"
            ) from error


def sync_door(
    doors: DoorService, commands: DoorCommands, site_id: str, door_id: str, version: int
) -> int | None:
    """Send an online door what it must apply now, if it still has work up to at least
    ``version``; returns the version sent (None: nothing to send — the door is offline now,
    has confirmed that version already, or its next version is still in flight)."""
    door = doors.get_door(site_id, door_id)
    if not door.online or door.confirmed_version >= version or door.pending_changes <= 0:
        return None
    update = doors.door_update(site_id, door_id, door=door)
    if update.version <= door.confirmed_version:
        # Its next version is still in flight (docs/data-model.md): that version's writer asks
        # for the sync again once its change is written.
        return None
    try:
        commands.send(update)
    except Exception as error:
        # Shown as last_error on the rows waiting at this door until it confirms.
        doors.note_failure(site_id, door_id, safe_reason(error))
        raise
    logger.info(
        "door update sent",
        extra={
            "site_id": site_id,
            "door_id": door_id,
            "from_version": update.confirmed_version,
            "version": update.version,
            "entries": len(update.entries),
        },
    )
    return update.version


class DoorCommandsGateway:
    """The domain's ``DoorGateway`` in the worker: a sync request sends the update at once.

    ``doors`` is given late (:meth:`bind`) because the door service is built from the ports
    this gateway is one of.
    """

    def __init__(self, commands: DoorCommands) -> None:
        self._commands = commands
        self._doors: Callable[[], DoorService] | None = None

    def bind(self, doors: Callable[[], DoorService]) -> None:
        self._doors = doors

    def request_sync(self, site_id: str, door_id: str, version: int) -> None:
        if self._doors is None:
            raise RuntimeError("DoorCommandsGateway used before bind()")
        sync_door(self._doors(), self._commands, site_id, door_id, version)
