"""Bulk revocation runs: start one (202: the worker plans and executes it), follow its progress
and read its report, cancel it (``docs/revocation-runs.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from pydantic import ConfigDict, Field, StrictBool, StrictStr

from keyworker import limits
from keyworker.api._routing import (
    IdInPath,
    header_named,
    json_response,
    new_router,
    request_id,
    responses,
)
from keyworker.api.deps import actor, deps
from keyworker.api.models import ApiModel, Id, Phone
from keyworker.errors import ConfigurationError, InvalidInput
from keyworker.revocation.selectors import TARGETS

if TYPE_CHECKING:
    # Typing only: the service pulls in boto3, which the api Lambda imports on its first
    # request (in its composition root), not at import (cold start).
    from keyworker.revocation.service import RevocationService

router = new_router()
TAGS = ["revocation runs"]

Ids = Annotated[list[Id], Field(min_length=1, max_length=limits.MAX_SELECTOR_IDS)]
Phones = Annotated[list[Phone], Field(min_length=1, max_length=limits.MAX_SELECTOR_IDS)]


class _In(ApiModel):
    model_config = ConfigDict(extra="forbid")


class _Out(ApiModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one_target(schema: dict[str, Any]) -> None:
    # The selector's rule (keyworker.revocation.selectors) stated in the document: one
    # target present and not null; a null target counts as absent.
    schema["oneOf"] = [
        {"required": [target], "properties": {target: {"not": {"type": "null"}}}}
        for target in TARGETS
    ]


class SelectorIn(_In):
    """Exactly one of ``all``, ``door_ids``, ``holder_ids``, ``phones``, ``key_ids``;
    optionally narrowed by ``type`` and by current general ``status``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_target)

    all: Literal[True] | None = Field(default=None, description="Every key of the site.")
    door_ids: Ids | None = Field(default=None, description="Keys with a row at these doors.")
    holder_ids: Ids | None = Field(default=None, description="Keys of these keyholders.")
    phones: Phones | None = Field(default=None, description="Digital keys of these phones.")
    key_ids: Ids | None = Field(default=None, description="These keys.")
    type: Literal["access_medium", "digital_key"] | None = None
    status: list[StrictStr] | None = Field(
        default=None, description="General status codes the keys have now (any of them)."
    )


class RevocationIn(_In):
    selector: SelectorIn
    dry_run: StrictBool = Field(
        default=False, description="Plan only: show what the run would do, change nothing."
    )
    reason: Annotated[StrictStr, Field(max_length=limits.MAX_REASON)] | None = None


class ProgressOut(_Out):
    keys_total: int = Field(description="Keys the run revokes (its chunks' keys).")
    keys_done: int
    chunks_total: int
    chunks_done: int


class CountsOut(_Out):
    revoked: int
    already_revoked: int = Field(description="Revoked before the run reached them: skipped.")
    failed: int = Field(description="Not revoked; the report lists why.")
    cancelled: int = Field(description="Not revoked because the run was cancelled first.")


class DoorWorkOut(_Out):
    door_id: str
    name: str
    kind: Literal["common", "unit"]
    keys: int = Field(description="Keys whose removal the door must apply.")
    changes: int = Field(description="Door versions the run adds (one per chunk with work).")
    pending_changes: int | None = Field(
        default=None, description="Report: door versions still unconfirmed now."
    )
    desired_version: int | None = None
    confirmed_version: int | None = None


class FailureOut(_Out):
    key_id: str
    reason: str


class PlanOut(_Out):
    selected: int
    by_status: dict[str, int] = Field(description="Selected keys by their general status now.")
    by_status_after: dict[str, int]
    to_revoke: int
    already_revoked: int
    cannot_revoke: list[str]
    not_found: list[str]
    complete_at_once: int = Field(description="Keys whose status is revoked right away.")
    digital_keys_waiting_for_app: int
    chunks: int
    online_doors_total: int
    online_doors: list[DoorWorkOut] = Field(description="Updated automatically (online).")
    doors_to_visit_total: int
    door_changes_to_visit: int
    doors_to_visit: list[DoorWorkOut] = Field(description="Offline: need a manual visit.")


class ReportOut(_Out):
    counts: CountsOut
    failures_total: int
    failures: list[FailureOut]
    digital_keys_waiting_for_app: int
    online_doors_total: int
    online_doors: list[DoorWorkOut]
    doors_to_visit_total: int
    doors_to_visit: list[DoorWorkOut]
    exposure: str | None = Field(
        default=None,
        description="Who can still get in, per key and door, since when: the site's exposure "
        "list (GET it; it empties as the doors confirm).",
    )


class RevocationRunOut(_Out):
    run_id: str
    state: Literal["planning", "planned", "running", "cancelling", "cancelled", "done"]
    dry_run: bool
    selector: dict[str, Any]
    reason: str | None
    started_by: str
    created_at: str
    planned_at: str | None
    finished_at: str | None
    progress: ProgressOut
    counts: CountsOut
    plan: PlanOut | None = Field(description="Once planned.")
    report: ReportOut | None = Field(description="Once done or cancelled.")


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        description="Makes the start idempotent: a retry with the same key returns the same "
        "run; the same key with another body is 409.",
    ),
]


def _service() -> RevocationService:
    service = deps(router).revocations
    if service is None:
        raise ConfigurationError("revocation runs are not wired into this API")
    return service


def _run_out(status: int, view: dict[str, Any], site_id: str) -> Response[str]:
    location = f"/v1/sites/{site_id}/revocations/{view['run_id']}"
    if view.get("report") is not None:
        view = {**view, "report": {**view["report"], "exposure": f"/v1/sites/{site_id}/exposure"}}
    return json_response(
        status, RevocationRunOut.model_validate(view), headers={"Location": location}
    )


@router.post(
    "/revocations",
    summary="Start a bulk revocation run (or a dry run that only plans)",
    tags=TAGS,
    responses=responses(202, RevocationRunOut, "Accepted: the worker plans and executes it."),
)
def start_revocation(
    site_id: str,
    run: Annotated[RevocationIn, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[str]:
    service = _service()
    try:
        started = service.start(
            site_id,
            run.selector.model_dump(exclude_none=True),
            actor=actor(router),
            dry_run=run.dry_run,
            reason=run.reason,
            request_id=request_id(idempotency_key),
        )
    except InvalidInput as error:
        raise header_named(error) from error
    return _run_out(202, service.get(site_id, started.run_id), site_id)


@router.get(
    "/revocations/<run_id>",
    summary="A revocation run: progress, plan, and its report once finished",
    tags=TAGS,
    responses=responses(200, RevocationRunOut, "The run now."),
)
def get_revocation(site_id: str, run_id: IdInPath) -> Response[str]:
    return _run_out(200, _service().get(site_id, run_id), site_id)


@router.post(
    "/revocations/<run_id>/cancel",
    summary="Cancel a revocation run: chunks not started revoke nothing",
    tags=TAGS,
    responses=responses(202, RevocationRunOut, "Accepted: cancelling (or cancelled)."),
)
def cancel_revocation(site_id: str, run_id: IdInPath) -> Response[str]:
    service = _service()
    service.cancel(site_id, run_id)
    return _run_out(202, service.get(site_id, run_id), site_id)
