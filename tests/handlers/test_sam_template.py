"""infra/template.yaml wires what the handlers expect (cfn-lint checks the rest in make lint)."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from keyworker.infra_template import TEMPLATE_PATH, load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
QUEUES = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}


def test_functions_on_the_layer_with_importable_handlers() -> None:
    handlers = {r["Properties"]["Handler"] for r in FUNCTIONS.values()}
    assert handlers == {
        f"keyworker.handlers.{n}.handler"
        for n in ("api", "worker", "events", "expiry", "stream", "webhooks")
    }
    for handler in handlers:
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Layers"] == [{"Ref": "KeyworkerLayer"}]
    text = TEMPLATE_PATH.read_text()
    assert len(re.findall(r"^\s*Runtime:\s*python3\.12\s*$", text, re.M)) == 1


def test_queue_names_and_redrive() -> None:
    names = {n: r["Properties"]["QueueName"]["Fn::Sub"] for n, r in QUEUES.items()}
    assert "-jobs" in names["JobsQueue"]
    assert "-events" in names["EventsQueue"]
    for logical, queue in QUEUES.items():
        if logical.endswith("DeadLetterQueue"):
            assert names[logical].endswith("-dlq")
            continue
        redrive = queue["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq == logical.replace("Queue", "DeadLetterQueue")


@pytest.mark.parametrize(
    ("function", "queue"),
    [
        ("WorkerFunction", "JobsQueue"),
        ("EventsFunction", "EventsQueue"),
        ("WebhookDeliveryFunction", "WebhookDeliveryQueue"),
    ],
)
def test_sqs_sources_report_batch_item_failures(function: str, queue: str) -> None:
    [source] = FUNCTIONS[function]["Properties"]["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    timeout = FUNCTIONS[function]["Properties"].get(
        "Timeout", TEMPLATE["Globals"]["Function"]["Timeout"]
    )
    assert QUEUES[queue]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_api_behind_jwt_authorizer_and_expiry_on_a_schedule() -> None:
    auth = RESOURCES["KeyworkerHttpApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] in auth["Authorizers"]
    jwt = auth["Authorizers"][auth["DefaultAuthorizer"]]["JwtConfiguration"]
    assert jwt == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}}
    [route] = FUNCTIONS["ApiFunction"]["Properties"]["Events"].values()
    assert route["Type"] == "HttpApi"
    assert route["Properties"]["Path"].startswith("/v1/sites/{site_id}/")
    [schedule] = FUNCTIONS["ExpiryFunction"]["Properties"]["Events"].values()
    assert schedule["Type"] == "ScheduleV2"


def test_least_privilege_policies() -> None:
    for name, function in FUNCTIONS.items():
        for policy in function["Properties"]["Policies"]:
            assert isinstance(policy, dict), f"{name}: {policy}"
            assert "Statement" in policy, f"{name}: {policy}"
            for statement in policy["Statement"]:
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert all("*" not in a for a in actions), f"{name}: {actions}"
                assert statement["Resource"] != "*", name
    worker_actions = {
        a
        for s in FUNCTIONS["WorkerFunction"]["Properties"]["Policies"][0]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    # The worker reads by key, except a revocation run's plan job, which reads its site's
    # partition of the base table (never an index).
    assert "dynamodb:Query" in worker_actions
    worker_tables = {
        str(s["Resource"])
        for s in FUNCTIONS["WorkerFunction"]["Properties"]["Policies"][0]["Statement"]
        if "dynamodb:Query" in s["Action"]
    }
    assert worker_tables == {str({"Fn::GetAtt": ["KeyworkerTable", "Arn"]})}


def test_alarms_on_every_dlq_and_function() -> None:
    alarms = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    dlq_alarmed = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert dlq_alarmed == {n for n in QUEUES if n.endswith("DeadLetterQueue")}
    erroring = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["MetricName"] == "Errors"}
    assert erroring == set(FUNCTIONS)
    assert all(
        a["Threshold"] == 0 and a["ComparisonOperator"] == "GreaterThanThreshold" for a in alarms
    )


def test_the_table_stream_feeds_the_stream_function() -> None:
    table = RESOURCES["KeyworkerTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    [source] = FUNCTIONS["StreamFunction"]["Properties"]["Events"].values()
    assert source["Type"] == "DynamoDB"
    mapping = source["Properties"]
    assert mapping["Stream"] == {"Fn::GetAtt": ["KeyworkerTable", "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10000
    on_failure = mapping["DestinationConfig"]["OnFailure"]
    assert on_failure["Destination"] == {"Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]}
    environment = FUNCTIONS["StreamFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["EVENT_BUS_NAME"] == {"Ref": "EventBus"}
    assert environment["EVENTS_TABLE_NAME"] == {"Ref": "KeyworkerEventsTable"}
    assert RESOURCES["EventBus"]["Type"] == "AWS::Events::EventBus"
    # The feed is apart from the state: its writes do not feed the stream back.
    events_table = RESOURCES["KeyworkerEventsTable"]["Properties"]
    assert "StreamSpecification" not in events_table
    assert events_table["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }


def test_dedupe_records_expire() -> None:
    ttl = RESOURCES["KeyworkerTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}
