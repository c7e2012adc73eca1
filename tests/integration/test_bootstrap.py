"""``openlqs keys create`` on AWS: the first key written to a deployment's table (moto), by table or stack."""

from __future__ import annotations

import json
from uuid import UUID

import boto3
import pytest

from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.auth import Credentials
from openlqs.bootstrap import TABLE_OUTPUT, aws_deployment, create_key
from openlqs.cli import main
from openlqs.domain.api_keys import ApiKeyService
from openlqs.errors import Unauthorized
from openlqs.models.api_keys import Role


def _stack_with_table_output(name: str, table_name: str) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {TABLE_OUTPUT: {"Value": table_name}},
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_bootstrap_key_by_table_is_accepted_by_the_deployment(aws: dict[str, str]) -> None:
    table = aws["RESOURCES_TABLE_NAME"]

    key = create_key(aws_deployment(table_name=table, region="us-east-1"), "me", Role.admin)

    assert key.secret is not None
    principal = ApiKeyService(DynamoResourceRepository(table)).authenticate(Credentials(key.id, key.secret))
    assert principal.role == Role.admin


def test_bootstrap_key_by_stack_reads_the_table_from_its_outputs(aws: dict[str, str]) -> None:
    _stack_with_table_output("openlqs-prod", aws["RESOURCES_TABLE_NAME"])

    deployment = aws_deployment(stack_name="openlqs-prod", region="us-east-1")

    assert deployment.table_name == aws["RESOURCES_TABLE_NAME"]


def test_bootstrap_refuses_a_stack_that_is_not_openlqs(aws: dict[str, str]) -> None:
    boto3.client("cloudformation").create_stack(
        StackName="other",
        TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}),
    )

    with pytest.raises(ValueError, match="no ResourcesTableName output"):
        aws_deployment(stack_name="other", region="us-east-1")


def test_keys_create_command_prints_the_key_once(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    table = aws["RESOURCES_TABLE_NAME"]

    status = main(
        ["keys", "create", "--name", "ops", "--role", "write", "--table", table, "--region", "us-east-1"]
    )

    out = capsys.readouterr().out
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert status == 0
    keys = ApiKeyService(DynamoResourceRepository(table))
    credentials = Credentials(UUID(exports["LQS_API_KEY_ID"]), exports["LQS_API_KEY_SECRET"])
    assert keys.authenticate(credentials).role == Role.write
    with pytest.raises(Unauthorized):
        keys.authenticate(Credentials(credentials.key_id, "guess"))
