"""TensorBoard summaries of a training step, as Monodepth2 writes them: losses, depth metrics, images.

The depth metrics are Monodepth2's indicative training-time errors, not the paper's evaluation protocol
(``training.evaluate_depth``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch.utils.tensorboard import SummaryWriter

from depth_ros.geometry import disp_to_depth, scale_intrinsics
from training.datasets.mono_dataset import FrameId
from training.intrinsics import K_ENTRIES, LEARNED_K
from training.metrics import MAX_DEPTH, METRIC_NAMES, MIN_DEPTH, compute_errors
from training.options import Options
from training.view_synthesis import upsample_to

# Training-time depth metrics (logging only, not the paper protocol): GT size and Garg crop at that size.
LOG_GT_SHAPE = (375, 1242)
LOG_GT_CROP = (slice(153, 371), slice(44, 1197))
LOG_METRIC_TAGS = ("de/abs_rel", "de/sq_rel", "de/rms", "de/log_rms", "da/a1", "da/a2", "da/a3")
MAX_LOGGED_IMAGES = 4


def training_depth_metrics(depth_pred: torch.Tensor, depth_gt: torch.Tensor) -> dict[str, float]:
    """Monodepth2's indicative training-time depth errors (not the paper protocol).

    ``depth_pred`` B×1×h×w is resized (bilinear) to 375×1242 and clamped to [1e-3, 80]; pixels with GT > 0
    inside the fixed crop rows 153:371, cols 44:1197 are scaled by **one** median ratio for the whole
    batch, clamped again and scored. Keys are the TensorBoard tags ``de/abs_rel`` … ``da/a3``.
    """
    pred = upsample_to(depth_pred.detach().float(), *LOG_GT_SHAPE).clamp(MIN_DEPTH, MAX_DEPTH)
    gt = depth_gt.float()
    crop = torch.zeros_like(gt, dtype=torch.bool)
    crop[:, :, LOG_GT_CROP[0], LOG_GT_CROP[1]] = True
    mask = (gt > 0) & crop
    gt_valid, pred_valid = gt[mask], pred[mask]
    if gt_valid.numel() == 0:
        return {}
    pred_valid = (pred_valid * (gt_valid.median() / pred_valid.median())).clamp(MIN_DEPTH, MAX_DEPTH)
    errors = compute_errors(gt_valid.cpu().numpy(), pred_valid.cpu().numpy())
    return {tag: errors[name] for tag, name in zip(LOG_METRIC_TAGS, METRIC_NAMES)}


def normalize_image(x: torch.Tensor) -> torch.Tensor:
    """Min-max normalise to [0, 1] for display (a constant image becomes ~0)."""
    low, high = x.min(), x.max()
    span = high - low if high != low else 1e5
    return (x - low) / span


def write_summaries(
    writer: SummaryWriter,
    step: int,
    opt: Options,
    frame_ids: Sequence[FrameId],
    inputs: Mapping,
    outputs: Mapping,
    losses: Mapping[str, torch.Tensor],
) -> None:
    """TensorBoard scalars (losses, depth metrics with GT, learned vs dataset K) and images of up to 4 items.

    The depth metrics score the network's own scale-0 depth (not the Mask R-CNN-adjusted one), as
    evaluation does. ``intrinsics/<fx|fy|cx|cy>`` (the learned camera K, as seen unflipped) and
    ``intrinsics/dataset_<…>`` (the dataset K of the batch, cx mirrored on flipped samples) are batch means in
    pixels at the training size. ``frame_ids``: target first, then the source frames.
    """
    scalars = {name: value.item() for name, value in losses.items()}
    if "depth_gt" in inputs:
        _, depth = disp_to_depth(outputs[("disp", 0)], opt.min_depth, opt.max_depth)
        scalars.update(training_depth_metrics(depth, inputs["depth_gt"]))
    if LEARNED_K in outputs:
        learned = scale_intrinsics(outputs[LEARNED_K], opt.width, opt.height).mean(0)
        dataset = inputs[("K", 0)].mean(0)
        for name, (row, col) in K_ENTRIES.items():
            scalars[f"intrinsics/{name}"] = learned[row, col].item()
            scalars[f"intrinsics/dataset_{name}"] = dataset[row, col].item()
    for name, value in scalars.items():
        writer.add_scalar(name, value, step)
    for j in range(min(MAX_LOGGED_IMAGES, opt.batch_size)):
        for s in opt.scales:
            for frame_id in frame_ids:
                writer.add_image(f"color_{frame_id}_{s}/{j}", inputs[("color", frame_id, s)][j], step)
                if s == 0 and frame_id != 0:
                    writer.add_image(f"color_pred_{frame_id}_{s}/{j}", outputs[("color", frame_id, s)][j],
                                     step)
            writer.add_image(f"disp_{s}/{j}", normalize_image(outputs[("disp", s)][j]), step)
            if opt.predictive_mask:
                for f_idx, frame_id in enumerate(frame_ids[1:]):
                    writer.add_image(f"predictive_mask_{frame_id}_{s}/{j}",
                                     outputs["predictive_mask"][("disp", s)][j, f_idx][None], step)
            elif not opt.disable_automasking:
                writer.add_image(f"automask_{s}/{j}", outputs[f"identity_selection/{s}"][j][None], step)
