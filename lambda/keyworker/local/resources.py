"""The local stack's AWS resources, created in the emulator from ``infra/template.yaml``.

The template is the one source of what exists: the table with its indexes, the queues with
their dead-letter queues and redrive policies, the functions' environment and their SQS event
sources (batch size, ReportBatchItemFailures) and schedule. This module reads those and makes
the same things in the emulator, resolving the template's intrinsic functions for one stack.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keyworker.infra_template import create_tables, load_template

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str


@dataclass(frozen=True, slots=True)
class SqsEventSource:
    """An SQS event source mapping of a function, as the template declares it."""

    function: str  # logical id
    handler: str  # module.attribute
    queue: str  # logical id of the queue
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True, slots=True)
class StreamEventSource:
    """A DynamoDB stream event source mapping of a function, as the template declares it."""

    function: str  # logical id
    handler: str  # module.attribute
    table: str  # logical id of the table
    stream_arn: str
    batch_size: int
    maximum_retry_attempts: int
    #: ``MaximumBatchingWindowInSeconds``: how long records are gathered before the function
    #: is invoked (unless a full batch is there sooner).
    batching_window_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ScheduledFunction:
    function: str
    handler: str
    every_seconds: int


@dataclass
class StackResources:
    """What was created, by logical id, and the functions' resolved configuration."""

    stack_name: str
    tables: dict[str, str] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    event_sources: list[SqsEventSource] = field(default_factory=list)
    stream_sources: list[StreamEventSource] = field(default_factory=list)
    #: Streams of the tables that have one, by logical id of the table.
    table_streams: dict[str, str] = field(default_factory=dict)
    #: EventBridge buses, by logical id: (name, ARN).
    event_buses: dict[str, tuple[str, str]] = field(default_factory=dict)
    schedules: list[ScheduledFunction] = field(default_factory=list)
    handlers: dict[str, str] = field(default_factory=dict)  # function logical id -> handler

    def queue_named(self, part: str) -> Queue:
        """The queue whose name ends in ``-{part}`` (e.g. ``jobs``, ``events-dlq``)."""
        for queue in self.queues.values():
            if queue.name.endswith(f"-{part}"):
                return queue
        raise KeyError(f"no queue named *-{part} in the template")


