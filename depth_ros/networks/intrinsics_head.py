"""Learned camera intrinsics from the pose network's bottleneck (Gordon et al. 2019, "WildNet")."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class IntrinsicsHead(nn.Module):
    """Bottleneck B×C×1×1 → normalised intrinsics B×4×4 (row 0 in units of image width, row 1 of height).

    foci = softplus(conv1×1 + bias) — always positive; principal point = conv1×1 (no bias, no
    activation) + 0.5 — starts at the image centre and can move either way. Multiply row 0 by W and
    row 1 by H (see ``depth_ros.geometry.scale_intrinsics``) for pixels.

    ``initial_focal`` is the normalised (fx/W, fy/H) the head outputs before training (weights start
    at zero, the bias at softplus⁻¹ of it): a generic prior such as square pixels and a 80° field of
    view, never the data set's calibration.
    """

    def __init__(self, in_channels: int, initial_focal: tuple[float, float] = (0.6, 0.6)) -> None:
        super().__init__()
        self.focal_conv = nn.Conv2d(in_channels, 2, 1, bias=True)
        self.offset_conv = nn.Conv2d(in_channels, 2, 1, bias=False)
        nn.init.zeros_(self.focal_conv.weight)
        nn.init.zeros_(self.offset_conv.weight)
        with torch.no_grad():
            for i, focal in enumerate(initial_focal):
                self.focal_conv.bias[i] = math.log(math.expm1(focal))

    def forward(self, bottleneck: torch.Tensor) -> torch.Tensor:
        batch = bottleneck.shape[0]
        foci = F.softplus(self.focal_conv(bottleneck)).view(batch, 2)
        centre = self.offset_conv(bottleneck).view(batch, 2) + 0.5
        K = torch.eye(4, dtype=bottleneck.dtype, device=bottleneck.device).repeat(batch, 1, 1)
        K[:, 0, 0] = foci[:, 0]
        K[:, 1, 1] = foci[:, 1]
        K[:, 0, 2] = centre[:, 0]
        K[:, 1, 2] = centre[:, 1]
        return K
