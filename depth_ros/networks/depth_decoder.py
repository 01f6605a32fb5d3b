"""Monodepth2's depth decoder, with nearest (official) or ESPCN ×2 upsampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.networks.espcn import ESPCN
from depth_ros.networks.layers import Conv3x3, ConvBlock, PadMode

DECODER_CHANNELS = (16, 32, 64, 128, 256)
Upsample = Literal["nearest", "espcn"]


class DepthDecoder(nn.Module):
    """U-Net decoder: five upsampling levels with skips, sigmoid disparity heads at ``scales``.

    Takes the encoder's five feature maps (channels ``num_ch_enc``, strides 2…32) and returns
    ``{("disp", s): B×C×H/2^s×W/2^s}`` in (0, 1) for each s in ``scales``.

    State-dict layout is Monodepth2's: ``decoder.{i}`` in the order upconv(4,0), upconv(4,1), …,
    upconv(0,1), then dispconv for scales 0..3 — so build with ``scales=range(4)`` to load official
    weights. The ESPCN variant keeps those keys and adds ``upsamplers.{j}`` (level 4 first).
    """

    def __init__(
        self,
        num_ch_enc: Sequence[int],
        scales: Sequence[int] = range(4),
        num_output_channels: int = 1,
        use_skips: bool = True,
        upsample: Upsample = "nearest",
        pad_mode: PadMode = "reflect",
    ) -> None:
        super().__init__()
        if upsample not in ("nearest", "espcn"):
            raise ValueError(f"upsample must be 'nearest' or 'espcn', got {upsample!r}")
        self.num_ch_enc = list(num_ch_enc)
        self.scales = list(scales)
        self.use_skips = use_skips
        self.upsample = upsample

        convs: list[nn.Module] = []
        for level in range(4, -1, -1):
            in_ch = self.num_ch_enc[-1] if level == 4 else DECODER_CHANNELS[level + 1]
            convs.append(ConvBlock(in_ch, DECODER_CHANNELS[level], pad_mode))
            in_ch = DECODER_CHANNELS[level]
            if use_skips and level > 0:
                in_ch += self.num_ch_enc[level - 1]
            convs.append(ConvBlock(in_ch, DECODER_CHANNELS[level], pad_mode))
        for s in self.scales:
            convs.append(Conv3x3(DECODER_CHANNELS[s], num_output_channels, pad_mode))
        self.decoder = nn.ModuleList(convs)
        if upsample == "espcn":
            self.upsamplers = nn.ModuleList(ESPCN(DECODER_CHANNELS[level]) for level in range(4, -1, -1))

    def _upconv(self, level: int, index: int) -> nn.Module:
        return self.decoder[2 * (4 - level) + index]

    def disparity_head(self, scale: int) -> nn.Module:
        """The 3×3 convolution that predicts scale ``scale``'s disparity (before the sigmoid)."""
        return self.decoder[10 + self.scales.index(scale)]

    def _upsample(self, x: torch.Tensor, level: int) -> torch.Tensor:
        if self.upsample == "espcn":
            return self.upsamplers[4 - level](x)
        return F.interpolate(x, scale_factor=2.0, mode="nearest")

    def forward(self, input_features: Sequence[torch.Tensor]) -> dict[tuple[str, int], torch.Tensor]:
        outputs: dict[tuple[str, int], torch.Tensor] = {}
        x = input_features[-1]
        for level in range(4, -1, -1):
            x = self._upconv(level, 0)(x)
            x = self._upsample(x, level)
            if self.use_skips and level > 0:
                x = torch.cat([x, input_features[level - 1]], dim=1)
            x = self._upconv(level, 1)(x)
            if level in self.scales:
                outputs[("disp", level)] = torch.sigmoid(self.disparity_head(level)(x))
        return outputs
