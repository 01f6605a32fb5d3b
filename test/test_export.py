"""ONNX export: a single file with fixed names and a dynamic batch, parity-checked, atomic, with its sidecar;
the engine builder's gating."""

from __future__ import annotations

import collections
import json

import numpy as np
import onnx
import pytest
import torch
from depth_test_models import HEIGHT, WIDTH, save_tiny_weights, tiny_network

from depth_ros import build_engine, export
from depth_ros.backends import OnnxRuntimeBackend, sidecar_path
from depth_ros.backends.base import sha256_of
from depth_ros.backends.tensorrt_backend import tensorrt_available


@pytest.fixture(scope="module")
def network():
    return tiny_network(seed=5)


@pytest.fixture(scope="module")
def weights(network, tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("export") / "weights", network, use_stereo=True)


@pytest.fixture(scope="module")
def exported(weights):
    out = weights.parent / "onnx" / "tiny.onnx"
    assert export.main(["--weights", str(weights), "--onnx", str(out)]) == 0
    return out


def test_export_writes_one_onnx_file_and_its_sidecar(exported):
    assert sorted(p.name for p in exported.parent.iterdir()) == ["tiny.onnx", "tiny.onnx.json"]
    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    (image,) = model.graph.input
    (disparity,) = model.graph.output
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert (image.name, dims) == ("image", ["batch", 3, HEIGHT, WIDTH])
    assert disparity.name == "disparity"
    pads = [n for n in model.graph.node if n.op_type == "Pad"]
    assert pads and all(a.s == b"reflect" for n in pads for a in n.attribute if a.name == "mode")

    sidecar = json.loads(sidecar_path(exported).read_text())
    assert sidecar["sha256"] == sha256_of(exported)
    assert (sidecar["input_name"], sidecar["output_name"], sidecar["opset"], sidecar["pad_mode"]) == (
        "image",
        "disparity",
        17,
        "reflect",
    )
    assert sidecar["metadata"]["use_stereo"] is True
    assert (sidecar["metadata"]["height"], sidecar["metadata"]["width"]) == (HEIGHT, WIDTH)


def test_exported_graph_matches_pytorch_for_any_batch(network, exported):
    backend = OnnxRuntimeBackend(exported)
    for batch in (1, 4):
        images = torch.rand(batch, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(batch))
        with torch.inference_mode():
            expected = network(images).numpy()
        assert np.abs(backend.run(images.numpy()) - expected).max() <= export.PARITY_TOLERANCE


def test_parity_inputs_cover_random_and_structured_images():
    random, structured = export.parity_inputs(HEIGHT, WIDTH)
    assert random.shape == (2, 3, HEIGHT, WIDTH) and structured.shape == (1, 3, HEIGHT, WIDTH)
    assert structured.min() == 0.0 and structured.max() == 1.0 and len(np.unique(structured)) > 100


def test_replicate_padding_and_another_size(weights, tmp_path, capsys):
    out = tmp_path / "replicate.onnx"
    sidecar = export.export_weights(weights, out, height=96, width=192, pad="replicate")
    assert "replicate padding moved the disparity by up to" in capsys.readouterr().out
    assert (sidecar.pad_mode, sidecar.metadata.height, sidecar.metadata.width) == ("replicate", 96, WIDTH)
    model = onnx.load(str(out))
    modes = collections.Counter(a.s for n in model.graph.node if n.op_type == "Pad" for a in n.attribute)
    assert modes and set(modes) == {b"edge"}


def test_parity_failure_writes_nothing(weights, tmp_path, monkeypatch, capsys):
    """A graph of other weights stands in for a broken export: refused, and no file is left behind."""
    impostor = tiny_network(seed=99)
    real_export = export.export_onnx
    monkeypatch.setattr(export, "export_onnx", lambda network, *args: real_export(impostor, *args))
    out = tmp_path / "bad.onnx"
    assert export.main(["--weights", str(weights), "--onnx", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("depth_ros.export: error: the ONNX graph does not reproduce PyTorch: max |Δdisparity|")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--height", "100"], "multiples of 32, got 100×192"),
        (["--pad", "reflect"], "missing weights file"),
        ([], "must name a .onnx file"),
    ],
)
def test_export_cli_errors_are_one_line_and_exit_2(weights, tmp_path, capsys, args, message):
    source = tmp_path if "missing weights file" in message else weights
    out = tmp_path / ("out.pb" if "must name" in message else "out.onnx")
    assert export.main(["--weights", str(source), "--onnx", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


@pytest.mark.skipif(tensorrt_available(), reason="checks the error where TensorRT is absent")
def test_build_engine_without_tensorrt_exits_2(exported, capsys):
    assert build_engine.main([str(exported)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m depth_ros.build_engine: error: TensorRT is not installed")
    assert not exported.with_suffix(".engine").exists()


def test_build_engine_with_tensorrt(exported, tmp_path):
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU")
    engine = tmp_path / "tiny.engine"
    assert build_engine.main([str(exported), "--output", str(engine), "--max-batch", "2"]) == 0
    sidecar = json.loads(sidecar_path(engine).read_text())
    assert sidecar["sha256"] == sha256_of(engine) and sidecar["precision"] == "fp32" and sidecar["tensorrt_version"]
