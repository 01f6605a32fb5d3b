"""Test doubles shared by several test files: tiny seeded depth networks saved as weights folders (pipeline,
backend and export tests), a constant backend, and a fake Mask R-CNN (training extensions and evaluation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from depth_ros.backends import Backend
from depth_ros.checkpoint import ModelMetadata, save_state_file, save_weights_folder
from depth_ros.networks import DepthDecoder, DepthNetwork, ResnetEncoder

HEIGHT, WIDTH = 64, 192  # the smallest Monodepth2-shaped input: multiples of 32, KITTI-like aspect


def tiny_network(seed: int = 0, upsample: str = "nearest") -> DepthNetwork:
    """A randomly initialised ResNet-18 depth network (seeded), in eval mode."""
    torch.manual_seed(seed)
    encoder = ResnetEncoder(18)
    return DepthNetwork(encoder, DepthDecoder(encoder.num_ch_enc, upsample=upsample)).eval()


def save_tiny_weights(
    folder: Path,
    network: DepthNetwork,
    *,
    official: bool = False,
    use_stereo: bool = False,
    intrinsics_norm: list[list[float]] | None = None,
) -> Path:
    """Save ``network`` as a weights folder: ours (with depth_ros.json) or official (encoder.pth keys only)."""
    encoder_state, depth_state = network.encoder.state_dict(), network.decoder.state_dict()
    if official:
        folder.mkdir(parents=True, exist_ok=True)
        save_state_file(
            folder / "encoder.pth", {**encoder_state, "height": HEIGHT, "width": WIDTH, "use_stereo": use_stereo}
        )
        save_state_file(folder / "depth.pth", depth_state)
        return folder
    metadata = ModelMetadata(
        HEIGHT, WIDTH, use_stereo=use_stereo, decoder_upsample=network.decoder.upsample, intrinsics_norm=intrinsics_norm
    )
    return save_weights_folder(folder, {"encoder": encoder_state, "depth": depth_state}, metadata)


class ConstantBackend(Backend):
    """Returns a fixed B×1×h×w sigmoid disparity map for every image of a batch (no network)."""

    name = "constant"
    device = "cpu"

    def __init__(self, disparity: np.ndarray) -> None:
        self.disparity = np.asarray(disparity, np.float32)
        self.batches: list[np.ndarray] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch)
        return np.repeat(self.disparity[None, None], len(batch), axis=0)


class BoxDetector(nn.Module):
    """A fake Mask R-CNN: one confident person in rows H/2.., columns W/8..W/2 of every image (flip-asymmetric).

    Records every image it is given (3×H×W) and counts its calls (one per batch). Built in eval mode, as
    ``build_detector`` returns Mask R-CNN.
    """

    PERSON = 1  # COCO-91 label

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []
        self.calls = 0
        self.eval()

    @staticmethod
    def box(height: int, width: int) -> torch.Tensor:
        """The detected object as an H×W bool mask."""
        mask = torch.zeros(height, width, dtype=torch.bool)
        mask[height // 2 :, width // 8 : width // 2] = True
        return mask

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        self.calls += 1
        self.inputs.extend(image.detach().clone() for image in images)
        return [
            {
                "scores": torch.tensor([0.95]),
                "labels": torch.tensor([self.PERSON]),
                "masks": self.box(*image.shape[1:]).float()[None, None] * 0.9,
            }
            for image in images
        ]
