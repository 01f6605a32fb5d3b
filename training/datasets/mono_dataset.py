"""Monodepth2's ``MonoDataset``: frames around a target, augmented once per sample, as multi-scale tensors.

A sample is one split line ``<folder> <frame index> <side>``. ``__getitem__`` returns (H, W the training size,
s the scale, frame ids as given, ``"s"`` the other stereo camera):

==========================  =========================================================================
``("color", i, s)``         float32 3×(H/2^s)×(W/2^s) RGB in [0, 1], not colour-augmented (losses)
``("color_aug", i, s)``     the same, colour-jittered when augmenting (network inputs)
``("K", s)``, ``("inv_K", s)``  float32 4×4 intrinsics in pixels of scale s, and their pseudo-inverse
``"depth_gt"``              float32 1×375×1242 training-time ground truth (metres, 0 = none), when available
``"stereo_T"``              float32 4×4, translation ±0.1 along x, when ``"s"`` is a frame id
``"flipped"``               bool scalar: the sample was mirrored horizontally
``"object_masks"``          K×H×W bool object masks of the target at scale 0 (``object_masks`` loader given);
                            batch them with :func:`collate_samples`
==========================  =========================================================================

Training augmentation (``is_train``), independent draws per sample: with p=0.5 one colour jitter
(brightness, contrast, saturation in [0.8, 1.2], hue in [−0.1, 0.1], adjustments in a random order) whose
parameters are drawn once and applied to every frame and scale of ``color_aug``; with p=0.5 a horizontal
flip of every frame, scale, ``depth_gt`` and the object masks; with a ``weather`` augmentation, one weather
draw replayed on every frame of ``color_aug`` after the jitter (lower scales resized from the augmented
scale 0 with LANCZOS, the pyramid rule), never on the ``color`` targets.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import Dataset, default_collate
from torchvision.transforms import ColorJitter

from depth_ros.geometry import scale_intrinsics
from training.datasets.image_cache import ImageCache, load_rgb, resize_pyramid
from training.datasets.splits import OTHER_SIDE, SIDE_TO_CAM, SplitLine

if TYPE_CHECKING:
    from training.augment import WeatherAugmentation

FrameId = int | str
# (folder, frame index, side, *, hflip) → K×H×W bool object masks of that target frame at the training size.
ObjectMaskLoader = Callable[..., torch.Tensor]
OBJECT_MASKS = "object_masks"
STEREO_FRAME = "s"
STEREO_BASELINE = 0.1  # Monodepth2's nominal baseline (KITTI's is 0.54 m, hence ×5.4 for metric depth)
BRIGHTNESS = CONTRAST = SATURATION = (0.8, 1.2)
HUE = (-0.1, 0.1)


class DatasetError(RuntimeError):
    """Training data is missing, unreadable or too small."""


@dataclasses.dataclass(frozen=True)
class ColorJitterParams:
    """One draw of torchvision's ColorJitter parameters, applicable to any number of images.

    ``order`` is the random permutation of (brightness, contrast, saturation, hue) that
    ``ColorJitter.get_params`` returns; the factors are the drawn values.
    """

    order: tuple[int, ...]
    brightness: float
    contrast: float
    saturation: float
    hue: float

    @classmethod
    def sample(cls) -> ColorJitterParams:
        """Draw parameters with torch's global RNG (seeded per DataLoader worker)."""
        order, b, c, s, h = ColorJitter.get_params(BRIGHTNESS, CONTRAST, SATURATION, HUE)
        return cls(tuple(int(i) for i in order), b, c, s, h)

    def __call__(self, img: Image.Image) -> Image.Image:
        adjust = (
            lambda x: TF.adjust_brightness(x, self.brightness),
            lambda x: TF.adjust_contrast(x, self.contrast),
            lambda x: TF.adjust_saturation(x, self.saturation),
            lambda x: TF.adjust_hue(x, self.hue),
        )
        for index in self.order:
            img = adjust[index](img)
        return img


