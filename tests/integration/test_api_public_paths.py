"""The routes API Gateway lets through without a key are served by ApiFunction without one."""

from __future__ import annotations

import pytest

from tests.support.api import ApiClient
from tests.support.paths import DATASTORE_ID
from tests.support.policies import PUBLIC_PATHS


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS))
def test_template_public_paths_are_served_by_api_function_without_a_key(
    aws: dict[str, str], api: ApiClient, path: str
) -> None:
    # Given a request API Gateway let through with no authorizer (no principal in its context)
    anonymous = api.acting_as(None)

    response = anonymous.get(path.replace("{datastore_id}", DATASTORE_ID), absolute=True)

    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("application/json" if "json" in path else "text/html")
