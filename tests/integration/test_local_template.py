"""The template loader builds moto resources from template.yaml's own definitions."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openlqs.local.cloudformation import (
    TemplateLoader,
    find_project_root,
    load_template,
    resource_references,
    resources_of_type,
)
from openlqs.local.resources import (
    DEFAULT_LOCAL_CONCURRENCY,
    S3EventSubscription,
    create_bucket,
    create_tables,
    enable_streams,
    function_environment,
    function_specs,
    local_resource_names,
    s3_event_subscriptions,
    settings_environment,
)
from openlqs.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def template() -> dict[str, Any]:
    return load_template(PROJECT_DIR / "template.yaml")


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("dynamodb")


def _by_name(items: list[dict[str, Any]], key: str = "IndexName") -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def test_template_loader_turns_short_form_tags_into_long_form() -> None:
    text = textwrap.dedent(
        """
        A: !Ref Thing
        B: !GetAtt Table.StreamArn
        C: !Sub "arn:${AWS::Partition}:s3:::${Bucket}/*"
        D: !If [IsProd, !Ref Big, 1]
        E: !Condition IsProd
        F: !Select [0, !GetAZs ""]
        """
    )

    loaded = TemplateLoader(text).get_single_data()

    assert loaded == {
        "A": {"Ref": "Thing"},
        "B": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "C": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/*"},
        "D": {"Fn::If": ["IsProd", {"Ref": "Big"}, 1]},
        "E": {"Condition": "IsProd"},
        "F": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
    }


def test_load_template_reads_every_resource_type(template: dict[str, Any]) -> None:
    tables = resources_of_type(template, "AWS::DynamoDB::Table")

    assert {"ResourcesTable", "RecordsTable"} <= set(tables)
    assert "ObjectsBucket" in resources_of_type(template, "AWS::S3::Bucket")


def test_create_tables_uses_the_template_keys_indexes_and_streams(
    template: dict[str, Any], dynamodb: Any
) -> None:
    names = local_resource_names(template)

    create_tables(dynamodb, template, names)

    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        declared = resource["Properties"]
        table = dynamodb.describe_table(TableName=names[logical_id])["Table"]
        assert table["KeySchema"] == declared["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(
            declared["AttributeDefinitions"], key=str
        )
        assert table["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]
        actual_indexes = _by_name(table.get("GlobalSecondaryIndexes", []))
        declared_indexes = _by_name(declared.get("GlobalSecondaryIndexes", []))
        assert set(actual_indexes) == set(declared_indexes)
        for index_name, index in declared_indexes.items():
            assert actual_indexes[index_name]["KeySchema"] == index["KeySchema"]
            assert actual_indexes[index_name]["Projection"] == index["Projection"]
        if "StreamSpecification" in declared:
            assert table["StreamSpecification"] == {
                "StreamEnabled": True,
                "StreamViewType": declared["StreamSpecification"]["StreamViewType"],
            }
        else:
            assert "LatestStreamArn" not in table


def test_create_tables_without_streams_leaves_them_for_enable_streams(
    template: dict[str, Any], dynamodb: Any
) -> None:
    names = local_resource_names(template)

    create_tables(dynamodb, template, names, streams=False)
    before = dynamodb.describe_table(TableName=names["ResourcesTable"])["Table"]
    enable_streams(dynamodb, template, names)
    after = dynamodb.describe_table(TableName=names["ResourcesTable"])["Table"]

    assert "LatestStreamArn" not in before
    assert after["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_create_bucket_creates_a_bucket(dynamodb: Any) -> None:
    s3 = boto3.client("s3")

    create_bucket(s3, "openlqs-objects")

    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["openlqs-objects"]


def test_local_resource_names_are_the_settings_defaults(template: dict[str, Any]) -> None:
    environment = settings_environment(local_resource_names(template))
    defaults = Settings.model_construct()

    for variable, name in environment.items():
        assert getattr(defaults, variable.lower()) == name


def test_local_resource_names_keep_a_literal_table_name() -> None:
    template = {
        "Resources": {"AuditTable": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "x"}}}
    }

    assert local_resource_names(template) == {"AuditTable": "x"}


def test_find_project_root_prefers_the_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.setenv("OPENLQS_PROJECT_DIR", str(tmp_path))

    assert find_project_root() == tmp_path.resolve()


def test_find_project_root_walks_up_from_the_start_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLQS_PROJECT_DIR", raising=False)

    assert find_project_root(PROJECT_DIR / "layers" / "openlqs" / "openlqs") == PROJECT_DIR


def test_function_specs_read_code_uri_handler_and_globals(tmp_path: Path) -> None:
    template = {
        "Globals": {"Function": {"MemorySize": 512, "Timeout": 20, "Handler": "app.lambda_handler"}},
        "Resources": {
            "ApiFunction": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "functions/api/"}},
            "PlanFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "functions/plan", "Handler": "handlers.plan.run", "Timeout": 900},
            },
        },
    }

    specs = function_specs(template, tmp_path)

    assert specs["ApiFunction"].code_path == tmp_path / "functions" / "api" / "app.py"
    assert (specs["ApiFunction"].handler_name, specs["ApiFunction"].memory_mb) == ("lambda_handler", 512)
    assert specs["PlanFunction"].code_path == tmp_path / "functions" / "plan" / "handlers" / "plan.py"
    assert (specs["PlanFunction"].handler_name, specs["PlanFunction"].timeout_s) == ("run", 900)


def test_function_specs_fall_back_to_functions_api_app(tmp_path: Path) -> None:
    specs = function_specs({"Resources": {}}, tmp_path)

    assert specs["ApiFunction"].code_path == tmp_path / "functions" / "api" / "app.py"


def test_function_environment_resolves_refs_subs_and_parameter_defaults() -> None:
    template = {
        "Parameters": {"DatastoreId": {"Type": "String", "Default": "ds-default"}},
        "Globals": {
            "Function": {
                "Environment": {
                    "Variables": {
                        "DATASTORE_ID": {"Ref": "DatastoreId"},
                        "RECORDS_TABLE_NAME": {"Ref": "RecordsTable"},
                        "PREFIX": {"Fn::Sub": "${AWS::Region}/${RecordsTable}"},
                        "STATE_MACHINE_ARN": {"Ref": "NotCreatedLocally"},
                        "DEBUG": False,
                    }
                }
            }
        },
    }

    environment = function_environment(template, {"RecordsTable": "openlqs-records"})

    assert environment == {
        "DATASTORE_ID": "ds-default",
        "RECORDS_TABLE_NAME": "openlqs-records",
        "PREFIX": "us-east-1/openlqs-records",
        "DEBUG": "false",
    }


def test_s3_event_subscriptions_read_the_drop_folder_event(template: dict[str, Any]) -> None:
    subscriptions = s3_event_subscriptions(template)

    assert subscriptions == [
        S3EventSubscription(
            function_id="IngestionTriggerFunction",
            event_id="DropFolder",
            bucket_id="ObjectsBucket",
            events=("s3:ObjectCreated:*",),
            filter_rules=(("prefix", "drop/"),),
        )
    ]
    assert subscriptions[0].notification_filter() == {
        "Key": {"FilterRules": [{"Name": "prefix", "Value": "drop/"}]}
    }


def test_s3_event_subscriptions_skip_other_events_and_unfiltered_ones_match_every_key() -> None:
    template = {
        "Resources": {
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "Api": {"Type": "Api", "Properties": {"Path": "/", "Method": "GET"}},
                        "Files": {
                            "Type": "S3",
                            "Properties": {"Bucket": {"Ref": "B"}, "Events": ["s3:ObjectCreated:Put"]},
                        },
                    }
                },
            }
        }
    }

    (subscription,) = s3_event_subscriptions(template)

    assert (subscription.event_id, subscription.events) == ("Files", ("s3:ObjectCreated:Put",))
    assert subscription.notification_filter() == {}


def test_function_environment_gives_every_function_the_secrets_key_id(template: dict[str, Any]) -> None:
    environment = function_environment(template, {"SecretsKey": "key-id", "ResourcesTable": "r"})

    assert environment["SECRETS_KEY_ID"] == "key-id"
    # The objects bucket's name is spelled out in the template (no !Ref): the local stack sets it.
    assert "OBJECTS_BUCKET_NAME" not in environment


def test_function_specs_resolve_parameter_refs_and_set_local_concurrency(tmp_path: Path) -> None:
    template = {
        "Parameters": {"PartMemorySize": {"Type": "Number", "Default": 1769}},
        "Globals": {"Function": {"Handler": "app.lambda_handler"}},
        "Resources": {
            "ApiFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "functions/api/", "Events": {"Proxy": {"Type": "Api"}}},
            },
            "PartFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "functions/part/", "MemorySize": {"Ref": "PartMemorySize"}},
            },
            "LimitedFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "functions/limited/", "ReservedConcurrentExecutions": 3},
            },
        },
    }

    specs = function_specs(template, tmp_path)

    assert specs["PartFunction"].memory_mb == 1769
    assert specs["ApiFunction"].max_concurrency == DEFAULT_LOCAL_CONCURRENCY
    assert specs["PartFunction"].max_concurrency == DEFAULT_LOCAL_CONCURRENCY
    assert specs["LimitedFunction"].max_concurrency == 3


def test_function_environment_resolves_get_att_and_sub_with_variables() -> None:
    template = {
        "Globals": {
            "Function": {
                "Environment": {
                    "Variables": {
                        "MACHINE_ARN": {"Ref": "Machine"},
                        "PLAN_ARN": {"Fn::GetAtt": ["PlanFunction", "Arn"]},
                        "URL": {"Fn::Sub": ["${Name}.${AWS::Region}", {"Name": {"Ref": "Table"}}]},
                        "JOINED": {"Fn::Join": ["/", ["a", {"Ref": "Table"}]]},
                    }
                }
            }
        }
    }
    references = resource_references(
        {"Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}}},
        names={"Table": "openlqs-table"},
        function_arns={"PlanFunction": "arn:aws:lambda:us-east-1:123456789012:function:plan"},
        state_machine_names={"Machine": "machine"},
    )

    environment = function_environment(template, references)

    assert environment == {
        "MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:machine",
        "PLAN_ARN": "arn:aws:lambda:us-east-1:123456789012:function:plan",
        "URL": "openlqs-table.us-east-1",
        "JOINED": "a/openlqs-table",
    }


def test_function_environment_gives_the_trigger_the_state_machine_arn(template: dict[str, Any]) -> None:
    references = resource_references(template, state_machine_names={"IngestionStateMachine": "ingestion"})

    environment = function_environment(template, references)

    assert environment["INGESTION_STATE_MACHINE_ARN"] == (
        "arn:aws:states:us-east-1:123456789012:stateMachine:ingestion"
    )
