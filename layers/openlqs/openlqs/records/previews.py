"""Image previews of records: a small WebP of a ``sensor_msgs/Image`` or ``CompressedImage`` message.

A record's ``auxiliary_data`` on an image topic is ``{"image": <base64 WebP>, "max_size": 640,
"quality": 80, "format": "webp"}``, the shape the official client decodes with PIL
(``utils.load_auxiliary_data_image``). The input is the message as
:func:`openlqs.formats.messages.decode_ros1` returns it (``data`` as bytes).

Raw ``sensor_msgs/Image`` encodings understood:

* ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``, and OpenCV's ``8UC1`` (as mono8), ``8UC3`` (as
  bgr8, cv_bridge's convention) and ``8UC4`` (as bgra8);
* ``mono16`` and ``16UC1`` (depth in mm), honouring ``is_bigendian``, and ``32FC1`` (depth in m):
  stretched linearly from the image's smallest to its largest value onto 0-255, like image_view's
  dynamic scaling, since a fixed ``>> 8`` shows a depth image in mm as black. A constant image is
  shown at its level on the 16-bit range (black for floats); non-finite floats are black;
* 8-bit ``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``, ``bayer_grbg8``: debayered by 2x2 binning,
  each 2x2 cell giving one RGB pixel (its red, the mean of its two greens, its blue), so the preview
  is built from half the resolution (an odd last row or column is dropped). A preview is at most
  640 px, so the lost resolution rarely shows, and the binning needs no interpolation.

Rows are read ``step`` bytes apart, so padded rows work; ``step`` 0 means unpadded rows. Bytes past
``step x height`` are ignored; fewer are an error.

``CompressedImage`` data is anything Pillow opens (jpeg, png, …); JPEGs are decoded at a reduced
scale when the preview is much smaller than the image.

Pillow and numpy are imported when a preview is made, so this module imports without them (the client
does not need them).
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: Defaults of the official service's previews.
DEFAULT_MAX_SIZE = 640
DEFAULT_QUALITY = 80

#: WebP cannot be wider or taller than this.
_WEBP_MAX_SIDE = 16383

IMAGE_TYPES = frozenset({"sensor_msgs/Image", "sensor_msgs/msg/Image"})
COMPRESSED_IMAGE_TYPES = frozenset({"sensor_msgs/CompressedImage", "sensor_msgs/msg/CompressedImage"})

#: Encodings of 8-bit colour or grey pixels: (bytes per pixel, Pillow mode, Pillow raw mode).
_PACKED_8BIT = {
    "rgb8": (3, "RGB", "RGB"),
    "bgr8": (3, "RGB", "BGR"),
    "8UC3": (3, "RGB", "BGR"),
    "rgba8": (4, "RGBA", "RGBA"),
    "bgra8": (4, "RGBA", "BGRA"),
    "8UC4": (4, "RGBA", "BGRA"),
    "mono8": (1, "L", "L"),
    "8UC1": (1, "L", "L"),
}
_MONO16 = frozenset({"mono16", "16UC1"})
_FLOAT32 = frozenset({"32FC1"})
#: Position of red and blue in the 2x2 cell, as (row, column); green fills the other two.
_BAYER = {
    "bayer_rggb8": ((0, 0), (1, 1)),
    "bayer_bggr8": ((1, 1), (0, 0)),
    "bayer_gbrg8": ((1, 0), (0, 1)),
    "bayer_grbg8": ((0, 1), (1, 0)),
}


class PreviewError(ValueError):
    """An image message whose data cannot be made into a preview (bad size, unknown encoding…)."""


def is_image_type(type_name: str) -> bool:
    """Whether a topic of this type gets image previews."""
    return type_name in IMAGE_TYPES or type_name in COMPRESSED_IMAGE_TYPES


def image_preview(
    type_name: str,
    message: dict[str, Any],
    max_size: int = DEFAULT_MAX_SIZE,
    quality: int = DEFAULT_QUALITY,
) -> dict[str, Any] | None:
    """The ``auxiliary_data`` preview of an image message, or None for a type that is not an image.

    The image is scaled down so that its longest side is at most ``max_size`` px, keeping its aspect
    ratio (never scaled up), and encoded as lossy WebP of ``quality`` (0-100). ``PreviewError`` when
    the message is an image whose data does not fit its fields or whose encoding is not understood;
    ``ValueError`` for ``max_size`` or ``quality`` out of range.
    """
    if not 1 <= max_size <= _WEBP_MAX_SIDE:
        raise ValueError(f"max_size must be between 1 and {_WEBP_MAX_SIDE}, not {max_size}")
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be between 0 and 100, not {quality}")
    if type_name in IMAGE_TYPES:
        image = _raw_image(message)
    elif type_name in COMPRESSED_IMAGE_TYPES:
        image = _compressed_image(message, max_size)
    else:
        return None

    from PIL import Image

    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    output = io.BytesIO()
    image.save(output, format="WEBP", quality=quality)
    return {
        "image": base64.b64encode(output.getvalue()).decode("ascii"),
        "max_size": max_size,
        "quality": quality,
        "format": "webp",
    }


def _field(message: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = message.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PreviewError(f"the image has no valid {name!r} field")
    return value


def _raw_image(message: dict[str, Any]) -> Image.Image:
    import numpy as np
    from PIL import Image

    width = _field(message, "width", int)
    height = _field(message, "height", int)
    step = _field(message, "step", int)
    encoding = _field(message, "encoding", str)
    data = bytes(_field(message, "data", (bytes, bytearray, memoryview)))
    if width <= 0 or height <= 0:
        raise PreviewError(f"the image is empty ({width}x{height})")

    if encoding in _PACKED_8BIT:
        pixel_bytes, mode, raw_mode = _PACKED_8BIT[encoding]
        step = _check_size(data, width, height, step, pixel_bytes, encoding)
        return Image.frombuffer(mode, (width, height), data, "raw", raw_mode, step, 1)
    if encoding in _MONO16 or encoding in _FLOAT32:
        pixel_bytes, kind, full_scale = (2, "u2", 65535.0) if encoding in _MONO16 else (4, "f4", None)
        step = _check_size(data, width, height, step, pixel_bytes, encoding)
        order = ">" if message.get("is_bigendian") else "<"
        pixels = _rows(data, height, step, width * pixel_bytes).view(f"{order}{kind}")
        return Image.fromarray(_grey(pixels, full_scale), "L")
    if encoding in _BAYER:
        if width < 2 or height < 2:
            raise PreviewError(f"a {encoding} image needs at least 2x2 pixels, not {width}x{height}")
        step = _check_size(data, width, height, step, 1, encoding)
        cells = _rows(data, height, step, width)[: height // 2 * 2, : width // 2 * 2].astype(np.uint16)
        (red_row, red_col), (blue_row, blue_col) = _BAYER[encoding]
        red = cells[red_row::2, red_col::2]
        blue = cells[blue_row::2, blue_col::2]
        green = (cells[red_row::2, 1 - red_col :: 2] + cells[blue_row::2, 1 - blue_col :: 2] + 1) // 2
        return Image.fromarray(np.dstack([red, green, blue]).astype(np.uint8), "RGB")
    raise PreviewError(f"unsupported image encoding {encoding!r}")


def _check_size(data: bytes, width: int, height: int, step: int, pixel_bytes: int, encoding: str) -> int:
    """The row step to use (``step``, or the packed row size when 0), after checking the sizes fit."""
    row_bytes = width * pixel_bytes
    if step == 0:
        step = row_bytes
    if step < row_bytes:
        raise PreviewError(f"step {step} is shorter than a row of {width} {encoding} pixels ({row_bytes})")
    if len(data) < step * height:
        raise PreviewError(
            f"{len(data)} bytes of data for a {width}x{height} {encoding} image with step {step} "
            f"(expected {step * height})"
        )
    return step


def _rows(data: bytes, height: int, step: int, row_bytes: int) -> np.ndarray:
    """The image's rows as a (height, row_bytes) uint8 array, padding cut off."""
    import numpy as np

    return np.frombuffer(data, dtype=np.uint8, count=height * step).reshape(height, step)[:, :row_bytes]


