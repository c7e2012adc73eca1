"""The generated camera bag (tests/support/bags.py): it reads back with rosbags, and its images preview."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image
from rosbags.rosbag1 import Reader

from openlqs.formats.messages import decode_ros1
from openlqs.records.previews import image_preview
from tests.support.bags import IMAGE_BAG_START_NS, TYPESTORE, write_image_bag


def test_write_image_bag_holds_camera_topics_and_a_10_hz_topic(tmp_path: Path) -> None:
    bag = write_image_bag(tmp_path / "cameras.bag", seconds=3, images_per_topic=2)

    with Reader(bag.path) as reader:
        counts = {topic: info.msgcount for topic, info in reader.topics.items()}
        types = {topic: info.msgtype for topic, info in reader.topics.items()}
        cmd_vel = [
            timestamp for connection, timestamp, _ in reader.messages() if connection.topic == "/cmd_vel"
        ]
        rgb: Any = next(
            TYPESTORE.deserialize_ros1(data, connection.msgtype)
            for connection, _, data in reader.messages()
            if connection.topic == "/camera/rgb"
        )

    assert (
        counts
        == bag.topic_counts
        == {"/camera/rgb": 2, "/camera/mono": 2, "/camera/compressed": 2, "/cmd_vel": 30}
    )
    assert types == bag.topic_types
    assert types["/camera/compressed"] == "sensor_msgs/msg/CompressedImage"
    assert cmd_vel == [IMAGE_BAG_START_NS + i * 100_000_000 for i in range(30)]
    assert (rgb.width, rgb.height, rgb.encoding, rgb.step) == (1280, 720, "rgb8", 3840)
    assert tuple(rgb.data[:3]) == (0, 255, 0)  # the green band along the top


def test_previews_of_every_image_topic_of_the_generated_bag(tmp_path: Path) -> None:
    # Given the camera bag, its messages decoded with each topic's own definition (as the API will)
    bag = write_image_bag(tmp_path / "cameras.bag", seconds=1, images_per_topic=1)
    sizes = {}
    with Reader(bag.path) as reader:
        for connection, _, data in reader.messages():
            type_name = connection.msgtype.replace("/msg/", "/")
            message = decode_ros1(type_name, connection.msgdef.data, data)

            # When a preview is made
            preview = image_preview(type_name, message)

            if connection.topic == "/cmd_vel":
                assert preview is None
                continue
            assert preview is not None
            image = Image.open(io.BytesIO(base64.b64decode(preview["image"])))
            sizes[connection.topic] = image.size

    # Then each is at most 640 px with the source's aspect ratio
    assert sizes == {"/camera/rgb": (640, 360), "/camera/mono": (640, 480), "/camera/compressed": (640, 480)}
