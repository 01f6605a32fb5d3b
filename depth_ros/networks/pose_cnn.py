"""Monodepth2's PoseCNN ablation: a plain 7-layer CNN on stacked frames → relative poses."""

from __future__ import annotations

import torch
from torch import nn

from depth_ros.networks.pose_decoder import POSE_SCALE

# (out_channels, kernel, padding); every layer has stride 2.
_LAYERS = ((16, 7, 3), (32, 5, 2), (64, 3, 1), (128, 3, 1), (256, 3, 1), (256, 3, 1), (256, 3, 1))


class PoseCNN(nn.Module):
    """Input B×3n×H×W raw colour in [0, 1] (no normalisation); returns axisangle, translation B×(n−1)×1×3.

    Keys ``net.0..6`` and ``pose_conv`` as Monodepth2.
    """

    def __init__(self, num_input_frames: int) -> None:
        super().__init__()
        self.num_input_frames = num_input_frames
        convs = []
        in_ch = 3 * num_input_frames
        for out_ch, kernel, pad in _LAYERS:
            convs.append(nn.Conv2d(in_ch, out_ch, kernel, 2, pad))
            in_ch = out_ch
        self.net = nn.ModuleList(convs)
        self.pose_conv = nn.Conv2d(in_ch, 6 * (num_input_frames - 1), 1)
        self.relu = nn.ReLU(inplace=True)

    @property
    def bottleneck_channels(self) -> int:
        return _LAYERS[-1][0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.net:
            x = self.relu(conv(x))
        return x

    def predict(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.pose_conv(features).mean(dim=(2, 3))
        out = POSE_SCALE * out.view(-1, self.num_input_frames - 1, 1, 6)
        return out[..., :3], out[..., 3:]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.predict(self.features(x))
