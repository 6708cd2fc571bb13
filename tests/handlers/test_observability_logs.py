"""What the Lambdas write to stdout: JSON log lines with correlation ids, EMF metrics — and no
phone number or credential bytes anywhere, through a whole key lifecycle including failures."""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any

import pytest
from handler_harness import PHONE_FORMS, SITE, Stack, cloud_event, iter_json_lines, sqs_event

from keyworker.adapters import observability
from keyworker.handlers import api, events, worker
from keyworker.local.apigw import LambdaContext, build_http_api_event


def lifecycle(stack: Stack) -> dict[str, Any]:
    stack.door("front", connectivity="online", kind="common")
    stack.door("flat-1")
    key = stack.api(
        "POST",
        "/digital-keys",
        {
            "holder_id": "h",
            "phone": "+41 79 123 45 67",
            "door_ids": ["front", "flat-1"],
            "valid_from": "2026-01-05T00:00:00Z",
        },
    ).body
    stack.run_jobs()
    stack.api(
        "POST", "/events", cloud_event("key.delivered", {"site_id": SITE, "key_id": key["key_id"]})
    )
    stack.api("POST", "/phones/+41791234567/block")
    stack.api("POST", "/phones/0791234567/block")  # national form: invalid without a region
    stack.run_jobs()
    stack.api("POST", f"/keys/{key['key_id']}/revoke")
    stack.run_jobs()
    reload = cloud_event("app.key_list_reloaded", {"site_id": SITE, "phone": "+41791234567"})
    stack.send_event(reload)
    stack.drain(stack.events, "events")
    # Failures that carry a phone number in the message body.
    bad_job = {
        "job_id": "b1",
        "kind": "block_phone",
        "params": {"site_id": SITE, "phone": "+41791234567", "actor": "ops", "extra": 1},
    }
    worker.handler(sqs_event([json.dumps(bad_job)], arn=stack.jobs.arn), LambdaContext("w"))
    bad_event = cloud_event(
        "app.key_list_reloaded", {"site_id": SITE, "phone": "+41791234567", "x": 1}
    )
    events.handler(sqs_event([json.dumps(bad_event)], arn=stack.events.arn), LambdaContext("e"))
    stack.api("POST", "/events", bad_event)
    return dict(key)


