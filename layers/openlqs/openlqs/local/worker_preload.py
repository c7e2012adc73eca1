"""What the fork server of the local stack's workers prepares once, so that no worker does it again.

Imported by the fork server (``openlqs.local.workers.PRELOADED_MODULES``): the libraries the task
functions' handlers import, and botocore's data loader with the models of the services they call
already parsed (a client's first creation otherwise parses its service's JSON model: about a third of
a second of every worker's first invocation). A worker's boto3 sessions use :data:`LOADER`
(:func:`install_default_session`).
"""

from __future__ import annotations

from typing import Any

# What the task functions' handlers import: Powertools' Logger, Metrics, Tracer and parser, X-Ray's SDK
# (whose import makes its recorder, and a client), the payloads and the services (boto3, numpy, the
# formats).
import aws_lambda_powertools.tracing
import aws_lambda_powertools.utilities.parser  # noqa: F401
import aws_xray_sdk.core  # noqa: F401
import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader, create_loader

import openlqs.digestion.payloads
import openlqs.ingestion.payloads
import openlqs.services  # noqa: F401

#: The services the task functions call.
SERVICES = ("dynamodb", "dynamodbstreams", "s3", "sqs", "stepfunctions", "lambda", "kms")


def _warm_loader() -> Loader:
    loader = create_loader()
    session = botocore.session.get_session()
    session.register_component("data_loader", loader)
    # Creating a client loads everything a client needs (model, endpoint rules, retry and default
    # configuration); nothing is sent, and no credentials are looked up. DynamoDB's tables are boto3
    # resources, whose model is boto3's own.
    options: dict[str, Any] = {
        "region_name": "us-east-1",
        "endpoint_url": "http://127.0.0.1:9",
        "aws_access_key_id": "preload",
        "aws_secret_access_key": "preload",
        "config": Config(retries={"max_attempts": 0}),
    }
    for service in SERVICES:
        session.create_client(service, **options)
    boto3.session.Session(botocore_session=session).resource("dynamodb", **options)
    return loader


try:
    LOADER: Loader | None = _warm_loader()
except Exception:
    LOADER = None


def install_default_session() -> None:
    """Make boto3's default session one whose botocore session reads models through :data:`LOADER`."""
    if LOADER is None:
        return
    session = botocore.session.get_session()
    session.register_component("data_loader", LOADER)
    boto3.setup_default_session(botocore_session=session)
