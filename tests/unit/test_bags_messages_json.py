"""Decoded messages as strict JSON for query_data: byte arrays inlined or summarised, no NaN."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import pytest

from openlqs.formats.messages import (
    DEFAULT_MAX_INLINE_BYTES,
    SUMMARY_HEAD_BYTES,
    decode_ros1,
    to_json_value,
)
from tests.support.bags import TYPESTORE


def test_to_json_value_keeps_numbers_strings_and_booleans() -> None:
    plain = {"n": -4, "big": 2**63 - 1, "x": 0.5, "s": "héllo", "ok": True, "none": None}

    converted = to_json_value(plain)

    assert converted == plain
    assert type(converted["n"]) is int and type(converted["ok"]) is bool


def test_to_json_value_inlines_small_byte_arrays_as_base64() -> None:
    assert to_json_value({"data": b"\x00\x01\xff"}) == {"data": "AAH/"}


def test_to_json_value_inlines_a_byte_array_of_exactly_the_limit() -> None:
    data = bytes(range(256)) * 16
    assert len(data) == DEFAULT_MAX_INLINE_BYTES

    assert base64.b64decode(to_json_value(data)) == data


def test_to_json_value_summarises_a_byte_array_above_the_limit() -> None:
    data = bytes(range(256)) * 16 + b"!"

    summary = to_json_value(data)

    assert summary == {
        "size": DEFAULT_MAX_INLINE_BYTES + 1,
        "head": base64.b64encode(data[:SUMMARY_HEAD_BYTES]).decode(),
        "truncated": True,
    }
    assert SUMMARY_HEAD_BYTES == 64


def test_to_json_value_takes_the_limit_as_an_argument() -> None:
    assert to_json_value(b"abcd", max_inline_bytes=4) == "YWJjZA=="
    assert to_json_value(b"abcde", max_inline_bytes=4) == {"size": 5, "head": "YWJjZGU=", "truncated": True}
    assert to_json_value(b"", max_inline_bytes=0) == ""


def test_to_json_value_rejects_a_negative_limit() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        to_json_value(b"", max_inline_bytes=-1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_to_json_value_turns_non_finite_floats_into_null(value: float) -> None:
    assert to_json_value({"range": value}) == {"range": None}


def test_to_json_value_recurses_into_dicts_and_lists() -> None:
    plain = {
        "ranges": [1.0, math.inf, math.nan, 2.5],
        "points": [{"data": b"\x01", "w": (math.nan, 1)}],
        "nested": {"deeper": {"blob": bytearray(b"ab")}},
    }

    converted = to_json_value(plain)

    assert converted == {
        "ranges": [1.0, None, None, 2.5],
        "points": [{"data": "AQ==", "w": [None, 1]}],
        "nested": {"deeper": {"blob": "YWI="}},
    }
    json.dumps(converted, allow_nan=False)


def test_to_json_value_rejects_values_that_are_not_plain() -> None:
    with pytest.raises(TypeError, match="set is not a plain message value"):
        to_json_value({"x": {1, 2}})


def test_to_json_value_of_a_decoded_point_cloud_is_summarised() -> None:
    # Given a PointCloud2 with 10 kB of point data, serialised by rosbags and decoded with its definition
    types = TYPESTORE.types
    field = types["sensor_msgs/msg/PointField"]
    point_data = (np.arange(10_000) % 251).astype(np.uint8)
    cloud = types["sensor_msgs/msg/PointCloud2"](
        header=types["std_msgs/msg/Header"](
            seq=7, stamp=types["builtin_interfaces/msg/Time"](sec=5, nanosec=6), frame_id="lidar"
        ),
        height=1,
        width=625,
        fields=[field(name=axis, offset=4 * i, datatype=7, count=1) for i, axis in enumerate("xyzi")],
        is_bigendian=False,
        point_step=16,
        row_step=10_000,
        data=point_data,
        is_dense=True,
    )
    data = bytes(TYPESTORE.serialize_ros1(cloud, "sensor_msgs/msg/PointCloud2"))
    definition = TYPESTORE.generate_msgdef("sensor_msgs/msg/PointCloud2")[0]
    decoded = decode_ros1("sensor_msgs/PointCloud2", definition, data)

    # When it is made JSON
    converted = to_json_value(decoded)

    # Then the point data is a summary, the rest is kept, and the JSON is small and strict
    assert converted["data"] == {
        "size": 10_000,
        "head": base64.b64encode(point_data[:64].tobytes()).decode(),
        "truncated": True,
    }
    assert converted["header"] == {"seq": 7, "stamp": {"sec": 5, "nanosec": 6}, "frame_id": "lidar"}
    assert {key: converted["fields"][3][key] for key in ("name", "offset", "datatype", "count")} == {
        "name": "i",
        "offset": 12,
        "datatype": 7,
        "count": 1,
    }
    assert converted["is_dense"] is True
    assert len(json.dumps(converted, allow_nan=False)) < 1000


def test_to_json_value_leaves_the_plain_value_unchanged() -> None:
    plain: dict[str, Any] = {"data": b"\x01\x02", "x": math.nan}

    to_json_value(plain)

    assert plain["data"] == b"\x01\x02" and math.isnan(plain["x"])
