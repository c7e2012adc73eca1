"""``openlqs keys create``: the first admin key, written straight to a deployment's ResourcesTable.

No key exists before the first one, so the API cannot make it: this uses the caller's AWS credentials
(or the running local stack's endpoint) and the same domain service the API uses, so the key is
stored exactly as the API would store it (a keyed hash, never the secret).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.domain.api_keys import ApiKeyService
from openlqs.domain.common import Context
from openlqs.domain.users import ADMIN_USERNAME, UserService
from openlqs.models.api_keys import APIKey, APIKeyCreateRequest, Role

#: The stack output that names the ResourcesTable (template.yaml).
TABLE_OUTPUT = "ResourcesTableName"
LOCAL_CREDENTIALS = "testing"


@dataclass(frozen=True)
class Deployment:
    """Where keys are stored: a table, and how to reach it."""

    table_name: str
    session: Any
    endpoint_url: str | None = None

    def table(self, name: str) -> Any:
        return self.session.resource("dynamodb", endpoint_url=self.endpoint_url).Table(name)


def aws_deployment(
    *,
    stack_name: str | None = None,
    table_name: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    session_factory: Callable[..., Any] = boto3.session.Session,
) -> Deployment:
    """A deployment on AWS, by its table or by its CloudFormation stack's outputs."""
    session = session_factory(profile_name=profile, region_name=region)
    if table_name is None:
        if stack_name is None:
            raise ValueError("name the deployment: --stack-name or --table (or --local)")
        (stack,) = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
        if TABLE_OUTPUT not in outputs:
            raise ValueError(f"stack {stack_name} has no {TABLE_OUTPUT} output: is it an openlqs stack?")
        table_name = outputs[TABLE_OUTPUT]
    return Deployment(table_name, session)


def local_deployment(
    details: dict[str, Any], session_factory: Callable[..., Any] = boto3.session.Session
) -> Deployment:
    """The running local stack, from the ``stack.json`` it keeps in its data directory."""
    session = session_factory(
        aws_access_key_id=LOCAL_CREDENTIALS,
        aws_secret_access_key=LOCAL_CREDENTIALS,
        region_name=details["region"],
    )
    return Deployment(details["resources_table_name"], session, details["aws_endpoint_url"])


def create_key(deployment: Deployment, name: str, role: Role, user: str = ADMIN_USERNAME) -> APIKey:
    """A new key in the deployment, of the user named ``user`` (made when missing, an admin user when the
    key's role is admin); the result carries its secret (shown once)."""
    repository = DynamoResourceRepository(deployment.table_name, table_factory=deployment.table)
    owner = UserService(repository).fetch_or_create(user, admin=role == Role.admin, context=Context())
    request = APIKeyCreateRequest(name=name, role=role, user_id=owner.id)
    return ApiKeyService(repository).create(request, Context())