class MonoDataset(Dataset):
    """Base class: subclasses give the image path, the normalised intrinsics and the ground truth.

    Args:
        data_path: dataset root.
        filenames: split lines.
        height, width: training size at scale 0 (pixels).
        frame_idxs: frame offsets relative to the target (0 first) and optionally ``"s"``.
        num_scales: pyramid levels (Monodepth2 always uses 4).
        is_train: enable the augmentation.
        img_ext: ``.jpg`` or ``.png``.
        image_cache: optional :class:`ImageCache` at (width, height, num_scales).
        weather: optional weather augmentation of ``color_aug`` (training only).
        object_masks: optional loader of the target's object masks, called as
            ``object_masks(folder, frame_index, side, hflip=flipped)`` (e.g. ``precompute_masks.load_cached_masks``
            bound to a cache folder and the training size).
    """

    K_norm: np.ndarray  # 4×4 float32, row 0 in units of the image width, row 1 of the height
    full_res_shape: tuple[int, int]  # (width, height) of depth_gt

    def __init__(
        self,
        data_path: str | Path,
        filenames: Sequence[str],
        height: int,
        width: int,
        frame_idxs: Sequence[FrameId],
        num_scales: int,
        is_train: bool = False,
        img_ext: str = ".jpg",
        image_cache: ImageCache | None = None,
        weather: WeatherAugmentation | None = None,
        object_masks: ObjectMaskLoader | None = None,
    ) -> None:
        super().__init__()
        self.data_path = Path(data_path).expanduser()
        self.filenames = list(filenames)
        self.height, self.width = height, width
        self.frame_idxs = list(frame_idxs)
        self.num_scales = num_scales
        self.is_train = is_train
        self.img_ext = img_ext
        if image_cache is not None and (image_cache.width, image_cache.height, image_cache.num_scales) != (
            width, height, num_scales
        ):
            raise ValueError("image_cache was built for another pyramid size")
        self.image_cache = image_cache
        self.weather = weather if is_train else None
        self.object_masks = object_masks
        self.load_depth = bool(self.filenames) and self.check_depth()

    # ---- subclass hooks
    def get_image_path(self, folder: str, frame_index: int, side: str | None) -> Path:
        raise NotImplementedError

    def check_depth(self) -> bool:
        """Whether ground truth exists for the first split line (then every sample carries ``depth_gt``)."""
        return False

    def get_depth(self, folder: str, frame_index: int, side: str | None) -> np.ndarray:
        """Unflipped ground truth, float32 H×W metres at ``full_res_shape``, 0 where unknown."""
        raise NotImplementedError

    def intrinsics(self, folder: str, side: str | None) -> np.ndarray:
        """Normalised 4×4 intrinsics of the camera of a split line."""
        return self.K_norm

    # ---- loading
    def frame_paths(self, line: SplitLine) -> dict[FrameId, Path]:
        """Image path of every frame id of a split line."""
        paths = {}
        for frame_id in self.frame_idxs:
            if frame_id == STEREO_FRAME:
                paths[frame_id] = self.get_image_path(line.folder, line.frame_index, OTHER_SIDE[line.side])
            else:
                paths[frame_id] = self.get_image_path(line.folder, line.frame_index + frame_id, line.side)
        return paths

    def required_files(self, line: SplitLine) -> list[Path]:
        """The files one split line needs: the image of every frame id (subclasses add their ground truth's)."""
        return list(self.frame_paths(line).values())

    def verify_split(self) -> None:
        """Check every split line before the first step; DatasetError (one line) names the bad lines.

        A line must read ``<folder> <frame index> <l|r|2|3>``, and every file it needs must exist: a wrong
        ``--data_path`` or ``--png`` shows at the first line, a split naming frames that are not there (or a drive
        without calibration) at the lines concerned, instead of a crash in the middle of an epoch.
        """
        if not self.filenames:
            raise DatasetError("the split is empty")
        malformed = [
            f"line {number} {text!r}"
            for number, text in enumerate(self.filenames, 1)
            if len(tokens := text.split()) != 3 or not tokens[1].isdigit() or tokens[2] not in SIDE_TO_CAM
        ]
        if malformed:
            raise DatasetError(
                f"{len(malformed)} split line(s) are not '<folder> <frame index> <l|r>': {', '.join(malformed[:5])}"
            )
        missing = {}
        for number, text in enumerate(self.filenames, 1):
            absent = [path for path in self.required_files(SplitLine.parse(text)) if not path.is_file()]
            if absent:
                missing[number] = absent[0]
        first_images = self.frame_paths(SplitLine.parse(self.filenames[0])).values()
        if len(missing) == len(self.filenames) and missing[1] in first_images:  # nothing is where it looked
            raise DatasetError(
                f"image not found: {missing[1]} (check --data_path {self.data_path} and --png: expected "
                f"{self.img_ext} files)"
            )
        if missing:
            examples = ", ".join(f"line {number}: {path}" for number, path in list(missing.items())[:3])
            raise DatasetError(
                f"{len(missing)} of {len(self.filenames)} split lines need files that do not exist ({examples}); "
                "remove those lines or add the files"
            )

    def load_pyramid(self, path: Path) -> list[Image.Image]:
        """Unflipped LANCZOS pyramid of one image, from the cache when there is one."""
        if self.image_cache is not None:
            return self.image_cache.load(path)
        return resize_pyramid(load_rgb(path), self.width, self.height, self.num_scales)

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, index: int) -> dict:
        do_color_aug = self.is_train and random.random() > 0.5
        do_flip = self.is_train and random.random() > 0.5
        line = SplitLine.parse(self.filenames[index])
        jitter = ColorJitterParams.sample() if do_color_aug else None

        inputs: dict = {"flipped": torch.tensor(do_flip)}
        for frame_id, path in self.frame_paths(line).items():
            for scale, level in enumerate(self.load_pyramid(path)):
                if do_flip:
                    level = level.transpose(Image.FLIP_LEFT_RIGHT)
                color = TF.to_tensor(level)
                inputs[("color", frame_id, scale)] = color
                inputs[("color_aug", frame_id, scale)] = TF.to_tensor(jitter(level)) if jitter else color

        K_norm = self.intrinsics(line.folder, line.side).astype(np.float32)
        if do_flip and K_norm[0, 2] != 0.5:
            K_norm = K_norm.copy()
            K_norm[0, 2] = 1.0 - K_norm[0, 2]  # mirror the principal point (a no-op for Monodepth2's cx = 0.5)
        for scale in range(self.num_scales):
            K = scale_intrinsics(K_norm, self.width // 2**scale, self.height // 2**scale)
            inputs[("K", scale)] = torch.from_numpy(K)
            inputs[("inv_K", scale)] = torch.from_numpy(np.linalg.pinv(K).astype(np.float32))

        if self.load_depth:
            depth_gt = self.get_depth(line.folder, line.frame_index, line.side)
            if do_flip:
                depth_gt = np.fliplr(depth_gt)
            inputs["depth_gt"] = torch.from_numpy(np.array(depth_gt, dtype=np.float32)[None])

        if STEREO_FRAME in self.frame_idxs:
            stereo_T = np.eye(4, dtype=np.float32)
            side_sign = -1.0 if SIDE_TO_CAM[line.side] == 2 else 1.0
            baseline_sign = -1.0 if do_flip else 1.0
            stereo_T[0, 3] = side_sign * baseline_sign * STEREO_BASELINE
            inputs["stereo_T"] = torch.from_numpy(stereo_T)

        if self.object_masks is not None:
            inputs[OBJECT_MASKS] = self.object_masks(line.folder, line.frame_index, line.side, hflip=do_flip)
        if self.weather is not None:
            self.weather.apply_to_sample(inputs, self.weather.sample((self.height, self.width)))
        return inputs


def collate_samples(samples: list[dict]) -> dict:
    """``default_collate``, except that per-sample K_i×H×W ``object_masks`` become one B×N×H×W bool tensor.

    N is the batch's largest K_i; the missing masks are all False, which ``adjust_disparity`` skips.
    """
    if OBJECT_MASKS not in samples[0]:
        return default_collate(samples)
    masks = [sample[OBJECT_MASKS] for sample in samples]
    batch = default_collate([{k: v for k, v in sample.items() if k != OBJECT_MASKS} for sample in samples])
    padded = torch.zeros((len(masks), max(m.shape[0] for m in masks), *masks[0].shape[1:]), dtype=torch.bool)
    for index, mask in enumerate(masks):
        padded[index, : mask.shape[0]] = mask
    batch[OBJECT_MASKS] = padded
    return batch
