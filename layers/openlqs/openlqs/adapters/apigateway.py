"""API Gateway's authorizer cache, flushed with boto3 (``AuthorizerCache``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openlqs.domain.ports import GatewayStage
from openlqs.errors import ServiceUnavailable

#: API Gateway's management calls share a small per-account rate: throttled calls are retried.
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


def apigateway_client() -> Any:
    return boto3.client("apigateway", config=_RETRIES)


class ApiGatewayAuthorizerCache:
    """``FlushStageAuthorizersCache`` on the stage a request came through.

    A client is made for each flush (flushes are rare: an administrator changed a key). Locally the call
    is answered in-process by a handler on boto3's default session (``openlqs.local.apigateway``), and a
    client takes the session's handlers when it is made, so a client kept from before the local stack
    started would miss it.
    """

    def __init__(self, client_factory: Callable[[], Any] = apigateway_client) -> None:
        self._client_factory = client_factory

    def flush(self, stage: GatewayStage) -> None:
        try:
            self._client_factory().flush_stage_authorizers_cache(restApiId=stage.api_id, stageName=stage.name)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise ServiceUnavailable(f"stage {stage.name} of API {stage.api_id}: {code}") from error
        except BotoCoreError as error:
            raise ServiceUnavailable(f"stage {stage.name} of API {stage.api_id}: {error}") from error
