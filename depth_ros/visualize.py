"""Colour maps for depth and disparity images, shared by the node, the bag processor and previews."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["colorize", "colorize_depth", "colorize_disparity"]


def colorize(values: np.ndarray, vmin: float, vmax: float, colormap: int = cv2.COLORMAP_MAGMA) -> np.ndarray:
    """Map an H×W float array linearly from [vmin, vmax] to an H×W×3 uint8 **RGB** image.

    Non-finite values are drawn black. Values outside the range are clipped. The result is a
    channel-reversed view of OpenCV's BGR output (``np.ascontiguousarray`` it where that matters).
    """
    if values.ndim != 2:
        raise ValueError(f"colorize expects an H×W array, got shape {values.shape}")
    span = max(float(vmax) - float(vmin), 1e-12)
    finite = np.isfinite(values)
    scaled = np.where(finite, (values - vmin) / span, 0.0)
    grey = (np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)
    bgr = cv2.applyColorMap(grey, colormap)
    bgr[~finite] = 0
    # A reversed view, not a copy: a caller that publishes bgr8 flips it back for free.
    return bgr[:, :, ::-1]


def colorize_disparity(disp: np.ndarray) -> np.ndarray:
    """Monodepth2's visualisation: magma from the minimum to the 95th percentile of the disparity."""
    finite = disp[np.isfinite(disp)]
    if finite.size == 0:
        return np.zeros((*disp.shape, 3), np.uint8)
    return colorize(disp, float(finite.min()), float(np.percentile(finite, 95)))


def colorize_depth(depth_m: np.ndarray, min_depth_m: float = 0.5, max_depth_m: float = 80.0) -> np.ndarray:
    """Depth in metres → RGB, near = bright. Drawn on inverse depth so near structure keeps contrast.

    Zero, negative and non-finite depths (invalid) are black.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(np.isfinite(depth_m) & (depth_m > 0), 1.0 / depth_m, np.nan)
    return colorize(inv, 1.0 / max_depth_m, 1.0 / min_depth_m)
