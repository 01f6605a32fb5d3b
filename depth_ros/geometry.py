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


# ---------------------------------------------------------------------------------------- scale recovery


class GroundPlaneError(RuntimeError):
    """No ground plane could be fitted to a depth map, so the camera height cannot fix the scale."""


def _lower_band_points(depth: np.ndarray, K_px: np.ndarray, first_row: int) -> np.ndarray:
    """Rows ``first_row``… of an H×W depth map → (H−first_row)×W×3 optical-frame points (NaN where invalid)."""
    K = np.asarray(K_px, dtype=np.float64)
    band = depth[first_row:].astype(np.float64)
    band = np.where(np.isfinite(band) & (band > 0), band, np.nan)
    u = (np.arange(depth.shape[1]) - K[0, 2]) / K[0, 0]
    v = (np.arange(first_row, depth.shape[0]) - K[1, 2]) / K[1, 1]
    return np.stack([band * u[None, :], band * v[:, None], band], axis=-1)


def _local_normals(points: np.ndarray) -> np.ndarray:
    """Unit surface normals of an H×W×3 point grid from central differences, (H−2)×(W−2)×3."""
    along_u = points[1:-1, 2:] - points[1:-1, :-2]
    along_v = points[2:, 1:-1] - points[:-2, 1:-1]
    normals = np.cross(along_u, along_v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return normals / np.linalg.norm(normals, axis=-1, keepdims=True)


def _orient_down(normal: np.ndarray, offset: float) -> tuple[np.ndarray, float]:
    """The plane ``n·X = d`` written with n pointing down (+y): (n, d)."""
    return (-normal, -offset) if normal[1] < 0 else (normal, offset)


def recover_scale_from_camera_height(
    depth: np.ndarray,
    K_px: np.ndarray,
    camera_height_m: float,
    *,
    lower_fraction: float = 0.5,
    max_tilt_deg: float = 15.0,
    inlier_tolerance: float = 0.05,
    iterations: int = 256,
    max_points: int = 20000,
    min_inliers: int = 200,
    seed: int = 0,
) -> float:
    """Scale that makes a relative depth map metric, from the known height of the camera above the ground.

    ``depth``: H×W depth along the optical axis in model units (any positive scale); non-finite or
    ≤ 0 pixels are ignored. ``K_px``: 3×3 intrinsics in pixels of this H×W image. Frame: camera
    optical frame (x right, **y down**, z forward), so ground points lie at y ≈ +height.

    Assumptions: the camera looks roughly horizontally over flat ground, which fills part of the
    lower ``lower_fraction`` of the image, and the ground's normal is within ``max_tilt_deg`` of the
    optical y axis (camera roll/pitch below that). Steps: back-project the lower band; keep points
    whose local surface normal (central differences) is within 2×``max_tilt_deg`` of vertical;
    RANSAC a plane whose normal is within ``max_tilt_deg`` of vertical, counting as inliers the
    points within ``inlier_tolerance``·height of it (scale-free); refine by least squares (SVD) on
    the inliers. The camera's height above the plane is measured in model units.

    Returns ``camera_height_m / measured_height``: multiply the depth by it to get metres.
    Raises GroundPlaneError when too few points or no near-horizontal plane below the camera is found.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2 or min(depth.shape) < 3:
        raise ValueError(f"depth must be an H×W array of at least 3×3, got shape {depth.shape}")
    if not (np.isfinite(camera_height_m) and camera_height_m > 0):
        raise ValueError(f"camera_height_m must be a positive number of metres, got {camera_height_m}")
    first_row = min(int(depth.shape[0] * (1.0 - lower_fraction)), depth.shape[0] - 3)
    grid = _lower_band_points(depth, K_px, first_row)
    normals = _local_normals(grid)
    cos_tilt = np.cos(np.deg2rad(max_tilt_deg))
    candidate = np.abs(normals[..., 1]) >= np.cos(np.deg2rad(min(2.0 * max_tilt_deg, 89.0)))
    points = grid[1:-1, 1:-1][candidate & np.isfinite(grid[1:-1, 1:-1]).all(axis=-1)]
    if len(points) < min_inliers:
        raise GroundPlaneError(
            f"only {len(points)} near-horizontal surface points in the lower {lower_fraction:.0%} of the "
            f"depth map (need {min_inliers}): no ground visible?"
        )
    rng = np.random.default_rng(seed)
    if len(points) > max_points:
        points = points[rng.choice(len(points), max_points, replace=False)]

    # RANSAC over all hypotheses at once: planes n·X = d through three random points.
    triples = points[rng.integers(0, len(points), size=(iterations, 3))]
    normals_h = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    lengths = np.linalg.norm(normals_h, axis=1)
    usable = lengths > 0
    normals_h = normals_h[usable] / lengths[usable, None]
    normals_h *= np.where(normals_h[:, 1:2] < 0, -1.0, 1.0)  # point down (+y)
    heights = np.einsum("ij,ij->i", normals_h, triples[usable, 0])
    plausible = (normals_h[:, 1] >= cos_tilt) & (heights > 0)
    if not plausible.any():
        raise GroundPlaneError(f"no plane within {max_tilt_deg}° of horizontal below the camera was found")
    normals_h, heights = normals_h[plausible], heights[plausible]
    residuals = np.abs(points @ normals_h.T - heights[None, :])
    counts = (residuals < inlier_tolerance * heights[None, :]).sum(axis=0)
    best = int(np.argmax(counts))
    normal, height = normals_h[best], float(heights[best])

    for _ in range(3):  # least-squares refinement on the current inliers
        inliers = points[np.abs(points @ normal - height) < inlier_tolerance * height]
        if len(inliers) < min_inliers:
            raise GroundPlaneError(f"the best ground-plane candidate has {len(inliers)} inliers (need {min_inliers})")
        centroid = inliers.mean(axis=0)
        normal = np.linalg.svd(inliers - centroid, full_matrices=False)[2][-1]
        normal, height = _orient_down(normal, float(normal @ centroid))
    if normal[1] < cos_tilt or height <= 0:
        raise GroundPlaneError(f"the fitted ground plane is tilted more than {max_tilt_deg}° or above the camera")
    return float(camera_height_m / height)
