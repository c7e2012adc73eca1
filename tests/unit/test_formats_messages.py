"""Message decoders registered by ``type_encoding``: ros1, cdr (from the topic's own definitions), json."""

from __future__ import annotations

import json

import pytest
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from openlqs.formats.messages import (
    DECODERS,
    MessageDecodeError,
    NoDecoder,
    decode_message,
    encoding_of,
    is_decodable,
    to_json_value,
)

#: A custom ROS 2 type with a nested custom type and a standard one, as rosbag2 and MCAP write a
#: ``ros2msg`` schema: the type's own definition, then each dependency after a ``====`` line and a
#: ``MSG:`` header.
READING_DEFINITION = """\
builtin_interfaces/Time stamp
openlqs_test_msgs/Sample[] samples
string label
uint8 LEVEL_HIGH=2
================================================================================
MSG: openlqs_test_msgs/Sample
float64 value
uint8[] raw
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
"""
READING_TYPE = "openlqs_test_msgs/msg/Reading"

#: The same type as a ``ros2idl`` schema (rosbag2 writes one IDL file per type, each after a header).
READING_IDL = """\
================================================================================
IDL: openlqs_test_msgs/msg/Sample
module openlqs_test_msgs { module msg { struct Sample { double value; sequence<uint8> raw; }; }; };
================================================================================
IDL: openlqs_test_msgs/msg/Reading
module openlqs_test_msgs { module msg {
  struct Reading {
    builtin_interfaces::msg::Time stamp;
    sequence<openlqs_test_msgs::msg::Sample> samples;
    string label;
  };
}; };
"""


def _reading_cdr() -> bytes:
    store = get_typestore(Stores.LATEST)
    store.register(get_types_from_msg(READING_DEFINITION, READING_TYPE))
    types = store.types
    reading = types[READING_TYPE](
        stamp=types["builtin_interfaces/msg/Time"](sec=12, nanosec=34),
        samples=[
            types["openlqs_test_msgs/msg/Sample"](value=1.5, raw=_uint8(b"\x01\x02")),
            types["openlqs_test_msgs/msg/Sample"](value=-2.0, raw=_uint8(b"")),
        ],
        label="bench",
    )
    return bytes(store.serialize_cdr(reading, READING_TYPE))


def _uint8(data: bytes) -> object:
    import numpy as np

    return np.frombuffer(data, dtype=np.uint8)


EXPECTED_READING = {
    "stamp": {"sec": 12, "nanosec": 34},
    "samples": [{"value": 1.5, "raw": b"\x01\x02"}, {"value": -2.0, "raw": b""}],
    "label": "bench",
}


def test_decode_cdr_builds_a_custom_type_from_the_topics_type_data() -> None:
    data = _reading_cdr()

    assert data[:4] == b"\x00\x01\x00\x00"  # the CDR encapsulation header is part of the bytes
    assert decode_message("cdr", READING_TYPE, READING_DEFINITION, data) == EXPECTED_READING


def test_decode_cdr_reads_a_ros2idl_schema() -> None:
    assert decode_message("cdr", READING_TYPE, READING_IDL, _reading_cdr()) == EXPECTED_READING


def test_decode_cdr_of_a_known_type_needs_no_type_data() -> None:
    store = get_typestore(Stores.LATEST)
    message = store.types["geometry_msgs/msg/Point"](x=1.0, y=2.0, z=3.0)
    data = bytes(store.serialize_cdr(message, "geometry_msgs/msg/Point"))

    assert decode_message("cdr", "geometry_msgs/msg/Point", "", data) == {"x": 1.0, "y": 2.0, "z": 3.0}
    assert decode_message("cdr", "geometry_msgs/Point", None, data) == {"x": 1.0, "y": 2.0, "z": 3.0}


