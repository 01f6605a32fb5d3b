"""ESPCN sub-pixel upsampling block (Shi et al., CVPR 2016), as the seed paper's decoder uses it."""

from __future__ import annotations

import torch
from torch import nn

HIDDEN_CHANNELS = (64, 32)


class ESPCN(nn.Module):
    """Learned ×r upsampling: conv5×5→64 tanh, conv3×3→32 tanh, conv3×3→C·r², PixelShuffle(r).

    Input B×C×H×W → output B×C×(r·H)×(r·W). Zero padding keeps the spatial size before the
    shuffle; no activation after it (the decoder's next convolution follows).
    """

    def __init__(self, channels: int, upscale_factor: int = 2) -> None:
        super().__init__()
        hidden1, hidden2 = HIDDEN_CHANNELS
        self.conv1 = nn.Conv2d(channels, hidden1, 5, padding=2)
        self.conv2 = nn.Conv2d(hidden1, hidden2, 3, padding=1)
        self.conv3 = nn.Conv2d(hidden2, channels * upscale_factor**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return self.shuffle(self.conv3(x))
