"""ONNX Runtime backend: CPU provider, or the CUDA provider where this onnxruntime build has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depth_ros.backends.base import INPUT_NAME, OUTPUT_NAME, Backend, BackendUnavailable
from depth_ros.checkpoint import CheckpointError
from depth_ros.errors import first_line

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
# Our names → onnxruntime.GraphOptimizationLevel members.
OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "layout": "ORT_ENABLE_LAYOUT",
    "all": "ORT_ENABLE_ALL",
}


def available_providers() -> list[str]:
    """Execution providers of the installed onnxruntime ([] when it is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


class OnnxRuntimeBackend(Backend):
    """Run an exported graph (file path or serialised bytes) with onnxruntime.

    ``device`` "cpu" or "cuda[:N]". ``intra_op_threads`` None keeps onnxruntime's default (one
    thread per physical core); ``optimization`` is the graph optimisation level (default "all",
    which includes the NCHWc layout transforms on x86 CPUs).
    """

    name = "onnxruntime"

    def __init__(
        self,
        model: bytes | str | Path,
        *,
        input_name: str = INPUT_NAME,
        output_name: str = OUTPUT_NAME,
        device: str = "cpu",
        intra_op_threads: int | None = None,
        optimization: str = "all",
    ) -> None:
        try:
            import onnxruntime
            from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
        except ImportError:
            raise BackendUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None
        if optimization not in OPTIMIZATION_LEVELS:
            raise ValueError(f"optimization must be one of {list(OPTIMIZATION_LEVELS)}, got {optimization!r}")
        device_type, _, index = device.partition(":")
        if device_type == "cuda":
            if CUDA_PROVIDER not in onnxruntime.get_available_providers():
                raise BackendUnavailable(
                    "this onnxruntime build has no CUDA provider (install onnxruntime-gpu instead of onnxruntime)"
                )
            providers: list = [(CUDA_PROVIDER, {"device_id": int(index or 0)}), CPU_PROVIDER]
        elif device_type == "cpu":
            providers = [CPU_PROVIDER]
        else:
            raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = getattr(
            onnxruntime.GraphOptimizationLevel, OPTIMIZATION_LEVELS[optimization]
        )
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        source = str(model) if isinstance(model, Path) else model
        try:
            self.session = onnxruntime.InferenceSession(source, options, providers=providers)
        except (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.Fail, ort_errors.NoSuchFile) as exc:
            what = model if isinstance(model, (str, Path)) else "the ONNX graph"
            raise CheckpointError(f"onnxruntime cannot load {what}: {first_line(exc)}") from exc
        if device_type == "cuda" and CUDA_PROVIDER not in self.session.get_providers():
            raise BackendUnavailable("onnxruntime could not start its CUDA provider (CUDA/cuDNN libraries missing?)")
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if input_name not in inputs or output_name not in outputs:
            raise CheckpointError(
                f"the ONNX graph has inputs {inputs} and outputs {outputs}, expected {input_name!r} → {output_name!r}"
            )
        self.input_name = input_name
        self.output_name = output_name
        self.device = device

    def run(self, batch: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return self.session.run([self.output_name], feed)[0]