class _Resolver:
    """Resolves the intrinsic functions the template uses, for one local stack."""

    def __init__(self, stack: StackResources, template: Mapping[str, Any]) -> None:
        self._stack = stack
        self._resources = template["Resources"]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), *_ = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                return self._get_att(argument)
            if name == "Fn::Sub":
                return self._sub(argument)
            if name == "Fn::If":
                # Conditions only switch optional production features (alarm e-mail, tokens):
                # locally the "else" branch is the plain default.
                return self.resolve(argument[2])
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        if name == "AWS::StackName":
            return self._stack.stack_name
        if name == "AWS::Region":
            return "us-east-1"
        if name == "AWS::AccountId":
            return "123456789012"
        if name == "AWS::NoValue":
            return None
        if name in self._stack.parameters:
            return self._stack.parameters[name]
        if name in self._stack.tables:
            return self._stack.tables[name]
        if name in self._stack.queues:
            return self._stack.queues[name].url  # Ref of a queue is its URL
        if name in self._stack.event_buses:
            return self._stack.event_buses[name][0]  # Ref of a bus is its name
        raise KeyError(f"the local stack cannot resolve Ref {name}")

    def _get_att(self, argument: list[str]) -> Any:
        logical_id, attribute = argument
        if logical_id in self._stack.queues:
            queue = self._stack.queues[logical_id]
            return {"Arn": queue.arn, "QueueName": queue.name, "QueueUrl": queue.url}[attribute]
        if logical_id in self._stack.tables and attribute == "Arn":
            return f"arn:aws:dynamodb:us-east-1:123456789012:table/{self._stack.tables[logical_id]}"
        if logical_id in self._stack.table_streams and attribute == "StreamArn":
            return self._stack.table_streams[logical_id]
        if logical_id in self._stack.event_buses and attribute in ("Arn", "Name"):
            name, arn = self._stack.event_buses[logical_id]
            return arn if attribute == "Arn" else name
        raise KeyError(f"the local stack cannot resolve GetAtt {logical_id}.{attribute}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved:
                return str(resolved[name])
            if "." in name:
                return str(self._get_att(name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def _parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }


def _rate_seconds(expression: str) -> int:
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"the local stack runs rate(...) schedules only, not {expression!r}")
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    return count * _RATE_SECONDS[unit]


def create_stack(
    aws: Any,
    *,
    stack_name: str,
    parameters: Mapping[str, str],
    template: Mapping[str, Any] | None = None,
    visibility_timeout: int | None = None,
) -> StackResources:
    """Create the template's tables and queues in the emulator behind ``aws`` (a factory
    ``aws(service) -> boto3 client``) and resolve every function's configuration.

    ``visibility_timeout`` replaces the queues' own (minutes, sized for Lambda timeouts), so a
    failing message is retried and dead-lettered in seconds on a laptop."""
    template = template if template is not None else load_template()
    stack = StackResources(stack_name=stack_name)
    stack.parameters = {**_parameter_defaults(template), **parameters}
    resolver = _Resolver(stack, template)
    resources: Mapping[str, Any] = template["Resources"]

    table_ids = [i for i, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"]
    dynamodb = aws("dynamodb")
    stack.tables = create_tables(dynamodb, names={i: f"{stack_name}-{i}" for i in table_ids})
    for logical_id, table_name in stack.tables.items():
        stream_arn = dynamodb.describe_table(TableName=table_name)["Table"].get("LatestStreamArn")
        if stream_arn:
            stack.table_streams[logical_id] = str(stream_arn)
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Events::EventBus":
            name = str(resolver.resolve(resource["Properties"]["Name"]))
            arn = aws("events").create_event_bus(Name=name)["EventBusArn"]
            stack.event_buses[logical_id] = (name, str(arn))

    _create_queues(aws("sqs"), stack, resolver, resources, visibility_timeout)

    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    environment: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        handler = str(properties["Handler"])
        stack.handlers[logical_id] = handler
        for env in (globals_env, properties.get("Environment", {})):
            for name, value in env.get("Variables", {}).items():
                resolved = resolver.resolve(value)
                if resolved is None or resolved == "":
                    continue
                if name in environment and environment[name] != str(resolved):
                    # One process runs every function here, so they share one environment.
                    raise ValueError(f"functions disagree on environment variable {name}")
                environment[name] = str(resolved)
        for event in properties.get("Events", {}).values():
            event_properties = event.get("Properties", {})
            if event["Type"] == "SQS":
                queue_arn = resolver.resolve(event_properties["Queue"])
                queue = next(q for q in stack.queues.values() if q.arn == queue_arn)
                stack.event_sources.append(
                    SqsEventSource(
                        function=logical_id,
                        handler=handler,
                        queue=queue.logical_id,
                        batch_size=int(event_properties.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in event_properties.get("FunctionResponseTypes", []),
                    )
                )
            elif event["Type"] == "DynamoDB":
                stream_arn = str(resolver.resolve(event_properties["Stream"]))
                table = next(t for t, arn in stack.table_streams.items() if arn == stream_arn)
                stack.stream_sources.append(
                    StreamEventSource(
                        function=logical_id,
                        handler=handler,
                        table=table,
                        stream_arn=stream_arn,
                        batch_size=int(event_properties.get("BatchSize", 100)),
                        maximum_retry_attempts=int(
                            event_properties.get("MaximumRetryAttempts", 10)
                        ),
                        batching_window_seconds=float(
                            event_properties.get("MaximumBatchingWindowInSeconds", 0)
                        ),
                    )
                )
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                expression = resolver.resolve(
                    event_properties.get("ScheduleExpression") or event_properties["Schedule"]
                )
                stack.schedules.append(
                    ScheduledFunction(logical_id, handler, _rate_seconds(str(expression)))
                )
    stack.environment = environment
    return stack


def _create_queues(
    sqs: Any,
    stack: StackResources,
    resolver: _Resolver,
    resources: Mapping[str, Any],
    visibility_timeout: int | None,
) -> None:
    pending = {i: r for i, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    # Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    while pending:
        progressed = False
        for logical_id, resource in list(pending.items()):
            properties = resource.get("Properties", {})
            redrive = properties.get("RedrivePolicy")
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] if redrive else None
            if target is not None and target not in stack.queues:
                continue
            name = str(resolver.resolve(properties["QueueName"]))
            attributes: dict[str, str] = {}
            for prop in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
                if prop in properties:
                    attributes[prop] = str(resolver.resolve(properties[prop]))
            if visibility_timeout is not None:
                attributes["VisibilityTimeout"] = str(visibility_timeout)
            if redrive:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": resolver.resolve(redrive["deadLetterTargetArn"]),
                        "maxReceiveCount": int(resolver.resolve(redrive["maxReceiveCount"])),
                    }
                )
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            stack.queues[logical_id] = Queue(logical_id, name, url, arn)
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise ValueError(f"queues with unresolvable dead-letter targets: {sorted(pending)}")


def create_phone_hash_secret(secretsmanager: Any, name: str) -> str:
    """A fresh phone-number hash key in Secrets Manager; returns the secret's ARN."""
    value = base64.b64encode(secrets.token_bytes(32)).decode()
    return str(secretsmanager.create_secret(Name=name, SecretString=value)["ARN"])
