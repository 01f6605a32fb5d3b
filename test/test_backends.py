"""Backends: ONNX Runtime vs PyTorch parity, the ``auto`` choice, model bundles, TensorRT gating and cache keys."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from depth_test_models import HEIGHT, WIDTH, save_tiny_weights, tiny_network

import depth_ros
from depth_ros.backends import (
    Availability,
    BackendUnavailable,
    choose_backend,
    create_backend,
    open_model,
    sidecar_path,
)
from depth_ros.backends.onnx_backend import CUDA_PROVIDER, OnnxRuntimeBackend, available_providers
from depth_ros.backends.tensorrt_backend import apply_precision, engine_cache_key, tensorrt_available
from depth_ros.backends.torch_backend import TorchBackend
from depth_ros.checkpoint import CheckpointError
from depth_ros.export import export_weights

PARITY_TOLERANCE = 1e-4
NOTHING = Availability()
CPU_ONLY = Availability(onnxruntime=True)
EVERYTHING = Availability(tensorrt=True, onnxruntime=True, onnxruntime_cuda=True, torch_cuda=True)


@pytest.fixture(scope="module")
def network():
    return tiny_network(seed=3)


@pytest.fixture(scope="module")
def weights(network, tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("backends") / "weights", network)


@pytest.fixture(scope="module")
def onnx_model(weights):
    path = weights.parent / "tiny.onnx"
    export_weights(weights, path)
    return path


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(1)).numpy()


# ------------------------------------------------------------------------------------------------ parity


def test_onnxruntime_matches_pytorch_on_the_same_weights(network, weights, onnx_model, images):
    with torch.inference_mode():
        expected = network(torch.from_numpy(images)).numpy()
    torch_out = create_backend("torch", weights, device="cpu").run(images)
    np.testing.assert_array_equal(torch_out, expected)
    for model in (onnx_model, weights):  # the exported file, and a folder exported in memory
        backend = create_backend("onnxruntime", model, device="cpu")
        assert (backend.name, backend.device) == ("onnxruntime", "cpu")
        out = backend.run(images)
        assert out.shape == (3, 1, HEIGHT, WIDTH) and out.dtype == np.float32
        assert np.abs(out - expected).max() <= PARITY_TOLERANCE


def test_onnxruntime_thread_and_optimisation_options(onnx_model, images):
    baseline = create_backend("onnxruntime", onnx_model, device="cpu").run(images[:1])
    tuned = OnnxRuntimeBackend(onnx_model, intra_op_threads=1, optimization="basic").run(images[:1])
    assert np.abs(tuned - baseline).max() <= PARITY_TOLERANCE
    with pytest.raises(ValueError, match="optimization must be one of"):
        OnnxRuntimeBackend(onnx_model, optimization="max")
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda"):
        OnnxRuntimeBackend(onnx_model, device="tpu")


# -------------------------------------------------------------------------------------------- auto choice


@pytest.mark.parametrize(
    ("model_format", "availability", "fp16", "expected"),
    [
        ("weights", EVERYTHING, False, ("tensorrt", "cuda")),
        ("onnx", EVERYTHING, False, ("tensorrt", "cuda")),
        ("engine", EVERYTHING, True, ("tensorrt", "cuda")),
        (
            "weights",
            Availability(onnxruntime=True, onnxruntime_cuda=True, torch_cuda=True),
            False,
            ("onnxruntime", "cuda"),
        ),
        ("weights", Availability(onnxruntime=True, onnxruntime_cuda=True, torch_cuda=True), True, ("torch", "cuda")),
        ("weights", Availability(onnxruntime=True, torch_cuda=True), False, ("torch", "cuda")),
        ("onnx", Availability(onnxruntime=True, torch_cuda=True), False, ("onnxruntime", "cpu")),
        ("weights", CPU_ONLY, False, ("onnxruntime", "cpu")),
        ("onnx", CPU_ONLY, False, ("onnxruntime", "cpu")),
        ("weights", NOTHING, False, ("torch", "cpu")),
    ],
)
def test_auto_prefers_tensorrt_then_ort_cuda_then_torch_cuda_then_ort_cpu(model_format, availability, fp16, expected):
    assert choose_backend(model_format, availability, fp16=fp16) == expected


@pytest.mark.parametrize(
    ("model_format", "availability", "fp16", "message"),
    [
        ("engine", Availability(onnxruntime=True, onnxruntime_cuda=True, torch_cuda=True), False, "needs TensorRT"),
        ("onnx", NOTHING, False, "needs onnxruntime"),
        ("weights", CPU_ONLY, True, "in FP16: needs a CUDA backend"),
    ],
)
def test_auto_says_what_is_missing(model_format, availability, fp16, message):
    with pytest.raises(BackendUnavailable, match=message):
        choose_backend(model_format, availability, fp16=fp16)


def test_create_backend_auto_uses_the_injected_availability(weights):
    backend = create_backend("auto", weights, availability=NOTHING)
    assert isinstance(backend, TorchBackend) and backend.device == "cpu"


def test_backend_and_format_mismatches_are_refused(weights, onnx_model):
    with pytest.raises(ValueError, match="the torch backend cannot run a model in onnx format"):
        create_backend("torch", onnx_model)
    with pytest.raises(ValueError, match="backend must be one of"):
        create_backend("openvino", weights)
    with pytest.raises(ValueError, match="fp16 is for the torch"):
        create_backend("onnxruntime", onnx_model, fp16=True)
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        TorchBackend(tiny_network(), "cpu", fp16=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_requests_without_cuda_are_backend_unavailable(onnx_model):
    with pytest.raises(BackendUnavailable, match="no CUDA device"):
        TorchBackend(tiny_network(), "cuda")
    if CUDA_PROVIDER not in available_providers():
        with pytest.raises(BackendUnavailable, match="no CUDA provider"):
            OnnxRuntimeBackend(onnx_model, device="cuda")


# ------------------------------------------------------------------------------------------- model bundles


def test_bundles_are_identified_by_path(weights, onnx_model):
    assert open_model(weights).format == "weights"
    bundle = open_model(onnx_model)
    assert bundle.format == "onnx" and bundle.sidecar.input_name == "image" and bundle.metadata.height == HEIGHT


def test_corrupt_or_incomplete_onnx_bundles_are_checkpoint_errors(tmp_path, onnx_model):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(onnx_model.read_bytes()[:100_000])
    sidecar_path(truncated).write_text(sidecar_path(onnx_model).read_text())
    with pytest.raises(CheckpointError, match=r"does not match its sidecar .*truncated, corrupt"):
        create_backend("onnxruntime", truncated)
    with pytest.raises(CheckpointError, match="onnxruntime cannot load"):
        OnnxRuntimeBackend(b"\x08\x07garbage")
    no_sidecar = tmp_path / "lonely.onnx"
    no_sidecar.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"has no sidecar lonely\.onnx\.json"):
        open_model(no_sidecar)
    sidecar_path(no_sidecar).write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot parse"):
        open_model(no_sidecar)
    sidecar_path(no_sidecar).write_text(json.dumps({"sha256": "0", "metadata": [1]}))
    with pytest.raises(CheckpointError, match="cannot parse"):
        open_model(no_sidecar)
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="cannot tell the format"):
        open_model(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        open_model(tmp_path / "absent.onnx")


# ------------------------------------------------------------------------------------------------ TensorRT


def test_only_the_tensorrt_backend_imports_tensorrt():
    package = Path(depth_ros.__file__).parent
    importers = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "tensorrt" for name in names):
                importers.add(path.relative_to(package).as_posix())
    assert importers == {"backends/tensorrt_backend.py"}


@pytest.mark.skipif(tensorrt_available(), reason="checks the error where TensorRT is absent")
def test_tensorrt_absent_is_a_clear_backend_unavailable(onnx_model):
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        create_backend("tensorrt", onnx_model)


def cache_key(**changes) -> str:
    fields = {
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "compute_capability": (9, 0),
        "tensorrt_version": "10.13.0.35",
        "onnx_sha256": "ab" * 32,
        "precision": "fp16",
        "input_shape": (8, 3, 192, 640),
    }
    return engine_cache_key(**{**fields, **changes})


def test_engine_cache_key_holds_everything_a_plan_depends_on():
    key = cache_key()
    assert key == f"depth-{'ab' * 32}-fp16-3x192x640-b1-8-trt10.13.0.35-nvidia-h100-80gb-hbm3-sm90"
    assert all(c.isalnum() or c in "-._" for c in key)
    variants = [
        cache_key(gpu_name="NVIDIA GeForce RTX 4090"),
        cache_key(compute_capability=(8, 9)),
        cache_key(tensorrt_version="11.4.0.106"),
        cache_key(onnx_sha256="cd" * 32),
        cache_key(precision="fp32"),
        cache_key(input_shape=(1, 3, 192, 640)),
        cache_key(input_shape=(8, 3, 320, 1024)),
    ]
    assert len({key, *variants}) == 1 + len(variants)
    with pytest.raises(ValueError, match="precision must be one of"):
        cache_key(precision="int8")


class _RecordingConfig:
    def __init__(self) -> None:
        self.flags: list[object] = []

    def set_flag(self, flag: object) -> None:
        self.flags.append(flag)


def test_fp16_flag_guard_for_tensorrt_10_and_11():
    """A namespace shaped like ``tensorrt`` stands in for both versions; only the guard logic is under test."""
    fp16_flag = object()
    trt10 = SimpleNamespace(__version__="10.13.0.35", BuilderFlag=SimpleNamespace(FP16=fp16_flag, TF32=object()))
    trt11 = SimpleNamespace(__version__="11.4.0.106", BuilderFlag=SimpleNamespace(TF32=object()))
    config = _RecordingConfig()
    apply_precision(trt10, config, "fp16")
    assert config.flags == [fp16_flag]
    for trt in (trt10, trt11):
        config = _RecordingConfig()
        apply_precision(trt, config, "fp32")
        assert config.flags == []
    with pytest.raises(BackendUnavailable, match=r"TensorRT 11\.4\.0\.106 has no BuilderFlag\.FP16 .*strongly typed"):
        apply_precision(trt11, _RecordingConfig(), "fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        apply_precision(trt10, _RecordingConfig(), "bf16")


def test_tensorrt_matches_onnxruntime(onnx_model, images, tmp_path):
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU")
    reference = create_backend("onnxruntime", onnx_model, device="cpu").run(images)
    backend = create_backend("tensorrt", onnx_model, cache_dir=tmp_path, max_batch=2)
    assert np.abs(backend.run(images) - reference).max() <= PARITY_TOLERANCE  # 3 images: chunks of 2 + 1
    cached = list(tmp_path.glob("*.engine"))
    assert len(cached) == 1
    cached[0].write_bytes(b"stale plan from another TensorRT")  # deserialises to None → rebuilt
    rebuilt = create_backend("tensorrt", onnx_model, cache_dir=tmp_path, max_batch=2)
    assert np.abs(rebuilt.run(images) - reference).max() <= PARITY_TOLERANCE
