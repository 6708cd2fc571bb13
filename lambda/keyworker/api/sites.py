"""A site at a glance (``GET …/summary``) and who can still get in (``GET …/exposure``):
``docs/http-api.md``, "Site summary" and "Exposure"."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from keyworker.api._routing import json_response, new_router, responses
from keyworker.api.deps import deps
from keyworker.api.models import ExposureOut, SummaryOut
from keyworker.api.wire import exposure_out, summary_out

router = new_router()
TAGS = ["sites"]


@router.get(
    "/summary",
    summary="The site at a glance: counts per status, doors, oldest pending work, runs",
    tags=TAGS,
    responses=responses(200, SummaryOut, "The site's summary, evaluated now."),
)
def summary(site_id: str) -> Response[str]:
    return json_response(200, summary_out(deps(router).services.sites.summary(site_id)))


@router.get(
    "/exposure",
    summary="Keys revoked or blocked in the cloud that a door still accepts",
    tags=TAGS,
    responses=responses(200, ExposureOut, "Per key and door, oldest first."),
)
def exposure(site_id: str) -> Response[str]:
    return json_response(200, exposure_out(deps(router).services.sites.exposure(site_id)))
