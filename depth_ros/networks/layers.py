"""Building blocks shared by the decoders: reflection-padded 3×3 convolution and its ELU block."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

PadMode = Literal["reflect", "replicate", "zeros"]

_PADS: dict[str, type[nn.Module]] = {
    "reflect": nn.ReflectionPad2d,
    "replicate": nn.ReplicationPad2d,
    "zeros": nn.ZeroPad2d,
}


class Conv3x3(nn.Module):
    """1-pixel padding then a 3×3 convolution (stride 1, bias). Submodules ``pad`` and ``conv``.

    Monodepth2 pads by reflection; ``pad_mode`` lets an exported model trade that for a padding an
    inference engine prefers (the weights are the same).
    """

    def __init__(self, in_channels: int, out_channels: int, pad_mode: PadMode = "reflect") -> None:
        super().__init__()
        self.pad = _PADS[pad_mode](1)
        self.conv = nn.Conv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    """Conv3x3 followed by ELU. Submodules ``conv`` (the Conv3x3) and ``nonlin``."""

    def __init__(self, in_channels: int, out_channels: int, pad_mode: PadMode = "reflect") -> None:
        super().__init__()
        self.conv = Conv3x3(in_channels, out_channels, pad_mode)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv(x))


def set_padding_mode(module: nn.Module, pad_mode: PadMode) -> None:
    """Swap the padding of every Conv3x3 inside ``module`` (weights untouched), e.g. before export."""
    for sub in module.modules():
        if isinstance(sub, Conv3x3):
            sub.pad = _PADS[pad_mode](1)
