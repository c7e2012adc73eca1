"""Image previews: sensor_msgs/Image and CompressedImage messages as small WebP images."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from openlqs.formats.messages import decode_ros1
from openlqs.records.previews import PreviewError, image_preview, is_image_type
from tests.support.bags import TYPESTORE

#: Lossy WebP (quality 80, 4:2:0 chroma) moves colours a little.
TOLERANCE = 12


def image_message(pixels: np.ndarray, encoding: str, *, step: int | None = None, **fields: Any) -> dict:
    """A decoded sensor_msgs/Image message of ``pixels`` (height, width[, channels])."""
    height, width = pixels.shape[:2]
    data = pixels.tobytes()
    row_bytes = len(data) // height
    if step is not None and step > row_bytes:  # pad every row with 0xEE bytes
        rows = [
            data[i * row_bytes : (i + 1) * row_bytes] + b"\xee" * (step - row_bytes) for i in range(height)
        ]
        data = b"".join(rows)
    return {
        "header": {"seq": 0, "stamp": {"sec": 0, "nanosec": 0}, "frame_id": "camera"},
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": row_bytes if step is None else step,
        "data": data,
        **fields,
    }


def compressed_message(image: Image.Image, image_format: str) -> dict:
    output = io.BytesIO()
    image.save(output, format=image_format)
    return {
        "header": {"seq": 0, "stamp": {"sec": 0, "nanosec": 0}, "frame_id": "camera"},
        "format": image_format.lower(),
        "data": output.getvalue(),
    }


def open_preview(preview: dict | None) -> Image.Image:
    """The preview decoded as the official client does (base64, then PIL)."""
    assert preview is not None
    image = Image.open(io.BytesIO(base64.b64decode(preview["image"])))
    assert image.format == "WEBP"
    return image.convert("RGB")


def solid(width: int, height: int, colour: tuple[int, ...]) -> np.ndarray:
    return np.full((height, width, len(colour)), colour, dtype=np.uint8)


def centre(image: Image.Image) -> tuple[int, ...]:
    pixel = image.getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple)
    return pixel


def assert_colour(actual: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert all(abs(a - e) <= TOLERANCE for a, e in zip(actual, expected, strict=True)), (actual, expected)


def test_image_preview_has_the_official_shape() -> None:
    preview = image_preview("sensor_msgs/Image", image_message(solid(8, 4, (1, 2, 3)), "rgb8"))

    assert preview is not None
    assert set(preview) == {"image", "max_size", "quality", "format"}
    assert (preview["max_size"], preview["quality"], preview["format"]) == (640, 80, "webp")


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280), (1000, 333), (641, 640)])
def test_image_preview_scales_the_longest_side_to_640_keeping_the_aspect_ratio(
    width: int, height: int
) -> None:
    message = image_message(solid(width, height, (10, 200, 30)), "rgb8")

    image = open_preview(image_preview("sensor_msgs/msg/Image", message))

    assert max(image.size) == 640
    if width >= height:
        assert abs(image.height - 640 * height / width) <= 1
    else:
        assert abs(image.width - 640 * width / height) <= 1


def test_image_preview_honours_a_smaller_max_size() -> None:
    preview = image_preview(
        "sensor_msgs/Image", image_message(solid(400, 200, (0, 0, 0)), "rgb8"), max_size=100
    )

    assert preview is not None and preview["max_size"] == 100
    assert open_preview(preview).size == (100, 50)


def test_image_preview_never_scales_a_small_image_up() -> None:
    image = open_preview(
        image_preview("sensor_msgs/Image", image_message(solid(320, 200, (9, 9, 9)), "rgb8"))
    )

    assert image.size == (320, 200)


@pytest.mark.parametrize(
    ("encoding", "pixel", "expected"),
    [
        ("rgb8", (255, 0, 0), (255, 0, 0)),
        ("bgr8", (255, 0, 0), (0, 0, 255)),
        ("8UC3", (255, 0, 0), (0, 0, 255)),
        ("rgba8", (0, 200, 0, 255), (0, 200, 0)),
        ("bgra8", (200, 0, 0, 255), (0, 0, 200)),
    ],
)
def test_image_preview_reads_channels_in_the_encodings_order(
    encoding: str, pixel: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    image = open_preview(image_preview("sensor_msgs/Image", image_message(solid(64, 48, pixel), encoding)))

    assert_colour(centre(image), expected)


def test_image_preview_keeps_left_and_right_apart() -> None:
    pixels = solid(200, 100, (255, 0, 0))
    pixels[:, 100:] = (0, 0, 255)

    image = open_preview(image_preview("sensor_msgs/Image", image_message(pixels, "rgb8")))

    assert_colour(image.getpixel((20, 50)), (255, 0, 0))  # type: ignore[arg-type]
    assert_colour(image.getpixel((180, 50)), (0, 0, 255))  # type: ignore[arg-type]


def test_image_preview_of_mono8_is_grey() -> None:
    image = open_preview(
        image_preview("sensor_msgs/Image", image_message(np.full((30, 40), 77, np.uint8), "mono8"))
    )

    assert_colour(centre(image), (77, 77, 77))


@pytest.mark.parametrize("big_endian", [False, True])
def test_image_preview_stretches_mono16_from_its_minimum_to_its_maximum(big_endian: bool) -> None:
    # Given a depth-like image in mm: 1000 on the left half, 3000 on the right
    depth = np.full((40, 80), 1000, dtype=">u2" if big_endian else "<u2")
    depth[:, 40:] = 3000
    message = image_message(depth, "mono16", is_bigendian=int(big_endian))

    image = open_preview(image_preview("sensor_msgs/Image", message))

    # Then its range fills the 8 bits rather than 1000 >> 8 = 3 and 3000 >> 8 = 11
    assert_colour(image.getpixel((10, 20)), (0, 0, 0))  # type: ignore[arg-type]
    assert_colour(image.getpixel((70, 20)), (255, 255, 255))  # type: ignore[arg-type]


def test_image_preview_shows_a_constant_mono16_image_at_its_level() -> None:
    message = image_message(np.full((10, 10), 32768, dtype="<u2"), "mono16")

    assert_colour(centre(open_preview(image_preview("sensor_msgs/Image", message))), (128, 128, 128))


def test_image_preview_stretches_32fc1_depth_and_blacks_out_nan() -> None:
    depth = np.full((40, 90), 0.5, dtype="<f4")
    depth[:, 30:60] = np.nan
    depth[:, 60:] = 4.5

    image = open_preview(image_preview("sensor_msgs/Image", image_message(depth, "32FC1")))

    assert_colour(image.getpixel((10, 20)), (0, 0, 0))  # type: ignore[arg-type]
    assert_colour(image.getpixel((45, 20)), (0, 0, 0))  # type: ignore[arg-type]
    assert_colour(image.getpixel((80, 20)), (255, 255, 255))  # type: ignore[arg-type]


def test_image_preview_skips_the_row_padding_of_step() -> None:
    # Given rows of 30 rgb8 pixels padded to 96 bytes with 0xEE
    message = image_message(solid(30, 20, (0, 0, 255)), "rgb8", step=96)
    assert len(message["data"]) == 96 * 20

    image = open_preview(image_preview("sensor_msgs/Image", message))

    # Then the padding does not leak into the picture (it would shear and tint it)
    assert image.size == (30, 20)
    for x in (1, 15, 28):
        assert_colour(image.getpixel((x, 10)), (0, 0, 255))  # type: ignore[arg-type]


def test_image_preview_takes_step_0_as_unpadded_rows() -> None:
    message = image_message(solid(16, 8, (0, 255, 0)), "rgb8", step=0)
    message["step"] = 0

    assert_colour(centre(open_preview(image_preview("sensor_msgs/Image", message))), (0, 255, 0))


@pytest.mark.parametrize(
    ("encoding", "cell"),
    [
        ("bayer_rggb8", [[200, 100], [100, 20]]),
        ("bayer_bggr8", [[20, 100], [100, 200]]),
        ("bayer_gbrg8", [[100, 20], [200, 100]]),
        ("bayer_grbg8", [[100, 200], [20, 100]]),
    ],
)
def test_image_preview_debayers_by_binning_2x2_cells(encoding: str, cell: list[list[int]]) -> None:
    # Given a sensor seeing red 200, green 100, blue 20 everywhere, in the pattern's own layout
    mosaic = np.tile(np.array(cell, dtype=np.uint8), (30, 40))

    image = open_preview(image_preview("sensor_msgs/Image", image_message(mosaic, encoding)))

    assert image.size == (40, 30)  # half of 80x60
    assert_colour(centre(image), (200, 100, 20))


def test_image_preview_debayer_drops_an_odd_last_row_and_column() -> None:
    mosaic = np.tile(np.array([[200, 100], [100, 20]], dtype=np.uint8), (6, 6))[:11, :11]

    assert open_preview(image_preview("sensor_msgs/Image", image_message(mosaic, "bayer_rggb8"))).size == (
        5,
        5,
    )


@pytest.mark.parametrize(("image_format", "mode"), [("JPEG", "RGB"), ("PNG", "RGB"), ("PNG", "RGBA")])
def test_image_preview_of_compressed_images(image_format: str, mode: str) -> None:
    source = Image.new(mode, (1600, 900), (200, 30, 40, 255)[: len(mode)])

    image = open_preview(
        image_preview("sensor_msgs/CompressedImage", compressed_message(source, image_format))
    )

    assert image.size == (640, 360)
    assert_colour(centre(image), (200, 30, 40))


def test_image_preview_of_a_16bit_png_is_stretched_to_grey() -> None:
    depth = np.zeros((20, 40), dtype=np.uint16)
    depth[:, 20:] = 5000
    source = Image.fromarray(depth)

    image = open_preview(image_preview("sensor_msgs/msg/CompressedImage", compressed_message(source, "PNG")))

    assert_colour(image.getpixel((5, 10)), (0, 0, 0))  # type: ignore[arg-type]
    assert_colour(image.getpixel((35, 10)), (255, 255, 255))  # type: ignore[arg-type]


def test_image_preview_of_a_small_jpeg_keeps_its_size() -> None:
    message = compressed_message(Image.new("RGB", (100, 50), (0, 0, 0)), "JPEG")

    assert open_preview(image_preview("sensor_msgs/CompressedImage", message)).size == (100, 50)


def test_image_preview_of_a_message_decoded_from_ros1_bytes() -> None:
    # Given an rgb8 Image serialised by rosbags and decoded with the topic's own definition
    types = TYPESTORE.types
    pixels = solid(1280, 720, (0, 0, 255))
    message = types["sensor_msgs/msg/Image"](
        header=types["std_msgs/msg/Header"](
            seq=1, stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="camera"
        ),
        height=720,
        width=1280,
        encoding="rgb8",
        is_bigendian=0,
        step=1280 * 3,
        data=pixels.reshape(-1),
    )
    data = bytes(TYPESTORE.serialize_ros1(message, "sensor_msgs/msg/Image"))
    definition = TYPESTORE.generate_msgdef("sensor_msgs/msg/Image")[0]

    decoded = decode_ros1("sensor_msgs/Image", definition, data)
    image = open_preview(image_preview("sensor_msgs/Image", decoded))

    assert image.size == (640, 360)
    assert_colour(centre(image), (0, 0, 255))


@pytest.mark.parametrize("type_name", ["geometry_msgs/Twist", "std_msgs/String", "sensor_msgs/PointCloud2"])
def test_image_preview_is_none_for_other_types(type_name: str) -> None:
    assert image_preview(type_name, {"linear": {"x": 1.0}}) is None
    assert not is_image_type(type_name)


def test_is_image_type_knows_both_spellings() -> None:
    assert all(
        is_image_type(name)
        for name in ("sensor_msgs/Image", "sensor_msgs/msg/Image", "sensor_msgs/CompressedImage")
    )


def test_image_preview_rejects_a_short_data_buffer() -> None:
    message = image_message(solid(64, 48, (1, 2, 3)), "rgb8")
    message["data"] = message["data"][:-1]

    with pytest.raises(PreviewError, match=r"9215 bytes of data for a 64x48 rgb8 image"):
        image_preview("sensor_msgs/Image", message)


def test_image_preview_rejects_a_step_shorter_than_a_row() -> None:
    message = image_message(solid(64, 48, (1, 2, 3)), "rgb8")
    message["step"] = 64

    with pytest.raises(PreviewError, match="step 64 is shorter than a row"):
        image_preview("sensor_msgs/Image", message)


@pytest.mark.parametrize("encoding", ["yuv422", "bayer_rggb16", "", "RGB8"])
def test_image_preview_rejects_an_unknown_encoding(encoding: str) -> None:
    with pytest.raises(PreviewError, match="unsupported image encoding"):
        image_preview("sensor_msgs/Image", image_message(solid(4, 4, (1, 2, 3)), encoding))


def test_image_preview_rejects_an_empty_image() -> None:
    message = image_message(solid(4, 4, (1, 2, 3)), "rgb8")
    message["width"] = 0

    with pytest.raises(PreviewError, match="empty"):
        image_preview("sensor_msgs/Image", message)


def test_image_preview_rejects_a_message_without_data() -> None:
    message = image_message(solid(4, 4, (1, 2, 3)), "rgb8")
    del message["data"]

    with pytest.raises(PreviewError, match="'data'"):
        image_preview("sensor_msgs/Image", message)


def test_image_preview_rejects_compressed_bytes_pillow_cannot_open() -> None:
    message = {"format": "jpeg", "data": b"\xff\xd8\xff\xe0 not really a jpeg"}

    with pytest.raises(PreviewError, match=r"compressed image \(jpeg\) cannot be decoded"):
        image_preview("sensor_msgs/CompressedImage", message)


def test_preview_error_is_a_value_error() -> None:
    assert issubclass(PreviewError, ValueError)


@pytest.mark.parametrize(("max_size", "quality"), [(0, 80), (640, 101), (640, -1), (20000, 80)])
def test_image_preview_rejects_out_of_range_settings(max_size: int, quality: int) -> None:
    message = image_message(solid(4, 4, (1, 2, 3)), "rgb8")

    with pytest.raises(ValueError, match="must be between"):
        image_preview("sensor_msgs/Image", message, max_size=max_size, quality=quality)


def test_previews_module_imports_without_pillow() -> None:
    # The client imports openlqs modules without the server extra: Pillow must load only on use.
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['PIL'] = None; sys.modules['numpy'] = None\n"
        "import openlqs.records.previews as p\n"
        "assert p.image_preview('geometry_msgs/Twist', {}) is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
