"""TensorRT backend (TensorRT 10.x and 11.x): ONNX → cached engine → ``execute_async_v3`` on torch buffers.

The only module of depth_ros that imports ``tensorrt``, and only inside the functions that need it,
so importing this module costs nothing where TensorRT is absent; those functions raise
BackendUnavailable there.

Engines are built from the exported ONNX graph with one optimisation profile (batch 1…max_batch,
fixed H×W) and cached on disk. A plan only deserialises on the TensorRT version and GPU
architecture that built it, so the cache key holds the GPU name and compute capability, the
TensorRT version, the ONNX sha256, the precision and the input shape; a cached plan that
deserialises to None is rebuilt.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depth_ros.atomic_io import atomic_write_bytes
from depth_ros.backends.base import INPUT_NAME, OUTPUT_NAME, Backend, BackendUnavailable, sha256_of
from depth_ros.checkpoint import CheckpointError

LOGGER = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16")
DEFAULT_WORKSPACE_MB = 1024
DEFAULT_MAX_BATCH = 8


def tensorrt_available() -> bool:
    """Whether the ``tensorrt`` package is installed (checked without importing it)."""
    return importlib.util.find_spec("tensorrt") is not None


def import_tensorrt() -> Any:
    """Import ``tensorrt`` and check for a CUDA device; BackendUnavailable otherwise."""
    try:
        import tensorrt
    except ImportError:
        raise BackendUnavailable(
            "TensorRT is not installed: pip install 'tensorrt-cu12>=10' on a machine with an NVIDIA GPU, "
            "or use --backend onnxruntime / torch"
        ) from None
    if not torch.cuda.is_available():
        raise BackendUnavailable("TensorRT needs a CUDA GPU, and torch sees none")
    return tensorrt


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/depth_ros/engines`` (``~/.cache/depth_ros/engines`` by default)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "depth_ros" / "engines"


def engine_cache_key(
    *,
    gpu_name: str,
    compute_capability: tuple[int, int],
    tensorrt_version: str,
    onnx_sha256: str,
    precision: str,
    input_shape: tuple[int, int, int, int],
) -> str:
    """File stem of a cached engine: everything a plan depends on, readable.

    ``input_shape`` is the profile's largest shape (max_batch, 3, H, W); batch 1 is the smallest.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    gpu = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-")
    max_batch, channels, height, width = input_shape
    major, minor = compute_capability
    return (
        f"depth-{onnx_sha256}-{precision}-{channels}x{height}x{width}-b1-{max_batch}"
        f"-trt{tensorrt_version}-{gpu}-sm{major}{minor}"
    )


def apply_precision(trt: Any, config: Any, precision: str) -> None:
    """Configure ``config`` for ``precision``.

    FP32 needs no flag. FP16 sets ``BuilderFlag.FP16`` on TensorRT 10. TensorRT 11 removed that flag
    (and INT8/BF16/FP8): its networks are always strongly typed, so precision follows the tensor
    types of the ONNX graph and a builder flag cannot lower it — we check with ``hasattr`` and say so
    instead of failing with an AttributeError.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return
    if not hasattr(trt.BuilderFlag, "FP16"):
        raise BackendUnavailable(
            f"TensorRT {trt.__version__} has no BuilderFlag.FP16 (removed in TensorRT 11, whose networks are "
            f"strongly typed: precision comes from the ONNX tensor types). Build FP32, or use TensorRT 10 "
            f"for FP16 (pip install 'tensorrt-cu12>=10,<11')"
        )
    config.set_flag(trt.BuilderFlag.FP16)


def build_serialized_engine(
    onnx_graph: bytes,
    *,
    height: int,
    width: int,
    precision: str = "fp32",
    max_batch: int = DEFAULT_MAX_BATCH,
    workspace_mb: int = DEFAULT_WORKSPACE_MB,
    input_name: str = INPUT_NAME,
) -> bytes:
    """Build a TensorRT plan from a serialised ONNX graph with input ``input_name`` B×3×height×width."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is implicit in TensorRT 10+
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_graph):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        details = "; ".join(f"node {e.node()} ({e.node_name()}): {e.desc()}" for e in errors)
        raise CheckpointError(f"TensorRT cannot parse the ONNX graph: {details}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    apply_precision(trt, config, precision)
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, (1, 3, height, width), (1, 3, height, width), (max_batch, 3, height, width))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT failed to build the engine (its log above says why)")
    return bytes(plan)


def tensorrt_version() -> str:
    """Version string of the installed TensorRT."""
    return import_tensorrt().__version__