def test_logs_hold_no_phone_number_or_credential(
    stack: Stack, lambda_output: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # keyworker's own loggers down to DEBUG; libraries at the deployed level (INFO: botocore
    # logs request bodies at DEBUG, as it would for any application).
    caplog.set_level("INFO")
    caplog.set_level("DEBUG", logger="keyworker")
    lifecycle(stack)
    out, err = lambda_output.readouterr()
    captured = out + err + "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    [(_, delivered)] = stack.mobile.delivered()
    credential = delivered["credential"]
    raw = base64.urlsafe_b64decode(credential + "=" * (-len(credential) % 4))
    forbidden = [*PHONE_FORMS, credential, base64.b64encode(raw).decode(), raw.hex()]
    for text in forbidden:
        leaks = [line for line in captured.splitlines() if text in line]
        assert not leaks, f"{text!r} reached the logs: {leaks[:2]}"
    assert "+41*******67" in captured  # masked, it may be logged


def test_log_lines_are_json_with_correlation_ids(
    stack: Stack, lambda_output: pytest.CaptureFixture[str]
) -> None:
    key = lifecycle(stack)
    out, _ = lambda_output.readouterr()
    lines = list(iter_json_lines(out))
    logs = [line for line in lines if "level" in line]
    assert logs
    assert all(line["service"] == "keyworker" for line in logs)
    jobs_done = [line for line in logs if line["message"] == "job done"]
    assert jobs_done
    assert all(line.get("correlation_id") for line in jobs_done)
    # A job made by an API request carries that request's correlation id.
    api_ids = {
        line["correlation_id"] for line in logs if line.get("function_name") == "keyworker-api"
    }
    assert {line["correlation_id"] for line in jobs_done} & api_ids
    failed = [line for line in logs if line["message"].startswith("message failed")]
    assert {line["error"] for line in failed} >= {"InvalidJob", "InvalidEvent"}
    assert key["key_id"]


def test_metrics_are_emf(stack: Stack, lambda_output: pytest.CaptureFixture[str]) -> None:
    lifecycle(stack)
    out, _ = lambda_output.readouterr()
    metrics: dict[str, list[dict[str, Any]]] = {}
    for line in iter_json_lines(out):
        if "_aws" in line:
            assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "keyworker"
            for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                metrics.setdefault(metric["Name"], []).append(line)
    assert metrics["KeysIssued"][0]["key_type"] == "digital_key"
    assert metrics["KeysRevoked"][0]["key_type"] == "digital_key"
    assert {m["queue"] for m in metrics["MessagesFailed"]} == {"jobs", "events"}
    assert "PendingDoorUpdates" not in metrics or all(
        m["mode"] for m in metrics["PendingDoorUpdates"]
    )


def test_last_receive_counts_as_dead_lettered(
    stack: Stack, lambda_output: pytest.CaptureFixture[str]
) -> None:
    event = sqs_event(["{poison"], arn=stack.jobs.arn, receive_count=3)
    result = worker.handler(event, LambdaContext("w"))
    assert len(result["batchItemFailures"]) == 1
    out, _ = lambda_output.readouterr()
    names = [
        metric["Name"]
        for line in iter_json_lines(out)
        if "_aws" in line
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    ]
    assert "MessagesDeadLettered" in names


# ------------------------------------------------ log context: one function, one invocation


def _worker_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") in ("job done", "job already done")]


def test_log_context_does_not_carry_over_to_the_next_function(
    stack: Stack, lambda_output: pytest.CaptureFixture[str]
) -> None:
    # The api function, then the worker in the same process (as the local stack runs them):
    # the worker's line about a message it could not read names the worker and that message,
    # not the API request before it.
    request = build_http_api_event(
        "GET", f"/v1/sites/{SITE}/keys", {}, b"", {"sub": "admin-1", "sites": SITE}
    )
    api.handler(request, LambdaContext("keyworker-api"))
    batch = sqs_event(["{not a job"], arn=stack.jobs.arn)
    worker.handler(batch, LambdaContext("keyworker-worker"))
    lines = [line for line in iter_json_lines(lambda_output.readouterr()[0]) if "level" in line]
    (failed,) = [line for line in lines if line["message"].startswith("message failed")]
    assert failed["function_name"] == "keyworker-worker"
    assert failed.get("correlation_id") != request["requestContext"]["requestId"]
    assert failed["correlation_id"] == batch["Records"][0]["messageId"]


def test_log_context_stays_with_its_function_across_threads(
    stack: Stack, lambda_output: pytest.CaptureFixture[str]
) -> None:
    # The local stack runs the worker and events functions in threads of one process: while a
    # job is running (its keys set), an events invocation logs; neither sees the other's keys.
    inside, release = threading.Event(), threading.Event()

    class HoldTheJob(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.getMessage() == "job done" and not inside.is_set():
                inside.set()
                release.wait(30)
            return True

    hold = HoldTheJob()
    observability.logger.addFilter(hold)
    job = {
        "job_id": "job-in-thread",
        "kind": "block_phone",
        "params": {"site_id": SITE, "phone": "+41791234567", "actor": "ops"},
    }
    thread = threading.Thread(
        target=worker.handler,
        args=(sqs_event([json.dumps(job)], arn=stack.jobs.arn), LambdaContext("keyworker-worker")),
    )
    try:
        thread.start()
        assert inside.wait(30)
        bad_event = cloud_event("door.synced", {"site_id": SITE})
        events.handler(
            sqs_event([json.dumps(bad_event)], arn=stack.events.arn),
            LambdaContext("keyworker-events"),
        )
    finally:
        release.set()
        thread.join(30)
        observability.logger.removeFilter(hold)
    lines = [line for line in iter_json_lines(lambda_output.readouterr()[0]) if "level" in line]
    (failed,) = [line for line in lines if line["message"].startswith("message failed")]
    assert failed["function_name"] == "keyworker-events"
    assert not {"job_id", "job_kind"} & set(failed), failed
    (done,) = _worker_lines(lines)
    assert done["function_name"] == "keyworker-worker"
    assert done["job_id"] == "job-in-thread"
    assert done["correlation_id"] != failed["correlation_id"]
