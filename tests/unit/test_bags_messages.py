"""Decoding ROS 1 messages with a topic's own definition, into plain Python values."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from openlqs.formats.messages import MessageDecodeError, decode_ros1, rosbags_type_name, to_plain

TWIST_DEFINITION = """Vector3  linear
Vector3  angular

================================================================================
MSG: geometry_msgs/Vector3
float64 x
float64 y
float64 z
"""


@pytest.mark.parametrize(
    ("ros1", "rosbags"),
    [
        ("turtlesim/Pose", "turtlesim/msg/Pose"),
        ("turtlesim/msg/Pose", "turtlesim/msg/Pose"),
        ("Header", "Header"),
        ("my/nested_pkg/Thing", "my/nested_pkg/msg/Thing"),
    ],
)
def test_rosbags_type_name_adds_msg_once(ros1: str, rosbags: str) -> None:
    assert rosbags_type_name(ros1) == rosbags


def test_to_plain_turns_a_message_into_dicts_and_bytes() -> None:
    store = get_typestore(Stores.ROS1_NOETIC)
    header = store.types["std_msgs/msg/Header"](
        seq=3, stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam"
    )
    image = store.types["sensor_msgs/msg/Image"](
        header=header,
        height=1,
        width=2,
        encoding="mono8",
        is_bigendian=0,
        step=2,
        data=np.array([1, 2], dtype=np.uint8),
    )

    assert to_plain(image) == {
        "header": {"seq": 3, "stamp": {"sec": 1, "nanosec": 2}, "frame_id": "cam"},
        "height": 1,
        "width": 2,
        "encoding": "mono8",
        "is_bigendian": 0,
        "step": 2,
        "data": b"\x01\x02",
    }


def test_to_plain_turns_numbers_into_python_values() -> None:
    plain = to_plain([np.float32(0.5), np.array([1.5, 2.5]), (np.int64(7),)])

    assert plain == [0.5, [1.5, 2.5], [7]]
    assert type(plain[0]) is float and type(plain[2][0]) is int


def test_decode_ros1_uses_the_definition_and_its_dependencies() -> None:
    decoded = decode_ros1("geometry_msgs/Twist", TWIST_DEFINITION, struct.pack("<6d", 1, 2, 3, 4, 5, 6))

    assert decoded == {"linear": {"x": 1.0, "y": 2.0, "z": 3.0}, "angular": {"x": 4.0, "y": 5.0, "z": 6.0}}


def test_decode_ros1_reads_a_custom_type() -> None:
    data = struct.pack("<I3BI2fi", 3, 1, 2, 3, 2, 0.5, 1.5, -4)

    decoded = decode_ros1("my_pkg/Blob", "uint8[] data\nfloat32[] values\nint32 n\n", data)

    assert decoded == {"data": b"\x01\x02\x03", "values": [0.5, 1.5], "n": -4}


def test_decode_ros1_bytes_too_short_for_the_definition() -> None:
    with pytest.raises(MessageDecodeError, match="do not decode as geometry_msgs/Twist"):
        decode_ros1("geometry_msgs/Twist", TWIST_DEFINITION, b"12")


def test_decode_ros1_unparsable_definition() -> None:
    with pytest.raises(MessageDecodeError, match="cannot be parsed"):
        decode_ros1("my_pkg/Bad", "flaot64 ][ x", b"")


def test_to_plain_keeps_signed_byte_arrays_as_numbers() -> None:
    assert to_plain(np.array([-1, 2], dtype=np.int8)) == [-1, 2]
    assert to_plain(np.array([255, 2], dtype=np.uint8)) == b"\xff\x02"


def test_to_plain_leaves_message_constants_out() -> None:
    store = get_typestore(Stores.ROS1_NOETIC)
    field_type = store.types["sensor_msgs/msg/PointField"]

    plain = to_plain(field_type(name="x", offset=0, datatype=7, count=1))

    assert plain == {"name": "x", "offset": 0, "datatype": 7, "count": 1}
