"""A depth network's scaled disparities for a list of images, as the evaluation protocol reads them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from depth_ros.atomic_io import atomic_write
from depth_ros.geometry import disp_to_depth
from depth_ros.networks import DepthNetwork
from depth_ros.preprocess import resize_rgb, rgb_to_tensor
from training.datasets.splits import SplitLine
from training.mask_adjustment import adjust_disparity, detect_object_masks
from training.metrics import batch_post_process_disparity


def raw_image_path(data_path: str | Path, ref: SplitLine, ext: str) -> Path:
    """``data_path/<date>/<drive>/image_0N/data/<frame:010d><ext>`` of a KITTI raw split line."""
    return Path(data_path) / ref.folder / f"image_0{ref.cam}" / "data" / f"{ref.frame_index:010d}{ext}"


def load_image_tensor(path: str | Path, width: int, height: int) -> torch.Tensor:
    """1×3×height×width float tensor in [0, 1]: the image as RGB, resized with PIL LANCZOS (no crop)."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    return rgb_to_tensor(resize_rgb(rgb, width, height))


@torch.no_grad()
def predict_disparities(
    network: DepthNetwork,
    image_paths: Sequence[Path],
    size: tuple[int, int],
    depth_range: tuple[float, float],
    batch_size: int = 16,
    post_process: bool = False,
    device: str | torch.device = "cpu",
    detector: nn.Module | None = None,
) -> np.ndarray:
    """N×H×W float32 scaled disparities (1/metres in model units) for the images at ``size`` = (H, W).

    ``depth_range`` = (min_depth, max_depth) of :func:`disp_to_depth`. With ``post_process`` each batch
    runs with its horizontal flip and the two are blended by ``batch_post_process_disparity``. With a
    ``detector`` (eval mode), each network disparity is Mask R-CNN-adjusted with the objects detected on its
    own input image (flipped images included) before the conversion.
    """
    height, width = size
    predictions = []
    with tqdm(total=len(image_paths), desc="predict", unit="img", disable=None) as progress:
        for start in range(0, len(image_paths), batch_size):
            batch = image_paths[start : start + batch_size]
            images = torch.cat([load_image_tensor(path, width, height) for path in batch]).to(device)
            if post_process:
                images = torch.cat([images, torch.flip(images, [3])])
            disp = network(images)
            if detector is not None:
                disp = adjust_disparity(disp, detect_object_masks(detector, images))
            scaled_disp, _ = disp_to_depth(disp, *depth_range)
            scaled_disp = scaled_disp[:, 0].cpu().numpy()
            if post_process:
                scaled_disp = batch_post_process_disparity(
                    scaled_disp[: len(batch)], scaled_disp[len(batch) :, :, ::-1]
                )
            predictions.append(scaled_disp)
            progress.update(len(batch))
    return np.concatenate(predictions)


def save_array(path: Path, array: np.ndarray) -> Path:
    """``np.save`` to ``path`` atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as stream:
            np.save(stream, array)

    return atomic_write(path, write)
