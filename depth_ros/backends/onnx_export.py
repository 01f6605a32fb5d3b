"""A depth network serialised to a single-file ONNX graph (what ONNX Runtime and TensorRT run).

The graph takes ``image`` (B×3×H×W float32 RGB in [0, 1], batch dynamic, H×W fixed) and returns ``disparity``
(B×1×H×W sigmoid disparity). ``python -m depth_ros.export`` writes it to disk, checked against PyTorch; the
backends export a weights folder in memory with the same function.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from depth_ros.backends.base import INPUT_NAME, OUTPUT_NAME

DEFAULT_OPSET = 17
NETWORK_STRIDE = 32  # the encoder downsamples 5 times; the decoder's skips need H and W multiples of 32
# Known, harmless messages of the TorchScript exporter: its deprecation notice, and the step −1 Slice
# that computes ReflectionPad2d's pads, which it cannot constant-fold (the graph is still correct).
_EXPORTER_NOISE = (
    r"You are using the legacy TorchScript-based ONNX export",
    r"The feature will be removed",
    r"Constant folding - Only steps=1 can be constant folded",
)


class ExportError(RuntimeError):
    """The exported graph does not reproduce the PyTorch network, or the size is unusable."""


def check_network_size(height: int, width: int) -> None:
    """Raise ExportError unless H and W are positive multiples of 32."""
    if height <= 0 or width <= 0 or height % NETWORK_STRIDE or width % NETWORK_STRIDE:
        raise ExportError(f"height and width must be positive multiples of {NETWORK_STRIDE}, got {height}×{width}")


def export_onnx(network: nn.Module, height: int, width: int, opset: int = DEFAULT_OPSET) -> bytes:
    """Serialise ``network`` (B×3×H×W → B×1×H×W) to ONNX bytes with a dynamic batch dimension.

    Uses the TorchScript exporter (``dynamo=False``): it honours ``opset_version=17`` exactly (the
    dynamo exporter emits opset 18 and cannot convert Monodepth2's Pad down to 17), always writes a
    single file (dynamo splits weights into ``.onnx.data`` unless told not to), needs no onnxscript
    at run time and exports this network about 7× faster (0.6 s vs 4.4 s at 64×192 here). Its opset
    17 ``Pad`` has no ``axes`` input, so TensorRT 10's "axes must be an initializer" rule cannot bite.
    """
    check_network_size(height, width)
    example = torch.rand(1, 3, height, width)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        for message in _EXPORTER_NOISE:
            warnings.filterwarnings("ignore", message=message)
        torch.onnx.export(
            network.eval(),
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    return buffer.getvalue()
