"""PyTorch backend: the DepthNetwork itself, on CPU or CUDA (FP16 through autocast on CUDA)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from depth_ros.backends.base import Backend, BackendUnavailable


class TorchBackend(Backend):
    """Run a DepthNetwork under ``torch.inference_mode``.

    ``fp16`` (CUDA only) runs the convolutions in half precision with ``torch.autocast``, which
    keeps precision-sensitive ops (the sigmoid, reductions) in FP32; the output is FP32.
    """

    name = "torch"

    def __init__(self, network: nn.Module, device: str | torch.device = "cpu", fp16: bool = False) -> None:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("the torch backend was asked for CUDA but torch sees no CUDA device")
        if fp16 and device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; on CPU the torch backend runs FP32")
        self.device = str(device)
        self.fp16 = fp16
        self.network = network.to(device).eval()
        self._device = device

    def run(self, batch: np.ndarray) -> np.ndarray:
        images = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device)
        with torch.inference_mode(), torch.autocast(self._device.type, torch.float16, enabled=self.fp16):
            disparity = self.network(images)
        return disparity.float().cpu().numpy()
