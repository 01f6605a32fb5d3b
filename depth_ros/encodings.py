"""Image encodings (``sensor_msgs/image_encodings`` names): the one table of how pixels are stored and where their
red, green and blue are. Used by the message conversions (``messages.py``) and the pipeline's numpy input."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Encoding:
    """``channels`` of ``channel_bytes`` each per pixel (packed YUV 4:2:2: 2 per pixel); ``rgb`` selects R, G, B
    along the channel axis (mono replicated), or is None where a conversion is needed (Bayer, YUV)."""

    channels: int
    channel_bytes: int
    rgb: slice | list[int] | None = None


_RGB, _BGR, _MONO = slice(0, 3), slice(2, None, -1), [0, 0, 0]

COLOUR_ENCODINGS: dict[str, Encoding] = {
    **{f"rgb{bits}": Encoding(3, bits // 8, _RGB) for bits in (8, 16)},
    **{f"bgr{bits}": Encoding(3, bits // 8, _BGR) for bits in (8, 16)},
    **{f"rgba{bits}": Encoding(4, bits // 8, _RGB) for bits in (8, 16)},
    **{f"bgra{bits}": Encoding(4, bits // 8, _BGR) for bits in (8, 16)},
    **{f"mono{bits}": Encoding(1, bits // 8, _MONO) for bits in (8, 16)},
    **{f"bayer_{tile}{bits}": Encoding(1, bits // 8) for tile in ("rggb", "bggr", "gbrg", "grbg") for bits in (8, 16)},
    **{name: Encoding(2, 1) for name in ("yuv422", "uyvy", "yuyv", "yuv422_yuy2")},
}
DEPTH_ENCODINGS: dict[str, Encoding] = {"32FC1": Encoding(1, 4), "16UC1": Encoding(1, 2)}
# The colour encodings a numpy image may have when given to the pipeline directly: 8-bit, no conversion needed.
ARRAY_ENCODINGS: dict[str, Encoding] = {
    name: encoding for name, encoding in COLOUR_ENCODINGS.items() if encoding.channel_bytes == 1 and encoding.rgb
}


def sixteen_to_eight_bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit channel values → 8-bit, rounded (÷257: 65535 → 255), as image_transport's conversions do."""
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
