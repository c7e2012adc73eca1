"""Record data in the client: ``raw_data`` first, auxiliary data fetched on demand, preview images.

The API is scripted (``ScriptedApi``): a request a test does not expect fails it, so "no request" is
checked too.
"""

from __future__ import annotations

import base64
import io
import sys
from typing import Any
from uuid import UUID

import httpx
import pytest
from PIL import Image

from openlqs.client import LogQS
from openlqs.client.models import Record
from tests.support.client import BASE, CREATED_AT, ScriptedApi, data
from tests.support.client import offline_client as client_over

LOG_ID = UUID("1a1a1a1a-1111-2222-3333-444444444444")
TOPIC_ID = UUID("0c0c0c0c-1111-2222-3333-444444444444")
INGESTION_ID = UUID("2b2b2b2b-1111-2222-3333-444444444444")
TIMESTAMP = 1_700_000_000_050_000_000
BASE_PATH = httpx.URL(BASE).path


def _webp(size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    output = io.BytesIO()
    Image.new("RGB", size, colour).save(output, format="WEBP", quality=80)
    return base64.b64encode(output.getvalue()).decode("ascii")


PREVIEW = {"image": _webp((64, 36), (255, 0, 0)), "max_size": 640, "quality": 80, "format": "webp"}


def _record_json(**fields: Any) -> dict[str, Any]:
    return {
        "timestamp": TIMESTAMP,
        "log_id": str(LOG_ID),
        "topic_id": str(TOPIC_ID),
        "created_at": CREATED_AT.isoformat(),
        **fields,
    }


def _record(lqs: LogQS, **fields: Any) -> Record:
    return lqs.resource.Record.model_validate(_record_json(**fields))


def test_get_raw_data_decodes_the_raw_data_the_server_sent_without_a_request() -> None:
    api = ScriptedApi()
    record = _record(client_over(api), raw_data=base64.b64encode(b"\x00message\xff").decode(), data_offset=5)

    assert record.get_raw_data() == b"\x00message\xff"
    assert api.requests == []


def test_get_raw_data_without_raw_data_reads_through_the_offsets() -> None:
    # Given a record without raw_data: its ingestion names the object, whose range is read
    ingestion = {
        "id": str(INGESTION_ID),
        "created_at": CREATED_AT.isoformat(),
        "log_id": str(LOG_ID),
        "group_id": "6a7c0d2e-1b3f-4c5d-8e9f-0a1b2c3d4e5f",
        "object_key": "run.bag",
        "state": "completed",
    }
    api = ScriptedApi(
        data(ingestion),
        httpx.Response(302, headers={"Location": "http://storage.test/run.bag"}),
        httpx.Response(206, content=b"bytes"),
    )
    record = _record(client_over(api), ingestion_id=str(INGESTION_ID), data_offset=10, data_length=5)

    assert record.get_raw_data() == b"bytes"
    assert [request.url.path for request in api.requests] == [
        f"{BASE_PATH}/ingestions/{INGESTION_ID}",
        f"{BASE_PATH}/logs/{LOG_ID}/objects/run.bag",
        "/run.bag",
    ]
    assert api.requests[2].headers["Range"] == "bytes=10-14"


def test_get_auxiliary_data_fetches_it_once_when_not_loaded() -> None:
    api = ScriptedApi(data(_record_json(auxiliary_data=PREVIEW)))
    record = _record(client_over(api))

    first = record.get_auxiliary_data()
    again = record.get_auxiliary_data()

    assert first == again == PREVIEW
    assert record.auxiliary_data == PREVIEW
    assert api.calls == [("GET", f"/topics/{TOPIC_ID}/records/{TIMESTAMP}")]
    assert dict(api.requests[0].url.params) == {"include_auxiliary_data": "true", "include_raw_data": "false"}


def test_get_auxiliary_data_already_loaded_sends_nothing() -> None:
    api = ScriptedApi()
    record = _record(client_over(api), auxiliary_data={"note": "kept"})

    assert record.get_auxiliary_data() == {"note": "kept"}
    assert api.requests == []


def test_load_auxiliary_data_image_of_auxiliary_data_opens_the_webp() -> None:
    lqs = client_over(ScriptedApi())

    image = lqs.utils.load_auxiliary_data_image(PREVIEW)

    assert image is not None
    assert (image.format, image.size) == ("WEBP", (64, 36))
    red, green, blue = image.convert("RGB").getpixel((32, 18))
    assert red > 200 and green < 50 and blue < 50


def test_load_auxiliary_data_image_of_a_record_dict_uses_its_auxiliary_data() -> None:
    lqs = client_over(ScriptedApi())

    image = lqs.utils.load_auxiliary_data_image(_record_json(auxiliary_data=PREVIEW))

    assert image is not None and image.size == (64, 36)


def test_load_auxiliary_data_image_of_a_record_fetches_its_preview() -> None:
    api = ScriptedApi(data(_record_json(auxiliary_data=PREVIEW)))
    lqs = client_over(api)
    record = _record(lqs)

    image = record.load_auxiliary_data_image()

    assert image is not None and image.size == (64, 36)
    assert api.calls == [("GET", f"/topics/{TOPIC_ID}/records/{TIMESTAMP}")]
    assert str(api.requests[0].url).startswith(BASE)


@pytest.mark.parametrize(
    "source",
    [None, {}, {"format": "webp"}, {"image": None}, [1, 2], {"auxiliary_data": None}],
    ids=["none", "empty", "no-image", "null-image", "list", "record-without"],
)
def test_load_auxiliary_data_image_without_an_image_is_none(source: Any) -> None:
    assert client_over(ScriptedApi()).utils.load_auxiliary_data_image(source) is None


def test_load_auxiliary_data_image_of_a_record_of_a_non_image_topic_is_none() -> None:
    # The server answers null auxiliary data for a topic that is not an image topic
    api = ScriptedApi(data(_record_json(auxiliary_data=None)))
    record = _record(client_over(api))

    assert record.load_auxiliary_data_image() is None
    assert len(api.requests) == 1


def test_load_auxiliary_data_image_needs_pillow_only_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    lqs = client_over(ScriptedApi())
    monkeypatch.setitem(sys.modules, "PIL", None)  # "import PIL" now raises ImportError

    assert lqs.utils.load_auxiliary_data_image({"format": "webp"}) is None
    with pytest.raises(ImportError, match="needs Pillow"):
        lqs.utils.load_auxiliary_data_image(PREVIEW)