class TensorRTBackend(Backend):
    """Run a serialised TensorRT plan with torch CUDA tensors as I/O buffers on a non-default stream.

    Batches larger than the engine's profile maximum are run in chunks.
    """

    name = "tensorrt"

    def __init__(
        self,
        plan: bytes,
        *,
        input_name: str = INPUT_NAME,
        output_name: str = OUTPUT_NAME,
        device: str = "cuda",
    ) -> None:
        trt = import_tensorrt()
        self._torch_device = torch.device(device)
        self.device = str(self._torch_device)
        # The logger and runtime must outlive the engine, so they are kept on the backend.
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self._torch_device):
            self.engine = self._runtime.deserialize_cuda_engine(plan)
            if self.engine is None:
                raise CheckpointError(
                    "TensorRT cannot deserialise this engine: it was built by another TensorRT version or for "
                    "another GPU. Rebuild it with `python -m depth_ros.build_engine MODEL.onnx`"
                )
            self.context = self.engine.create_execution_context()
            # A non-default stream: TensorRT warns that the legacy default stream adds synchronisations.
            self.stream = torch.cuda.Stream(self._torch_device)
        names = {self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)}
        if names != {input_name, output_name}:
            raise CheckpointError(
                f"the engine has I/O tensors {sorted(names)}, expected {input_name!r}, {output_name!r}"
            )
        self.input_name, self.output_name = input_name, output_name
        self.input_dtype = self._torch_dtype(trt, input_name)
        self.output_dtype = self._torch_dtype(trt, output_name)
        batch_dim = self.engine.get_tensor_shape(input_name)[0]
        self.max_batch = self.engine.get_tensor_profile_shape(input_name, 0)[2][0] if batch_dim == -1 else batch_dim

    def _torch_dtype(self, trt: Any, name: str) -> torch.dtype:
        """torch dtype of an engine I/O tensor (FP32, or FP16 for a strongly typed FP16 graph)."""
        return torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(name)))).dtype

    @classmethod
    def from_onnx(
        cls,
        onnx_graph: bytes,
        *,
        height: int,
        width: int,
        precision: str = "fp32",
        max_batch: int = DEFAULT_MAX_BATCH,
        workspace_mb: int = DEFAULT_WORKSPACE_MB,
        cache_dir: str | Path | None = None,
        input_name: str = INPUT_NAME,
        output_name: str = OUTPUT_NAME,
        device: str = "cuda",
    ) -> TensorRTBackend:
        """Load the cached engine for this graph, GPU and TensorRT, building (and caching) it when needed."""
        trt = import_tensorrt()
        torch_device = torch.device(device)
        key = engine_cache_key(
            gpu_name=torch.cuda.get_device_name(torch_device),
            compute_capability=torch.cuda.get_device_capability(torch_device),
            tensorrt_version=trt.__version__,
            onnx_sha256=sha256_of(onnx_graph),
            precision=precision,
            input_shape=(max_batch, 3, height, width),
        )
        path = Path(cache_dir or default_cache_dir()) / f"{key}.engine"
        names = {"input_name": input_name, "output_name": output_name, "device": device}
        if path.is_file():
            try:
                return cls(path.read_bytes(), **names)
            except CheckpointError as exc:
                LOGGER.warning("rebuilding the cached TensorRT engine %s: %s", path, exc)
        LOGGER.info(
            "building a %s TensorRT engine for %dx%d, batch ≤ %d (minutes)", precision, width, height, max_batch
        )
        with torch.cuda.device(torch_device):
            plan = build_serialized_engine(
                onnx_graph,
                height=height,
                width=width,
                precision=precision,
                max_batch=max_batch,
                workspace_mb=workspace_mb,
                input_name=input_name,
            )
        atomic_write_bytes(path, plan)
        return cls(plan, **names)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [self._run_chunk(batch[start : start + self.max_batch]) for start in range(0, len(batch), self.max_batch)]
        )

    def _run_chunk(self, chunk: np.ndarray) -> np.ndarray:
        with torch.cuda.stream(self.stream):
            images = torch.from_numpy(np.ascontiguousarray(chunk)).to(self._torch_device, self.input_dtype)
            self.context.set_input_shape(self.input_name, tuple(images.shape))
            output = torch.empty(
                tuple(self.context.get_tensor_shape(self.output_name)),
                dtype=self.output_dtype,
                device=self._torch_device,
            )
            self.context.set_tensor_address(self.input_name, images.data_ptr())
            self.context.set_tensor_address(self.output_name, output.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed (its log above says why)")
            result = output.float().cpu()  # ordered after the engine on this stream
        self.stream.synchronize()
        return result.numpy()
