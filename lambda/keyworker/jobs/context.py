"""What a job may use (its own module, so that job kinds defined elsewhere — the bulk
revocation run's — need not import the registry that lists them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyworker.domain.ports import DoorCommands

if TYPE_CHECKING:
    from keyworker.domain.services import Services


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job may use: the domain services (wired to the real outside world in the
    worker), the door-commands port, and anything a later job kind needs (``extras``)."""

    services: Services
    door_commands: DoorCommands
    extras: Mapping[str, Any] = field(default_factory=dict)
