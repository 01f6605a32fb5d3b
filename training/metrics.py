"""Depth-evaluation metrics and Monodepth2's test protocol (``evaluate_depth.py``), in numpy.

The protocol, per image: resize the predicted *scaled disparity* to the ground-truth size with cv2
bilinear, invert it to depth, keep the valid ground-truth pixels (Eigen: 1e-3 < gt < 80 m inside the
Garg crop; other splits: gt > 0), multiply by a fixed factor, then either scale by the per-image
median ratio (mono) or by 5.4 (stereo), clamp to [1e-3, 80] m and compute the seven errors. The
reported numbers are the unweighted means over images. Depths are in metres throughout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from depth_ros.geometry import STEREO_SCALE_FACTOR

MIN_DEPTH = 1e-3  # metres; predictions are clamped to [MIN_DEPTH, MAX_DEPTH]
MAX_DEPTH = 80.0  # metres; also the Eigen ground-truth cap
METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
DELTA_THRESHOLD = 1.25
# Garg et al.'s crop as fractions of the ground-truth size: top, bottom (rows), left, right (columns).
GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
# Post-processing ramp: weight 1 on the outer 5 % of the width, falling linearly to 0 at 10 %.
PP_RAMP_START = 0.05
PP_RAMP_SLOPE = 20.0


class EvalError(ValueError):
    """Predictions and ground truth do not fit together (count, emptiness, options)."""


def compute_errors(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The seven Eigen errors between matched 1-D arrays of valid depths (metres, all > 0).

    abs_rel, sq_rel (m), rmse (m), rmse_log, and a1/a2/a3: the share of pixels with
    max(gt/pred, pred/gt) below 1.25, 1.25², 1.25³. Computed in the inputs' dtype, as Monodepth2.
    """
    ratio = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    return {
        "abs_rel": float(np.mean(np.abs(diff) / gt)),
        "sq_rel": float(np.mean(diff**2 / gt)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(gt) - np.log(pred)) ** 2))),
        "a1": float(np.mean(ratio < DELTA_THRESHOLD)),
        "a2": float(np.mean(ratio < DELTA_THRESHOLD**2)),
        "a3": float(np.mean(ratio < DELTA_THRESHOLD**3)),
    }


def garg_crop_mask(height: int, width: int) -> np.ndarray:
    """height×width bool mask of the Garg crop; its bounds are truncated per image size.

    375×1242 → rows 153:371, columns 44:1197.
    """
    top, bottom, left, right = (
        int(fraction * size) for fraction, size in zip(GARG_CROP, (height, height, width, width))
    )
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def eval_mask(gt: np.ndarray, split: str) -> np.ndarray:
    """Valid ground-truth pixels of an H×W depth map (metres).

    ``eigen``: MIN_DEPTH < gt < MAX_DEPTH inside the Garg crop. Any other split: gt > 0 (no crop, no cap).
    """
    if split == "eigen":
        return (gt > MIN_DEPTH) & (gt < MAX_DEPTH) & garg_crop_mask(*gt.shape[:2])
    return gt > 0


def median_scale(gt: np.ndarray, pred: np.ndarray) -> float:
    """Median-scaling ratio median(gt) / median(pred) of matched 1-D depth arrays."""
    return float(np.median(gt) / np.median(pred))


def batch_post_process_disparity(l_disp: np.ndarray, r_disp: np.ndarray) -> np.ndarray:
    """Blend N×H×W disparities of the images (``l_disp``) and of their flips, flipped back (``r_disp``).

    The outer 5 % of columns on the left come from ``r_disp`` and on the right from ``l_disp``, ramping
    linearly to the plain mean of both at 10 % from each edge. Returns ``l_disp``'s dtype.
    """
    width = l_disp.shape[-1]
    x = np.linspace(0.0, 1.0, width)
    l_mask = 1.0 - np.clip(PP_RAMP_SLOPE * (x - PP_RAMP_START), 0.0, 1.0)
    r_mask = l_mask[::-1]
    mean = 0.5 * (l_disp + r_disp)
    blended = r_mask * l_disp + l_mask * r_disp + (1.0 - l_mask - r_mask) * mean
    return blended.astype(l_disp.dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """Outcome of :func:`evaluate_predictions`.

    ``per_image``: N×7 errors in METRIC_NAMES order; ``ratios``: the per-image median-scaling ratios
    (empty without median scaling).
    """

    per_image: np.ndarray
    ratios: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.per_image)

    @property
    def metrics(self) -> dict[str, float]:
        """Unweighted mean of each error over images."""
        return dict(zip(METRIC_NAMES, self.per_image.mean(axis=0).tolist()))

    def ratio_summary(self) -> dict[str, float] | None:
        """``{"median", "std"}`` of the ratios (std of ratios / median, as Monodepth2 prints), or None."""
        if not len(self.ratios):
            return None
        median = float(np.median(self.ratios))
        return {"median": median, "std": float(np.std(self.ratios / median))}


def evaluate_predictions(
    pred_disps: Sequence[np.ndarray],
    gt_depths: Sequence[np.ndarray],
    split: str,
    mono: bool = True,
    pred_depth_scale_factor: float = 1.0,
    disable_median_scaling: bool = False,
) -> EvalResult:
    """Score N scaled disparities (each h×w, any size) against N ground-truth depth maps (H_i×W_i, metres).

    ``mono=False`` is stereo evaluation: no median scaling, depths ×STEREO_SCALE_FACTOR (5.4); it
    refuses another ``pred_depth_scale_factor``. ``split`` selects the mask (see :func:`eval_mask`).
    """
    if len(pred_disps) != len(gt_depths):
        raise EvalError(f"{len(pred_disps)} predictions but {len(gt_depths)} ground-truth depth maps")
    if not len(gt_depths):
        raise EvalError("nothing to evaluate: no ground-truth depth maps")
    if not mono:
        if pred_depth_scale_factor != 1.0:
            raise EvalError("stereo evaluation scales by 5.4 itself; do not pass pred_depth_scale_factor")
        pred_depth_scale_factor, disable_median_scaling = STEREO_SCALE_FACTOR, True
    errors, ratios = [], []
    for index, (pred_disp, gt) in enumerate(zip(pred_disps, gt_depths)):
        gt_height, gt_width = gt.shape[:2]
        pred_depth = 1.0 / cv2.resize(pred_disp, (gt_width, gt_height), interpolation=cv2.INTER_LINEAR)
        mask = eval_mask(gt, split)
        if not mask.any():
            raise EvalError(f"ground-truth depth map {index} has no valid pixel")
        gt_valid = gt[mask]
        pred_valid = pred_depth[mask] * pred_depth_scale_factor
        if not disable_median_scaling:
            ratio = median_scale(gt_valid, pred_valid)
            ratios.append(ratio)
            pred_valid *= ratio
        pred_valid = np.clip(pred_valid, MIN_DEPTH, MAX_DEPTH)
        errors.append(list(compute_errors(gt_valid, pred_valid).values()))
    return EvalResult(per_image=np.asarray(errors, dtype=np.float64), ratios=np.asarray(ratios, dtype=np.float64))
