"""Inference backends behind one interface, and the ``auto`` choice between them.

``auto`` prefers TensorRT > ONNX Runtime CUDA > PyTorch CUDA > ONNX Runtime CPU > PyTorch CPU, among
the backends that are installed and can load the model's format (a weights folder is exported to
ONNX in memory for ONNX Runtime and TensorRT; an ``.engine`` runs only on TensorRT). The choice is
the pure function :func:`choose_backend`; :func:`probe_availability` looks at the machine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from depth_ros.backends.base import (
    Backend,
    BackendUnavailable,
    ModelBundle,
    ModelFormat,
    ModelSidecar,
    open_model,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from depth_ros.backends.onnx_backend import CUDA_PROVIDER, OnnxRuntimeBackend, available_providers
from depth_ros.backends.tensorrt_backend import DEFAULT_MAX_BATCH, TensorRTBackend, tensorrt_available
from depth_ros.backends.torch_backend import TorchBackend
from depth_ros.checkpoint import load_depth_network

__all__ = [
    "BACKEND_KINDS",
    "Availability",
    "Backend",
    "BackendUnavailable",
    "ModelBundle",
    "ModelSidecar",
    "choose_backend",
    "create_backend",
    "open_model",
    "probe_availability",
    "read_sidecar",
    "sidecar_path",
    "write_sidecar",
]

BACKEND_KINDS = ("auto", "torch", "onnxruntime", "tensorrt")


@dataclasses.dataclass(frozen=True)
class Availability:
    """What this machine offers: installed packages and usable CUDA paths."""

    tensorrt: bool = False  # tensorrt importable and a CUDA device present
    onnxruntime: bool = False
    onnxruntime_cuda: bool = False
    torch_cuda: bool = False


class _Candidate(NamedTuple):
    kind: str
    device: str
    formats: frozenset[str]
    fp16: bool
    usable: Callable[[Availability], bool]


_FROM_WEIGHTS_OR_ONNX = frozenset({"weights", "onnx"})
# The order of ``auto``. ONNX Runtime here runs the FP32 graph, so it is skipped when FP16 is asked for.
_CANDIDATES = (
    _Candidate("tensorrt", "cuda", frozenset({"weights", "onnx", "engine"}), True, lambda a: a.tensorrt),
    _Candidate("onnxruntime", "cuda", _FROM_WEIGHTS_OR_ONNX, False, lambda a: a.onnxruntime_cuda),
    _Candidate("torch", "cuda", frozenset({"weights"}), True, lambda a: a.torch_cuda),
    _Candidate("onnxruntime", "cpu", _FROM_WEIGHTS_OR_ONNX, False, lambda a: a.onnxruntime),
    _Candidate("torch", "cpu", frozenset({"weights"}), False, lambda a: True),
)


def probe_availability() -> Availability:
    """Look at the installed packages and devices (imports onnxruntime; never imports tensorrt)."""
    torch_cuda = torch.cuda.is_available()
    providers = available_providers()
    return Availability(
        tensorrt=torch_cuda and tensorrt_available(),
        onnxruntime=bool(providers),
        onnxruntime_cuda=CUDA_PROVIDER in providers,
        torch_cuda=torch_cuda,
    )


def choose_backend(model_format: ModelFormat, availability: Availability, *, fp16: bool = False) -> tuple[str, str]:
    """(backend kind, device) that ``auto`` picks for a model of ``model_format``."""
    for candidate in _CANDIDATES:
        if model_format in candidate.formats and (candidate.fp16 or not fp16) and candidate.usable(availability):
            return candidate.kind, candidate.device
    needs = "TensorRT" if model_format == "engine" else "a CUDA backend" if fp16 else "onnxruntime"
    raise BackendUnavailable(
        f"no installed backend runs a {model_format} model{' in FP16' if fp16 else ''}: needs {needs}"
    )


def _onnx_graph(bundle: ModelBundle) -> bytes:
    """The ONNX graph of a bundle: the verified file, or a weights folder exported in memory."""
    if bundle.format == "onnx":
        return bundle.read_verified()
    from depth_ros.backends.onnx_export import export_onnx  # pulls in torch.onnx: loaded only when used

    network, metadata = load_depth_network(bundle.path, "cpu")
    return export_onnx(network, metadata.height, metadata.width)


def create_backend(
    kind: str,
    model: ModelBundle | str | Path,
    *,
    device: str | None = None,
    fp16: bool = False,
    cache_dir: str | Path | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    intra_op_threads: int | None = None,
    availability: Availability | None = None,
) -> Backend:
    """A backend of ``kind`` ("auto", "torch", "onnxruntime", "tensorrt") running ``model``.

    ``device`` defaults to CUDA where the backend can use it, else CPU. ``fp16`` is for the torch
    (CUDA, autocast) and TensorRT backends. ``cache_dir``/``max_batch`` configure TensorRT's engine
    cache and profile; ``intra_op_threads`` onnxruntime's thread pool.
    """
    bundle = model if isinstance(model, ModelBundle) else open_model(model)
    if kind not in BACKEND_KINDS:
        raise ValueError(f"backend must be one of {BACKEND_KINDS}, got {kind!r}")
    if kind == "auto":
        kind, auto_device = choose_backend(bundle.format, availability or probe_availability(), fp16=fp16)
        device = device or auto_device
    supported = {c.kind: c.formats for c in _CANDIDATES}[kind]
    if bundle.format not in supported:
        raise ValueError(f"the {kind} backend cannot run a model in {bundle.format} format ({bundle.path})")
    metadata = bundle.metadata
    names = (
        {"input_name": bundle.sidecar.input_name, "output_name": bundle.sidecar.output_name} if bundle.sidecar else {}
    )
    if kind == "torch":
        network, _ = load_depth_network(bundle.path, "cpu")
        return TorchBackend(network, device or ("cuda" if torch.cuda.is_available() else "cpu"), fp16)
    if kind == "onnxruntime":
        if fp16:
            raise ValueError(
                "the onnxruntime backend runs the FP32 graph; fp16 is for the torch (CUDA) and tensorrt backends"
            )
        if device is None:
            device = "cuda" if CUDA_PROVIDER in available_providers() else "cpu"
        return OnnxRuntimeBackend(_onnx_graph(bundle), device=device, intra_op_threads=intra_op_threads, **names)
    device = device or "cuda"
    if bundle.format == "engine":
        return TensorRTBackend(bundle.read_verified(), device=device, **names)
    return TensorRTBackend.from_onnx(
        _onnx_graph(bundle),
        height=metadata.height,
        width=metadata.width,
        precision="fp16" if fp16 else "fp32",
        max_batch=max_batch,
        cache_dir=cache_dir,
        device=device,
        **names,
    )
