"""Camera geometry shared by training and inference: disparity ↔ depth and intrinsics scaling.

Conventions: depth in metres along the optical axis (camera z; optical frame x right, y down,
z forward). Normalised intrinsics ``K_norm`` hold row 0 in units of the image width and row 1 in
units of the image height (Monodepth2's convention: KITTI is fx 0.58, fy 1.92, c 0.5); pixel
intrinsics ``K_px`` hold pixels. Pixel (u, v) = (column, row) with integer centres 0..W−1.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# KITTI's average normalised intrinsics, hard-coded in Monodepth2's KITTIDataset.
KITTI_K_NORM = np.array(
    [[0.58, 0.0, 0.5, 0.0], [0.0, 1.92, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
    dtype=np.float32,
)
# Monodepth2's stereo baseline is 0.1 "units" for KITTI's 0.54 m, so stereo models are metric ×5.4.
STEREO_SCALE_FACTOR = 5.4


def disp_to_depth(disp: Array, min_depth: float, max_depth: float) -> tuple[Array, Array]:
    """Sigmoid disparity in [0, 1] → (scaled disparity in [1/max, 1/min], depth in [min, max]).

    Works on numpy arrays and torch tensors of any shape (typically B×1×H×W).
    """
    min_disp = 1.0 / max_depth
    max_disp = 1.0 / min_depth
    scaled_disp = min_disp + (max_disp - min_disp) * disp
    return scaled_disp, 1.0 / scaled_disp


def scale_intrinsics(K_norm: Array, width: float, height: float) -> Array:
    """Normalised K (…×3×3 or …×4×4) → pixel K for an image of ``width``×``height`` pixels.

    Row 0 is multiplied by ``width`` and row 1 by ``height`` — plain multiplication, as Monodepth2
    and image_proc's resize do.
    """
    K = K_norm.clone() if isinstance(K_norm, torch.Tensor) else K_norm.copy()
    K[..., 0, :] = K[..., 0, :] * width
    K[..., 1, :] = K[..., 1, :] * height
    return K


def normalize_intrinsics(K_px: Array, width: float, height: float) -> Array:
    """Pixel K for an image of ``width``×``height`` → normalised K (inverse of :func:`scale_intrinsics`)."""
    return scale_intrinsics(K_px, 1.0 / width, 1.0 / height)