def test_decode_cdr_adds_missing_dependencies_from_the_known_types() -> None:
    store = get_typestore(Stores.LATEST)
    definition = "geometry_msgs/Point where\nstring name\n"  # the Point definition left out
    store.register(get_types_from_msg(definition, "openlqs_test_msgs/msg/Place"))
    place = store.types["openlqs_test_msgs/msg/Place"](
        where=store.types["geometry_msgs/msg/Point"](x=4.0, y=5.0, z=6.0), name="dock"
    )
    data = bytes(store.serialize_cdr(place, "openlqs_test_msgs/msg/Place"))

    decoded = decode_message("cdr", "openlqs_test_msgs/msg/Place", definition, data)

    assert decoded == {"where": {"x": 4.0, "y": 5.0, "z": 6.0}, "name": "dock"}


def test_decode_cdr_of_an_unknown_type_without_type_data_is_a_decode_error() -> None:
    with pytest.raises(MessageDecodeError, match="openlqs_test_msgs/msg/Nowhere"):
        decode_message("cdr", "openlqs_test_msgs/msg/Nowhere", "", b"\x00\x01\x00\x00")


def test_decode_cdr_of_bytes_that_do_not_match_is_a_decode_error() -> None:
    with pytest.raises(MessageDecodeError, match="do not decode"):
        decode_message("cdr", READING_TYPE, READING_DEFINITION, b"\x00\x01\x00\x00\x01")


def test_decode_json_loads_utf8_json() -> None:
    data = json.dumps({"clientX": 10, "label": "é"}).encode()

    assert decode_message("json", "MouseEvent", '{"type": "object"}', data) == {"clientX": 10, "label": "é"}


@pytest.mark.parametrize("data", [b"{not json", b"\xff\xfe", b"[1, 2]"])
def test_decode_json_refuses_what_is_not_a_json_object(data: bytes) -> None:
    with pytest.raises(MessageDecodeError):
        decode_message("json", "MouseEvent", "", data)


def test_decode_ros1_through_the_registry() -> None:
    data = b"\x05\x00\x00\x00hello"

    assert decode_message("ros1", "std_msgs/String", "string data\n", data) == {"data": "hello"}


@pytest.mark.parametrize("encoding", [None, "protobuf", "flatbuffer", "cbor", "ros2msg", ""])
def test_decode_without_a_decoder_says_so(encoding: str | None) -> None:
    assert is_decodable(encoding) is False

    with pytest.raises(NoDecoder, match="no decoder"):
        decode_message(encoding, "foxglove.LaserScan", None, b"\x08\x01")


def test_decoders_are_registered_by_the_contracts_type_encodings() -> None:
    assert set(DECODERS) == {"ros1", "cdr", "json"}
    assert all(is_decodable(name) for name in DECODERS)


def test_decoded_cdr_converts_to_strict_json_values() -> None:
    plain = decode_message("cdr", READING_TYPE, READING_DEFINITION, _reading_cdr())

    value = to_json_value(plain)

    json.dumps(value, allow_nan=False)
    assert value["samples"][0]["raw"] == "AQI="


def test_decode_cdr_remembers_a_definition_that_does_not_build() -> None:
    from openlqs.formats.messages import _cdr_typestore_or_error

    name = "openlqs_test_msgs/msg/Broken"
    for _ in range(3):
        with pytest.raises(MessageDecodeError, match="cannot be built"):
            decode_message("cdr", name, "this is not ( a definition", b"\x00\x01\x00\x00")

    assert _cdr_typestore_or_error.cache_info().hits >= 2


@pytest.mark.parametrize(
    ("type_encoding", "type_name", "type_data", "decoder"),
    [
        ("ros1", "std_msgs/String", "string data", "ros1"),
        ("ros1", "std_msgs/String", None, None),  # a ROS 1 message needs its definition
        ("cdr", "std_msgs/msg/String", None, "cdr"),  # rosbags knows the standard ROS 2 types
        ("cdr", None, "string data", None),
        ("json", None, None, "json"),
        (None, "std_msgs/String", "string data", "ros1"),  # a topic made through the API, untyped
        (None, "foxglove.LaserScan", None, None),  # an MCAP protobuf channel: bytes only
        ("rbuf", "Type", "{}", None),
    ],
)
def test_encoding_of_a_topic_names_its_decoder_or_none(
    type_encoding: str | None, type_name: str | None, type_data: str | None, decoder: str | None
) -> None:
    assert encoding_of(type_encoding, type_name, type_data) == decoder
