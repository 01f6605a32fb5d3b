"""Build a TensorRT engine from an exported ONNX graph (needs TensorRT 10/11 and an NVIDIA GPU).

    python -m depth_ros.build_engine model.onnx                 # → model.engine + model.engine.json
    python -m depth_ros.build_engine model.onnx --fp16 --output model.fp16.engine

The plan only runs on the TensorRT version and GPU architecture that built it. Exits with status 2
and one line on stderr when TensorRT, a GPU or the ONNX sidecar is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from depth_ros.atomic_io import atomic_write_bytes
from depth_ros.backends import open_model, write_sidecar
from depth_ros.backends.base import sha256_of
from depth_ros.backends.tensorrt_backend import (
    DEFAULT_MAX_BATCH,
    DEFAULT_WORKSPACE_MB,
    build_serialized_engine,
    tensorrt_version,
)
from depth_ros.checkpoint import CheckpointError

PROG = "python -m depth_ros.build_engine"


def build_engine_file(
    onnx_path: str | Path,
    output: str | Path | None = None,
    *,
    fp16: bool = False,
    workspace_mb: int = DEFAULT_WORKSPACE_MB,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> Path:
    """Build ``output`` (default ``<onnx stem>.engine``) and its sidecar from an ONNX bundle."""
    trt_version = tensorrt_version()  # first, so a machine without TensorRT hears about that
    bundle = open_model(onnx_path)
    if bundle.format != "onnx" or bundle.sidecar is None:
        raise CheckpointError(f"{onnx_path} is not an exported .onnx model")
    output = Path(output) if output else bundle.path.with_suffix(".engine")
    precision = "fp16" if fp16 else "fp32"
    plan = build_serialized_engine(
        bundle.read_verified(),
        height=bundle.metadata.height,
        width=bundle.metadata.width,
        precision=precision,
        max_batch=max_batch,
        workspace_mb=workspace_mb,
        input_name=bundle.sidecar.input_name,
    )
    atomic_write_bytes(output, plan)
    write_sidecar(
        output,
        dataclasses.replace(bundle.sidecar, sha256=sha256_of(plan), precision=precision, tensorrt_version=trt_version),
    )
    return output


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("onnx", type=Path, help="exported .onnx (with its .onnx.json sidecar)")
    parser.add_argument("--output", type=Path, help="engine file (default: <onnx stem>.engine)")
    parser.add_argument("--fp16", action="store_true", help="FP16 kernels (TensorRT 10; 11 has no FP16 flag)")
    parser.add_argument("--workspace-mb", type=int, default=DEFAULT_WORKSPACE_MB, help="default %(default)s")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, help="largest batch (default %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = build_engine_file(
            args.onnx, args.output, fp16=args.fp16, workspace_mb=args.workspace_mb, max_batch=args.max_batch
        )
    except RuntimeError as exc:  # BackendUnavailable, CheckpointError, a failed build
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {output} and {output.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
