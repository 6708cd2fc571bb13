"""Every domain service over one engine: :func:`build_services`, once per composition root."""

from __future__ import annotations

from dataclasses import dataclass

from keyworker.domain.doors import DoorService
from keyworker.domain.engine import Engine
from keyworker.domain.key_service import KeyService
from keyworker.domain.phone_blocking import PhoneService
from keyworker.domain.pipeline import KeyPipeline
from keyworker.domain.ports import Ports
from keyworker.domain.queries import KeyQueries
from keyworker.domain.site_views import SiteViews
from keyworker.domain.time_boundaries import TimeService


@dataclass(frozen=True, slots=True)
class Services:
    """Every domain service, sharing one engine (and so one set of ports)."""

    doors: DoorService
    keys: KeyService
    phones: PhoneService
    time: TimeService
    queries: KeyQueries
    pipeline: KeyPipeline
    sites: SiteViews


def build_services(ports: Ports) -> Services:
    engine = Engine(ports)
    pipeline = KeyPipeline(engine)
    return Services(
        doors=DoorService(engine, pipeline),
        keys=KeyService(engine, pipeline),
        phones=PhoneService(engine, pipeline),
        time=TimeService(engine, pipeline),
        queries=KeyQueries(engine),
        pipeline=pipeline,
        sites=SiteViews(engine),
    )


__all__ = ["Services", "build_services"]
