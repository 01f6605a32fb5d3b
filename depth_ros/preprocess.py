"""Image resizing exactly as Monodepth2 trains: PIL LANCZOS from the native size, no crop."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """H×W×3 uint8 RGB → height×width×3 uint8 RGB with PIL's LANCZOS filter (squash, no crop)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}")
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.array(Image.fromarray(rgb).resize((width, height), Image.LANCZOS))


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 RGB → 1×3×H×W float32 in [0, 1] (torchvision's ToTensor)."""
    return torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0).div_(255.0)
