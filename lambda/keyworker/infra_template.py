"""Reads ``infra/template.yaml`` and creates its DynamoDB tables from the template's own properties.

Tests and the local stack build their tables with :func:`create_tables`, so the schema exists
once (in the template) and code and infrastructure cannot drift apart. The loader understands
the CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``, ...) by turning each into its
long form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``), as CloudFormation itself does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

try:
    # libyaml's parser: the template loads ~20x faster than with the pure-Python one (every
    # test that creates the tables, and the local stack, load it).
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
TABLE_TYPE = "AWS::DynamoDB::Table"

# CloudFormation properties that CreateTable accepts under the same name and shape.
_CREATE_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
)


class _CloudFormationLoader(_SafeLoader):
    """A safe YAML loader that also accepts the CloudFormation intrinsic-function tags."""


def _intrinsic(loader: _SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        # `!GetAtt Resource.Attribute` is the short form of ["Resource", "Attribute"].
        if name == "Fn::GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path | str = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data, intrinsic functions in their long form."""
    with open(path, encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CloudFormationLoader)
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
    return document


def table_definitions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every DynamoDB table resource of the template."""
    return {
        logical_id: dict(resource.get("Properties", {}))
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == TABLE_TYPE
    }


def create_table_request(properties: Mapping[str, Any], table_name: str) -> dict[str, Any]:
    """The CreateTable arguments for a table resource's properties, under ``table_name``."""
    request: dict[str, Any] = {"TableName": table_name}
    for name in _CREATE_TABLE_PROPERTIES:
        if name in properties:
            request[name] = properties[name]
    if "StreamSpecification" in properties:
        # CloudFormation enables the stream by naming its view type; CreateTable says both.
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": properties["StreamSpecification"]["StreamViewType"],
        }
    if "SSESpecification" in properties:
        request["SSESpecification"] = {
            "Enabled": bool(properties["SSESpecification"]["SSEEnabled"])
        }
    return request


def create_tables(
    client: DynamoDBClient,
    *,
    names: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
    path: Path | str = TEMPLATE_PATH,
) -> dict[str, str]:
    """Create every table of the template (or ``only`` those logical ids); returns logical id
    -> created table name.

    ``names`` maps a logical id to the table name to use (defaults to the logical id), as a
    stack would name its tables. Time-to-live settings of the template are applied too.
    """
    names = names or {}
    created: dict[str, str] = {}
    for logical_id, properties in table_definitions(load_template(path)).items():
        if only is not None and logical_id not in only:
            continue
        table_name = names.get(logical_id, logical_id)
        client.create_table(**create_table_request(properties, table_name))
        client.get_waiter("table_exists").wait(TableName=table_name)
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        created[logical_id] = table_name
    return created
