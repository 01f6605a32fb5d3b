"""Weights folders in Monodepth2's layout, plus depth_ros metadata.

A folder holds ``encoder.pth`` (the depth encoder, with Monodepth2's extra ``height``, ``width`` and
``use_stereo`` keys), ``depth.pth``, and for training ``pose_encoder.pth``, ``pose.pth``, optionally
``intrinsics.pth`` and ``adam.pth``. ``depth_ros.json`` adds what official folders lack (decoder
kind, learned intrinsics, depth range); official folders without it load unchanged, their
architecture read from the keys. Every load uses ``torch.load(weights_only=True)``; every save is
atomic.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from depth_ros.atomic_io import atomic_write, atomic_write_text, staged_folder
from depth_ros.errors import first_line
from depth_ros.networks import DepthDecoder, DepthNetwork, ResnetEncoder
from depth_ros.networks.layers import PadMode

METADATA_FILE = "depth_ros.json"
ENCODER_EXTRA_KEYS = ("height", "width", "use_stereo")
# (is bottleneck, blocks in layer3) → ResNet depth
_RESNET_BY_BLOCKS = {(False, 2): 18, (False, 6): 34, (True, 6): 50, (True, 23): 101, (True, 36): 152}


class CheckpointError(RuntimeError):
    """A weights folder or file is missing, corrupt, unsafe or does not fit the network."""


@dataclasses.dataclass
class ModelMetadata:
    """What a depth model needs besides its weights. Sizes in pixels, depths in metres (model units)."""

    height: int
    width: int
    use_stereo: bool = False
    num_layers: int = 18
    decoder_upsample: str = "nearest"
    min_depth: float = 0.1
    max_depth: float = 100.0
    intrinsics_norm: list[list[float]] | None = None  # learned 3×3 K, row 0 / width, row 1 / height

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping) -> ModelMetadata:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def load_state_file(path: str | Path) -> dict:
    """Load a ``.pth`` with ``weights_only=True``; clear CheckpointError for missing/corrupt/unsafe files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing weights file {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refusing {path}: it holds objects other than tensors and plain values (loading it would run "
            f"code from the file). {first_line(exc)}"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"cannot read {path}: corrupt or truncated ({first_line(exc, 160)})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return state


def save_state_file(path: str | Path, state: Mapping) -> Path:
    """Save a state dict atomically."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def infer_num_layers(encoder_state: Mapping[str, torch.Tensor]) -> int:
    """ResNet depth of an encoder state dict, from its block structure."""
    bottleneck = any(k.startswith("encoder.layer1.0.conv3.") for k in encoder_state)
    blocks = {k.split(".")[2] for k in encoder_state if k.startswith("encoder.layer3.")}
    try:
        return _RESNET_BY_BLOCKS[(bottleneck, len(blocks))]
    except KeyError:
        raise CheckpointError("encoder weights do not match any ResNet-18/34/50/101/152") from None


def infer_decoder_upsample(depth_state: Mapping[str, torch.Tensor]) -> str:
    """'espcn' when the decoder state holds ESPCN upsamplers, else 'nearest'."""
    return "espcn" if any(k.startswith("upsamplers.") for k in depth_state) else "nearest"


def read_metadata(folder: str | Path) -> ModelMetadata:
    """Metadata of a weights folder: ``depth_ros.json`` when present, else read from the weights."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"weights folder {folder} does not exist")
    json_path = folder / METADATA_FILE
    if json_path.is_file():
        try:
            return ModelMetadata.from_dict(json.loads(json_path.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            raise CheckpointError(f"cannot parse {json_path}: {exc}") from exc
    encoder_state = load_state_file(folder / "encoder.pth")
    depth_state = load_state_file(folder / "depth.pth")
    try:
        height, width = int(encoder_state["height"]), int(encoder_state["width"])
    except KeyError:
        raise CheckpointError(f"{folder / 'encoder.pth'} lacks the 'height'/'width' keys") from None
    return ModelMetadata(
        height=height,
        width=width,
        use_stereo=bool(encoder_state.get("use_stereo", False)),
        num_layers=infer_num_layers(encoder_state),
        decoder_upsample=infer_decoder_upsample(depth_state),
    )


def save_weights_folder(
    folder: str | Path,
    state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
    metadata: ModelMetadata,
    extra_files: Mapping[str, Mapping] | None = None,
) -> Path:
    """Write ``<name>.pth`` for every entry of ``state_dicts``, ``extra_files`` (file name → state, e.g.
    ``adam.pth``) and ``depth_ros.json`` as one folder, created whole: a loader never sees part of it.

    ``state_dicts["encoder"]`` gets Monodepth2's ``height``/``width``/``use_stereo`` keys.
    """

    def fill(staging: Path) -> None:
        for name, state in state_dicts.items():
            state = dict(state)
            if name == "encoder":
                state.update(height=metadata.height, width=metadata.width, use_stereo=metadata.use_stereo)
            save_state_file(staging / f"{name}.pth", state)
        for filename, state in (extra_files or {}).items():
            save_state_file(staging / filename, state)
        atomic_write_text(staging / METADATA_FILE, metadata.to_json())

    return staged_folder(folder, fill)


def load_module_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor], name: str) -> None:
    """Strictly load ``state`` into ``module``, ignoring Monodepth2's non-tensor encoder keys.

    A decoder of the wrong kind (ESPCN vs nearest) or a wrong architecture raises CheckpointError.
    """
    state = {k: v for k, v in state.items() if k not in ENCODER_EXTRA_KEYS}
    if isinstance(module, DepthDecoder):
        found = infer_decoder_upsample(state)
        if found != module.upsample:
            raise CheckpointError(
                f"{name} holds a depth decoder with {found!r} upsampling but the network was built with "
                f"{module.upsample!r} upsampling (train/load with{'' if found == 'espcn' else 'out'} --espcn)"
            )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        raise CheckpointError(f"{name} does not fit the network: {' '.join(first[:3])[:400]}") from exc


def load_depth_network(
    folder: str | Path, device: str | torch.device = "cpu", pad_mode: PadMode = "reflect"
) -> tuple[DepthNetwork, ModelMetadata]:
    """Build and load encoder + decoder of a weights folder, in eval mode on ``device``."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    encoder = ResnetEncoder(metadata.num_layers)
    decoder = DepthDecoder(encoder.num_ch_enc, upsample=metadata.decoder_upsample, pad_mode=pad_mode)
    load_module_state(encoder, load_state_file(folder / "encoder.pth"), str(folder / "encoder.pth"))
    load_module_state(decoder, load_state_file(folder / "depth.pth"), str(folder / "depth.pth"))
    network = DepthNetwork(encoder, decoder).to(device).eval()
    return network, metadata
