"""Image loading as Monodepth2 trains: PIL RGB decode, then a LANCZOS pyramid; optionally cached on disk.

Decoding a KITTI PNG/JPEG and building the LANCZOS pyramid dominate a CPU training step, and their result
depends only on the file and the training size. :class:`ImageCache` stores it once as a uint8 ``.npy``
(all scales concatenated, written atomically) keyed by the image path and the pyramid size.

The pyramid is always of the **unflipped** image: mirroring commutes exactly with PIL's LANCZOS resize (the
filter is symmetric), so flipping each level afterwards equals Monodepth2's flip-then-resize.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from depth_ros.atomic_io import atomic_write


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image file as 8-bit RGB (PIL ``convert('RGB')``, as Monodepth2's loader)."""
    with Image.open(path) as img:
        return img.convert("RGB")


def pyramid_sizes(width: int, height: int, num_scales: int) -> list[tuple[int, int]]:
    """(width, height) of scale s: ``(width // 2^s, height // 2^s)``, integer division as Monodepth2."""
    return [(width // 2**s, height // 2**s) for s in range(num_scales)]


def resize_pyramid(img: Image.Image, width: int, height: int, num_scales: int) -> list[Image.Image]:
    """LANCZOS pyramid: scale 0 resized from the native image, each next scale from the previous one."""
    levels = []
    for size in pyramid_sizes(width, height, num_scales):
        img = img.resize(size, Image.LANCZOS)
        levels.append(img)
    return levels


class ImageCache:
    """Decoded, resized pyramids (``num_scales`` uint8 H×W×3 RGB arrays) cached as ``.npy`` files.

    Safe with several DataLoader workers or processes: every file is written under a temporary name and
    renamed. The key holds the absolute image path, its size and mtime (an edited image is re-read) and the
    pyramid size, so runs at different resolutions can share one folder.
    """

    def __init__(self, cache_dir: str | Path, width: int, height: int, num_scales: int) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self.width, self.height, self.num_scales = width, height, num_scales
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def cache_path(self, image_path: str | Path) -> Path:
        image_path = Path(image_path).resolve()
        stat = image_path.stat()
        key = f"{image_path}|{stat.st_size}|{stat.st_mtime_ns}|{self.width}x{self.height}x{self.num_scales}"
        digest = hashlib.sha1(key.encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.npy"

    def load(self, image_path: str | Path) -> list[Image.Image]:
        """The LANCZOS pyramid of ``image_path``, from the cache or decoded, resized and stored."""
        path = self.cache_path(image_path)
        sizes = pyramid_sizes(self.width, self.height, self.num_scales)
        if path.is_file():
            flat = np.load(path)
            if flat.size == sum(3 * w * h for w, h in sizes):
                return _unflatten(flat, sizes)
        levels = resize_pyramid(load_rgb(image_path), self.width, self.height, self.num_scales)
        flat = np.concatenate([np.asarray(level).reshape(-1) for level in levels])
        atomic_write(path, lambda tmp: _save_npy(tmp, flat))
        return levels


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save(str) would append ".npy" to the temporary name
        np.save(f, array)


def _unflatten(flat: np.ndarray, sizes: list[tuple[int, int]]) -> list[Image.Image]:
    levels, start = [], 0
    for w, h in sizes:
        levels.append(Image.fromarray(flat[start:start + 3 * w * h].reshape(h, w, 3)))
        start += 3 * w * h
    return levels
