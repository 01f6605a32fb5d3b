"""What every inference backend shares: the interface, the model bundle it loads, the ONNX/engine sidecar.

A *model bundle* is one of

* a weights folder (Monodepth2's layout, with or without ``depth_ros.json``);
* an exported ``model.onnx`` with its sidecar ``model.onnx.json``;
* a TensorRT plan ``model.engine`` / ``model.plan`` with its sidecar ``model.engine.json``.

The sidecar carries what the graph alone does not: the training metadata (input size, stereo or
mono, depth range, learned intrinsics), the tensor names and the sha256 of the file it describes.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np

from depth_ros.atomic_io import atomic_write_text
from depth_ros.checkpoint import CheckpointError, ModelMetadata, read_metadata

ModelFormat = Literal["weights", "onnx", "engine"]
ENGINE_SUFFIXES = (".engine", ".plan")
SIDECAR_SUFFIX = ".json"
INPUT_NAME = "image"
OUTPUT_NAME = "disparity"


class BackendUnavailable(RuntimeError):  # noqa: N818 -- the name the node and CLIs catch; reads as a state
    """The requested backend (or its device) is not installed or not usable on this machine."""


class Backend(abc.ABC):
    """Runs the depth network: B×3×H×W float32 RGB in [0, 1] → B×1×H×W float32 sigmoid disparity.

    H×W is the network input size of the model. ``name`` is the backend kind ("torch",
    "onnxruntime", "tensorrt"), ``device`` where it runs ("cpu", "cuda:0").
    """

    name: str
    device: str

    @abc.abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """B×3×H×W float32 → B×1×H×W float32 disparity in (0, 1)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"


def sha256_of(data: bytes | Path) -> str:
    """Hex sha256 of bytes or of a file's contents."""
    digest = hashlib.sha256()
    if isinstance(data, Path):
        with data.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(data)
    return digest.hexdigest()


@dataclasses.dataclass
class ModelSidecar:
    """``<model>.json`` beside an exported ONNX graph or TensorRT plan.

    ``sha256`` is that of the file the sidecar describes; ``pad_mode`` the decoder padding the graph
    was exported with; ``precision`` "fp32" or "fp16" (engines only); ``tensorrt_version`` the
    TensorRT that built an engine.
    """

    metadata: ModelMetadata
    sha256: str
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    opset: int = 17
    pad_mode: str = "reflect"
    precision: str = "fp32"
    tensorrt_version: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelSidecar:
        data = json.loads(text)
        data["metadata"] = ModelMetadata.from_dict(data["metadata"])
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def sidecar_path(model_path: str | Path) -> Path:
    """``model.onnx`` → ``model.onnx.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def write_sidecar(model_path: str | Path, sidecar: ModelSidecar) -> Path:
    """Write the sidecar of ``model_path`` atomically."""
    return atomic_write_text(sidecar_path(model_path), sidecar.to_json())


def read_sidecar(model_path: str | Path) -> ModelSidecar:
    """Read and check the sidecar of ``model_path``; CheckpointError when missing or malformed."""
    path = sidecar_path(model_path)
    if not path.is_file():
        raise CheckpointError(
            f"{model_path} has no sidecar {path.name} (input size, depth range, tensor names): export "
            f"with `python -m depth_ros.export`, which writes both"
        )
    try:
        return ModelSidecar.from_json(path.read_text())
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot parse {path}: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class ModelBundle:
    """A model on disk: its path, format, metadata and (for ONNX/engines) sidecar."""

    path: Path
    format: ModelFormat
    metadata: ModelMetadata
    sidecar: ModelSidecar | None = None

    def read_verified(self) -> bytes:
        """The bytes of an ONNX graph or engine, checked against the sidecar's sha256."""
        if self.sidecar is None:
            raise ValueError(f"{self.path} is a weights folder, not a single model file")
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc}") from exc
        if sha256_of(data) != self.sidecar.sha256:
            raise CheckpointError(
                f"{self.path} does not match its sidecar {sidecar_path(self.path).name} (sha256 differs): "
                f"the file is truncated, corrupt or was replaced without its sidecar"
            )
        return data


def open_model(path: str | Path) -> ModelBundle:
    """Identify a model bundle by its path: a folder, a ``.onnx`` or a ``.engine``/``.plan`` file."""
    path = Path(path)
    if path.is_dir():
        return ModelBundle(path, "weights", read_metadata(path))
    if not path.is_file():
        raise CheckpointError(f"model {path} does not exist")
    if path.suffix == ".onnx":
        model_format: ModelFormat = "onnx"
    elif path.suffix in ENGINE_SUFFIXES:
        model_format = "engine"
    else:
        raise CheckpointError(
            f"cannot tell the format of {path}: expected a weights folder, a .onnx file or a "
            f"{'/'.join(ENGINE_SUFFIXES)} TensorRT plan"
        )
    sidecar = read_sidecar(path)
    return ModelBundle(path, model_format, sidecar.metadata, sidecar)