def _grey(values: np.ndarray, full_scale: float | None) -> np.ndarray:
    """8-bit grey of one-channel values: stretched linearly from their minimum to their maximum.

    Non-finite values are black. A constant image is shown at its level on ``full_scale`` (the
    integer type's range), or black when there is none (floats).
    """
    import numpy as np

    values = values.astype(np.float64)
    finite = np.isfinite(values)
    grey = np.zeros(values.shape, dtype=np.uint8)
    if not finite.any():
        return grey
    low, high = float(values[finite].min()), float(values[finite].max())
    if low == high:
        level = 0.0 if full_scale is None else low * 255.0 / full_scale
        grey[finite] = np.uint8(np.clip(round(level), 0, 255))
        return grey
    grey[finite] = np.rint((values[finite] - low) * (255.0 / (high - low))).astype(np.uint8)
    return grey


def _compressed_image(message: dict[str, Any], max_size: int) -> Image.Image:
    from PIL import Image

    data = bytes(_field(message, "data", (bytes, bytearray, memoryview)))
    try:
        image = Image.open(io.BytesIO(data))
        # JPEG only: decode at 1/2, 1/4 or 1/8 scale while that stays twice the preview's size (as
        # Image.thumbnail would, but here so that a decoding error is caught with the others).
        image.draft(None, (2 * max_size, 2 * max_size))
        image.load()
    except Exception as error:  # Pillow raises many unrelated types for undecodable data
        fmt = message.get("format") or "unknown format"
        raise PreviewError(f"the compressed image ({fmt}) cannot be decoded: {error}") from error
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit PNG (compressedDepth's payload)…
        import numpy as np

        full_scale = None if image.mode == "F" else 65535.0
        return Image.fromarray(_grey(np.asarray(image), full_scale), "L")
    return image
