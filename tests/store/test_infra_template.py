"""The state table is created from infra/template.yaml itself."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from moto_state import TABLE_NAME

from keyworker import infra_template
from keyworker.infra_template import TEMPLATE_PATH, create_tables, load_template, table_definitions


def test_loader_reads_cloudformation_short_tags(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "Resources:\n"
        "  T:\n"
        "    Type: AWS::DynamoDB::Table\n"
        "    Properties:\n"
        "      TableName: !Sub '${AWS::StackName}-state'\n"
        "Outputs:\n"
        "  A: {Value: !GetAtt T.Arn}\n"
        "  B: {Value: !Ref T}\n"
        "  C: {Value: !Join ['-', [a, !Ref T]]}\n"
    )
    document = load_template(template)
    assert document["Resources"]["T"]["Properties"]["TableName"] == {
        "Fn::Sub": "${AWS::StackName}-state"
    }
    assert document["Outputs"]["A"]["Value"] == {"Fn::GetAtt": ["T", "Arn"]}
    assert document["Outputs"]["B"]["Value"] == {"Ref": "T"}
    assert document["Outputs"]["C"]["Value"] == {"Fn::Join": ["-", ["a", {"Ref": "T"}]]}


def test_libyaml_reads_the_template_as_the_pure_python_parser_does() -> None:
    # The loader uses libyaml's parser for speed; the document must not depend on which.
    assert issubclass(infra_template._CloudFormationLoader, yaml.CSafeLoader)

    class PurePython(yaml.SafeLoader):
        pass

    PurePython.add_multi_constructor("!", infra_template._intrinsic)
    with open(TEMPLATE_PATH, encoding="utf-8") as stream:
        expected = yaml.load(stream, Loader=PurePython)
    assert load_template() == expected


def test_a_document_without_resources_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text("Outputs: {}\n")
    with pytest.raises(ValueError, match="no Resources"):
        load_template(template)


def test_the_project_template_is_a_sam_template_with_the_state_table() -> None:
    document = load_template(TEMPLATE_PATH)
    assert document["Transform"] == "AWS::Serverless-2016-10-31"
    tables = table_definitions(document)
    assert list(tables) == ["KeyworkerTable", "KeyworkerEventsTable"]
    assert {"TableName", "TableArn"} <= set(document["Outputs"])


def test_created_table_has_the_template_keys_and_indexes(dynamodb: Any) -> None:
    described = dynamodb.describe_table(TableName=TABLE_NAME)["Table"]
    properties = table_definitions(load_template())["KeyworkerTable"]
    assert described["KeySchema"] == properties["KeySchema"]
    created = {i["IndexName"]: i["KeySchema"] for i in described["GlobalSecondaryIndexes"]}
    expected = {i["IndexName"]: i["KeySchema"] for i in properties["GlobalSecondaryIndexes"]}
    assert created == expected
    assert set(created) == {"keys_by_status", "keys_by_boundary", "doors_to_visit"}


def test_create_tables_names_tables_and_applies_ttl(dynamodb: Any, tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "Resources:\n"
        "  Cache:\n"
        "    Type: AWS::DynamoDB::Table\n"
        "    Properties:\n"
        "      BillingMode: PAY_PER_REQUEST\n"
        "      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n"
        "      KeySchema: [{AttributeName: id, KeyType: HASH}]\n"
        "      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}\n"
    )
    assert create_tables(dynamodb, names={"Cache": "cache-x"}, path=template) == {
        "Cache": "cache-x"
    }
    ttl = dynamodb.describe_time_to_live(TableName="cache-x")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveStatus"] == "ENABLED"
