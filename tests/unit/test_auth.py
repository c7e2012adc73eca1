"""The LogQS Authorization header format."""

from __future__ import annotations

from uuid import UUID

import pytest

from openlqs.auth import format_authorization, parse_authorization
from openlqs.errors import Unauthorized


def test_parse_authorization_reads_the_official_clients_header() -> None:
    # Contract §1.2, verified example.
    header = "Bearer MTExMTExMTEtMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1OnMzY3JldA=="

    credentials = parse_authorization(header)

    assert credentials is not None
    assert credentials.key_id == UUID("11111111-2222-3333-4444-555555555555")
    assert credentials.secret == "s3cret"


def test_parse_authorization_splits_on_the_first_colon_only() -> None:
    key_id = UUID(int=5)
    credentials = parse_authorization(format_authorization(key_id, "a:b:c"))

    assert credentials is not None and credentials.secret == "a:b:c"


def test_parse_authorization_absent_header_is_none() -> None:
    assert parse_authorization(None) is None


@pytest.mark.parametrize(
    "header",
    [
        "Basic abc",
        "Bearer",
        "Bearer !!!notbase64",
        "Bearer " + "bm9jb2xvbg==",
        "Bearer " + "bm90LWEtdXVpZDpz",
    ],
)
def test_parse_authorization_refuses_malformed_headers(header: str) -> None:
    with pytest.raises(Unauthorized) as raised:
        parse_authorization(header)
    # The message never says which part was wrong.
    assert raised.value.message == "[Unauthorized] Missing or malformed credentials."


def test_credentials_repr_hides_the_secret() -> None:
    credentials = parse_authorization(format_authorization(UUID(int=1), "topsecret"))

    assert "topsecret" not in repr(credentials)
