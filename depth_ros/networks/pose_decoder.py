"""Monodepth2's pose decoder: encoder features of a frame pair → axis-angle and translation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

POSE_SCALE = 0.01
SQUEEZE_CHANNELS = 256


class PoseDecoder(nn.Module):
    """Squeeze 1×1 per input, two 3×3 convs, 1×1 to 6 values per predicted frame, spatial mean ×0.01.

    Keys ``net.0`` (squeeze), ``net.1``/``net.2`` (pose convs), ``net.3`` (output), as Monodepth2.
    Returns ``axisangle`` and ``translation``, each B×F×1×3.
    """

    def __init__(
        self,
        num_ch_enc: Sequence[int],
        num_input_features: int,
        num_frames_to_predict_for: int | None = None,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.num_input_features = num_input_features
        self.num_frames = num_frames_to_predict_for or num_input_features - 1
        self.net = nn.ModuleList(
            [
                nn.Conv2d(num_ch_enc[-1], SQUEEZE_CHANNELS, 1),
                nn.Conv2d(num_input_features * SQUEEZE_CHANNELS, 256, 3, stride, 1),
                nn.Conv2d(256, 256, 3, stride, 1),
                nn.Conv2d(256, 6 * self.num_frames, 1),
            ]
        )
        self.relu = nn.ReLU()

    @property
    def bottleneck_channels(self) -> int:
        """Channels of :meth:`bottleneck` (what the intrinsics head reads)."""
        return self.num_input_features * SQUEEZE_CHANNELS

    def squeeze(self, input_features: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """ReLU(squeeze(last feature map)) of every input, concatenated on channels."""
        return torch.cat([self.relu(self.net[0](features[-1])) for features in input_features], dim=1)

    def bottleneck(self, squeezed: torch.Tensor) -> torch.Tensor:
        """Global average of the squeezed features, B×C×1×1."""
        return squeezed.mean(dim=(2, 3), keepdim=True)

    def predict(self, squeezed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.relu(self.net[1](squeezed))
        out = self.relu(self.net[2](out))
        out = self.net[3](out).mean(dim=(2, 3))
        out = POSE_SCALE * out.view(-1, self.num_frames, 1, 6)
        return out[..., :3], out[..., 3:]

    def forward(self, input_features: Sequence[Sequence[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.predict(self.squeeze(input_features))
