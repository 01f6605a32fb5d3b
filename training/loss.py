"""Monodepth2's loss (step 3 of training): minimum reprojection with auto-masking plus edge-aware smoothness.

Per pixel, the minimum over [identity losses + 1e-5·N(0,1), reprojection losses] of 0.85·SSIM + 0.15·L1
(auto-masking), plus 1e-3/2^s edge-aware smoothness of the mean-normalised native-scale disparity; the total is
the mean over scales. Under Monodepth2's default options this is exactly its loss (tested against the official
code's values and gradients).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from training.datasets.mono_dataset import FrameId
from training.layers import SSIM, compute_reprojection_loss, get_smooth_loss, mean_normalized
from training.view_synthesis import ADJUSTED_DISP, upsample_to

IDENTITY_TIE_BREAK_STD = 1e-5
PREDICTIVE_MASK_WEIGHT = 0.2

Batch = dict
Outputs = dict


def minimum_reprojection(
    reprojection: torch.Tensor, identity: torch.Tensor | None = None, avg_reprojection: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-pixel loss to optimise from B×N×H×W reprojection and optional B×N×H×W identity losses.

    Auto-masking (``identity`` given): the minimum over the concatenation [identity + 1e-5·N(0,1),
    reprojection], so a pixel where an unwarped source already matches better contributes that
    (un-optimisable) identity value; there is no binary mask and no renormalisation. ``avg_reprojection``
    first averages each group over sources. Returns the loss (B×H×W, or B×1×H×W when a single candidate is
    left) and, with identity, ``identity_selection`` B×H×W: 1.0 where a warped source won.
    """
    if avg_reprojection:
        reprojection = reprojection.mean(1, keepdim=True)
        identity = identity.mean(1, keepdim=True) if identity is not None else None
    if identity is None:
        combined = reprojection
    else:
        identity = identity + torch.randn_like(identity) * IDENTITY_TIE_BREAK_STD
        combined = torch.cat([identity, reprojection], 1)
    if combined.shape[1] == 1:
        return combined, None
    to_optimise, index = torch.min(combined, dim=1)
    selection = (index > identity.shape[1] - 1).float() if identity is not None else None
    return to_optimise, selection


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """The loss switches of Monodepth2 (defaults = the paper's full model)."""

    scales: tuple[int, ...] = (0, 1, 2, 3)
    disparity_smoothness: float = 1e-3
    use_ssim: bool = True
    automasking: bool = True
    avg_reprojection: bool = False
    predictive_mask: bool = False
    v1_multiscale: bool = False
    smooth_adjusted_disparity: bool = False  # --mask_adjust_smoothness: smoothness of (ADJUSTED_DISP, s)


class SelfSupervisedLoss(nn.Module):
    """Monodepth2's total loss from a batch and the outputs of :class:`ViewSynthesis`.

    Per scale s (``source_scale`` = 0, or s with v1 multiscale), against the un-augmented target
    ``("color", 0, source_scale)``: the minimum-reprojection photometric term (mean over B·H·W) plus
    ``disparity_smoothness / 2^s`` × edge-aware smoothness of the native scale-s disparity divided by its
    mean, with the scale-s image. Returns ``{"loss": mean over scales, "loss/s": per scale}`` and writes
    ``identity_selection/s`` into ``outputs`` with auto-masking.
    """

    def __init__(self, settings: LossSettings, source_frame_ids: Sequence[FrameId], height: int, width: int) -> None:
        super().__init__()
        self.settings = settings
        self.source_frame_ids = list(source_frame_ids)
        self.height, self.width = height, width
        self.ssim = SSIM() if settings.use_ssim else None

    def photometric(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return compute_reprojection_loss(pred, target, self.ssim)

    def forward(self, inputs: Batch, outputs: Outputs) -> dict[str, torch.Tensor]:
        cfg = self.settings
        losses: dict[str, torch.Tensor] = {}
        total = 0.0
        identity_losses: dict[int, torch.Tensor] = {}  # per source scale: the same for every scale without v1
        for scale in cfg.scales:
            source_scale = scale if cfg.v1_multiscale else 0
            target = inputs[("color", 0, source_scale)]
            reprojection = torch.cat(
                [self.photometric(outputs[("color", f, scale)], target) for f in self.source_frame_ids], 1
            )
            identity = None
            loss = 0.0
            if cfg.automasking:
                if source_scale not in identity_losses:
                    identity_losses[source_scale] = torch.cat(
                        [self.photometric(inputs[("color", f, source_scale)], target) for f in self.source_frame_ids],
                        1,
                    )
                identity = identity_losses[source_scale]
            elif cfg.predictive_mask:
                mask = outputs["predictive_mask"][("disp", scale)]
                if not cfg.v1_multiscale:
                    mask = upsample_to(mask, self.height, self.width)
                reprojection = reprojection * mask
                loss = loss + PREDICTIVE_MASK_WEIGHT * F.binary_cross_entropy(mask, torch.ones_like(mask))
            to_optimise, selection = minimum_reprojection(reprojection, identity, cfg.avg_reprojection)
            if selection is not None:
                outputs[f"identity_selection/{scale}"] = selection
            loss = loss + to_optimise.mean()
            disp = outputs[(ADJUSTED_DISP if cfg.smooth_adjusted_disparity else "disp", scale)]
            smoothness = get_smooth_loss(mean_normalized(disp), inputs[("color", 0, scale)])
            loss = loss + cfg.disparity_smoothness * smoothness / 2**scale
            losses[f"loss/{scale}"] = loss
            total = total + loss
        losses["loss"] = total / len(cfg.scales)
        return losses
