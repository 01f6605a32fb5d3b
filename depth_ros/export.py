"""Export a depth network to a single-file ONNX graph plus its JSON sidecar, checked against PyTorch.

    python -m depth_ros.export --weights models/mono_640x192 --onnx mono_640x192.onnx
    python -m depth_ros.export --weights DIR --onnx OUT.onnx --height 320 --width 1024 --pad replicate

The graph takes ``image`` (B×3×H×W float32 RGB in [0, 1], batch dynamic, H×W fixed) and returns
``disparity`` (B×1×H×W sigmoid disparity). Before anything is written, onnxruntime runs the graph on
a random and a structured input and the maximum absolute difference from PyTorch must be ≤ 1e-4;
otherwise the export fails and leaves no file. The ONNX file and ``OUT.onnx.json`` are written
atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from depth_ros.atomic_io import atomic_write_bytes
from depth_ros.backends.base import ModelSidecar, sha256_of, write_sidecar
from depth_ros.backends.onnx_backend import OnnxRuntimeBackend
from depth_ros.backends.onnx_export import DEFAULT_OPSET, ExportError, check_network_size, export_onnx
from depth_ros.checkpoint import CheckpointError, load_depth_network
from depth_ros.networks.layers import PadMode, set_padding_mode

PARITY_TOLERANCE = 1e-4
PAD_MODES: tuple[PadMode, ...] = ("reflect", "replicate", "zeros")


def parity_inputs(height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """A random batch of 2 (also exercises the dynamic batch) and a structured 1-image batch.

    The structured image has smooth ramps, a checkerboard and saturated borders — edges and constant
    regions that random noise never has.
    """
    generator = torch.Generator().manual_seed(seed)
    random = torch.rand(2, 3, height, width, generator=generator).numpy()
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    checker = ((rows // 8 + cols // 8) % 2).astype(np.float32)
    structured = np.stack([cols / max(width - 1, 1), rows / max(height - 1, 1), checker])
    structured[:, :4], structured[:, -4:] = 0.0, 1.0
    return [random, structured[None]]


def check_parity(
    network: nn.Module, onnx_graph: bytes, height: int, width: int, tolerance: float = PARITY_TOLERANCE
) -> float:
    """Max abs disparity difference ONNX Runtime (CPU) vs PyTorch over :func:`parity_inputs`.

    Raises ExportError when it exceeds ``tolerance``.
    """
    session = OnnxRuntimeBackend(onnx_graph)
    worst = 0.0
    for batch in parity_inputs(height, width):
        with torch.inference_mode():
            expected = network(torch.from_numpy(batch)).numpy()
        got = session.run(batch)
        if got.shape != expected.shape:
            raise ExportError(f"the ONNX graph returns {got.shape} for {batch.shape}, PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    if not worst <= tolerance:
        raise ExportError(
            f"the ONNX graph does not reproduce PyTorch: max |Δdisparity| = {worst:.3g} > {tolerance:g}; "
            f"nothing was written"
        )
    return worst


def switch_padding(network: nn.Module, pad: PadMode, height: int, width: int) -> float:
    """Set the decoder padding of ``network`` and return how far that moves its output.

    The max |Δdisparity| on the structured parity input: what giving up reflection padding costs.
    """
    structured = torch.from_numpy(parity_inputs(height, width)[1])
    with torch.inference_mode():
        before = network(structured)
        set_padding_mode(network, pad)
        return float((network(structured) - before).abs().max())


def export_weights(
    weights: str | Path,
    onnx_path: str | Path,
    *,
    height: int | None = None,
    width: int | None = None,
    opset: int = DEFAULT_OPSET,
    pad: PadMode = "reflect",
    tolerance: float = PARITY_TOLERANCE,
) -> ModelSidecar:
    """Export the depth network of a weights folder to ``onnx_path`` and its sidecar; return the sidecar.

    ``height``/``width`` default to the training size. ``pad`` replaces the decoder's reflection
    padding (same weights, slightly different outputs near borders) for engines that lack it.
    """
    if pad not in PAD_MODES:
        raise ExportError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    network, metadata = load_depth_network(weights, "cpu")
    height, width = height or metadata.height, width or metadata.width
    check_network_size(height, width)
    pad_note = ""
    if pad != "reflect":
        pad_note = f"; {pad} padding moved the disparity by up to {switch_padding(network, pad, height, width):.2g}"
    onnx_graph = export_onnx(network, height, width, opset)
    max_diff = check_parity(network, onnx_graph, height, width, tolerance)
    sidecar = ModelSidecar(
        metadata=dataclasses.replace(metadata, height=height, width=width),
        sha256=sha256_of(onnx_graph),
        opset=opset,
        pad_mode=pad,
    )
    atomic_write_bytes(onnx_path, onnx_graph)
    write_sidecar(onnx_path, sidecar)
    print(
        f"wrote {onnx_path} ({len(onnx_graph) / 2**20:.1f} MiB, {width}×{height}, opset {opset}, pad {pad}); "
        f"max |Δdisparity| vs PyTorch = {max_diff:.2g}{pad_note}"
    )
    return sidecar


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m depth_ros.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, type=Path, help="weights folder (Monodepth2 layout)")
    parser.add_argument("--onnx", required=True, type=Path, help="output .onnx file (sidecar: <file>.json)")
    parser.add_argument("--height", type=int, help="input height, a multiple of 32 (default: training height)")
    parser.add_argument("--width", type=int, help="input width, a multiple of 32 (default: training width)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)")
    parser.add_argument(
        "--pad",
        choices=PAD_MODES,
        default="reflect",
        help="decoder padding (default reflect, as trained; TensorRT ≥ 8.2 supports it). replicate/zeros "
        "are for older engines and change the outputs slightly near the image borders",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.onnx.suffix != ".onnx":
        print(f"depth_ros.export: error: --onnx must name a .onnx file, got {args.onnx}", file=sys.stderr)
        return 2
    try:
        export_weights(args.weights, args.onnx, height=args.height, width=args.width, opset=args.opset, pad=args.pad)
    except (CheckpointError, ExportError) as exc:
        print(f"depth_ros.export: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
