"""Encoder + decoder as one module with a single tensor in and out: what inference and export run."""

from __future__ import annotations

import torch
from torch import nn

from depth_ros.networks.depth_decoder import DepthDecoder
from depth_ros.networks.resnet_encoder import ResnetEncoder


class DepthNetwork(nn.Module):
    """B×3×H×W RGB in [0, 1] → B×1×H×W sigmoid disparity (scale 0), H and W multiples of 32."""

    def __init__(self, encoder: ResnetEncoder, decoder: DepthDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(image))[("disp", 0)]
