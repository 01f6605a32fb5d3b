"""The learned camera intrinsics (``--learn_intrinsics``): the head's prior, flips, the running mean, the hold.

The head on the pose bottleneck predicts a normalised K (row 0 in units of the width, row 1 of the height) per
pose pair; the pairs' mean (WildNet) is the camera's K as seen unflipped: its principal point is mirrored for
flipped samples (as the dataset mirrors its K) and it is scaled to pixels at the warping resolution. The
checkpoint records its mean over the epoch, which the node publishes as camera_info.
"""

from __future__ import annotations

import torch
from torch import nn

LEARNED_K = "intrinsics_norm"  # outputs[LEARNED_K]: B×4×4 learned normalised intrinsics
# Generic intrinsics prior of the learned head, never the dataset's: square pixels and fx = 0.6·W, i.e. a
# horizontal field of view of 2·atan(0.5/0.6) ≈ 80°.
PRIOR_FOCAL_OVER_WIDTH = 0.6
K_ENTRIES = {"fx": (0, 0), "fy": (1, 1), "cx": (0, 2), "cy": (1, 2)}  # logged intrinsics, (row, column)


def generic_focal_prior(width: int, height: int) -> tuple[float, float]:
    """(fx/W, fy/H) of the learned intrinsics before training: square pixels, fx = 0.6·W (≈ 80° field of view)."""
    return PRIOR_FOCAL_OVER_WIDTH, PRIOR_FOCAL_OVER_WIDTH * width / height


def mirror_principal_point(K_norm: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """B×4×4 normalised K with cx → 1 − cx where ``flipped`` (B bool): the K of the horizontally mirrored image."""
    mirrored = K_norm.clone()
    mirrored[:, 0, 2] = 1.0 - K_norm[:, 0, 2]
    return torch.where(flipped.to(K_norm.device).reshape(-1, 1, 1), mirrored, K_norm)


class IntrinsicsAverage:
    """Running mean of the learned normalised K over training samples (the camera's K, as seen unflipped)."""

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.count = 0

    def reset(self) -> None:
        self.total, self.count = None, 0

    def update(self, K_norm: torch.Tensor) -> None:
        """Add a batch of B×4×4 normalised K."""
        batch_total = K_norm.detach()[:, :3, :3].to(torch.float64).sum(0)
        self.total = batch_total if self.total is None else self.total + batch_total
        self.count += K_norm.shape[0]

    def state_dict(self) -> dict:
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.count = state["total"], state["count"]

    def mean(self) -> list[list[float]] | None:
        """3×3 mean normalised K (row 0 in units of the width, row 1 of the height), None before any update."""
        return None if self.total is None else (self.total / self.count).tolist()


def hold_intrinsics_head(model: nn.Module) -> None:
    """Drop the intrinsics head's gradients after backward: the optimiser skips parameters without one (no Adam
    moment or weight-decay update either), so its parameters stay where they are for this step
    (``--intrinsics_warmup_steps``). Dropped after backward, not detached before it: DistributedDataParallel expects a
    gradient for every parameter. A fresh head's weights are zero, so its K is then the prior for every sample and no
    gradient reaches the pose network through it; a loaded head's K still follows the pose bottleneck."""
    for parameter in model.intrinsics.parameters():
        parameter.grad = None
