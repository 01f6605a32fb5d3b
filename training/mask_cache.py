"""The Mask R-CNN mask cache of ``--mask_cache``: one compressed ``.npz`` of K×H×W bool masks per target frame,
written by ``python -m training.precompute_masks`` and read by the training dataset."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from depth_ros.atomic_io import atomic_write_bytes
from training.datasets.splits import SIDE_TO_CAM

MASKS_KEY = "masks"


def mask_cache_path(cache_dir: str | Path, folder: str, frame: int, side: str, size: tuple[int, int]) -> Path:
    """Cache file of one target frame; ``size`` = (height, width) the masks were computed at."""
    height, width = size
    return Path(cache_dir) / f"{width}x{height}" / folder / f"image_0{SIDE_TO_CAM[side]}" / f"{frame:010d}.npz"


def load_cached_masks(
    cache_dir: str | Path, folder: str, frame: int, side: str, size: tuple[int, int], *, hflip: bool = False
) -> torch.Tensor:
    """The cached object masks of one target frame: K×H×W bool (K may be 0), ``size`` = (height, width).

    Masks are computed on the unflipped image; when the dataset flips a sample horizontally, the masks
    must be flipped with it: pass ``hflip=True`` (same as ``masks.flip(-1)``). Lower scales come from
    ``mask_adjustment.resize_masks``.
    """
    path = mask_cache_path(cache_dir, folder, frame, side, size)
    if not path.is_file():
        raise FileNotFoundError(
            f"no cached masks at {path}; run `python -m training.precompute_masks --data_path <data_path> "
            f"--split <split> --height {size[0]} --width {size[1]} --out {cache_dir}` first"
        )
    with np.load(path) as data:
        masks = torch.from_numpy(data[MASKS_KEY])
    return masks.flip(-1) if hflip else masks


def save_masks(path: Path, masks: torch.Tensor) -> None:
    """Write K×H×W bool masks as a compressed .npz, atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{MASKS_KEY: masks.cpu().numpy().astype(bool)})
    atomic_write_bytes(path, buffer.getvalue())
