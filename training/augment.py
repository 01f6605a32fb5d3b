"""Weather augmentation of the paper (rain, snow, fog, sun flare from albumentations), one draw per sample.

The paper applies each effect with p = 0.3 (its code used 0.2: ``random.random() > 0.8``); the default
here is the stated 0.3. Its code re-drew the effect's random parameters (drop positions, fog, flare
position) for every frame and scale, so −1/0/+1 disagreed; here they are drawn once per sample with
``sample`` and replayed identically by ``apply`` on every frame. Only network inputs
(``("color_aug", frame, scale)``) are augmented, after colour jitter; photometric targets
(``("color", …)``) stay clean.

albumentations 1.x arguments of the paper → 2.0.8:
- rain: brightness_coefficient 0.9, drop_width 1, blur_value 5 (unchanged). 1.x drew area/600 drops
  of 20 px; 2.x has no drop count, ``rain_type="heavy"`` gives H drops (192 vs 204 at 640×192) and
  ``drop_length=None`` H/8 px (24 px at 192).
- snow: brightness_coeff 2.5, snow_point_lower/upper 0.3/0.5 → ``snow_point_range=(0.3, 0.5)``,
  ``method="bleach"`` (the 1.x algorithm).
- fog: fog_coef_lower/upper 0.5/0.6 → ``fog_coef_range=(0.5, 0.6)``, alpha_coef 0.1.
- sun flare: flare_roi (0, 0, 1, 0.5), angle_lower 0.5 → ``angle_range=(0.5, 1.0)``, ``method="overlay"``
  (the 1.x algorithm). src_radius 200 px was meant for 640-px-wide inputs; it is scaled with the image
  width (200·W/640), so the sun covers the same share of the image at 1024×320.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import albumentations as A
import numpy as np
import torch
from PIL import Image

from depth_ros.preprocess import resize_rgb, rgb_to_tensor

DEFAULT_EFFECT_PROBABILITY = 0.3  # per effect, as the paper states (its code: 0.2)
EFFECTS = ("rain", "snow", "fog", "sun_flare")  # application order when several are drawn

RAIN_BRIGHTNESS = 0.9
RAIN_DROP_WIDTH_PX = 1
RAIN_BLUR_PX = 5
SNOW_BRIGHTNESS = 2.5
SNOW_POINT_RANGE = (0.3, 0.5)
FOG_COEF_RANGE = (0.5, 0.6)
FOG_ALPHA = 0.1
SUN_FLARE_ROI = (0.0, 0.0, 1.0, 0.5)  # x_min, y_min, x_max, y_max as image fractions: the upper half
SUN_FLARE_ANGLE_RANGE = (0.5, 1.0)  # fractions of 2π
SUN_RADIUS_PX = 200  # at REFERENCE_WIDTH_PX
REFERENCE_WIDTH_PX = 640

ImageLike = Image.Image | np.ndarray | torch.Tensor  # H×W×3 uint8 RGB, or 3×H×W float RGB in [0, 1]


@dataclass(frozen=True)
class WeatherParams:
    """One sample's weather, for images of ``size`` (height, width) px: ``seed`` fixes every random draw of the
    albumentations pipeline (which effects apply, the drops, the fog, the flare), so replaying it with the same
    seed gives every frame of the sample the same weather."""

    size: tuple[int, int]
    seed: int


# The names albumentations reports in ``applied_transforms``, by effect.
_TRANSFORM_NAMES = {"RandomRain": "rain", "RandomSnow": "snow", "RandomFog": "fog", "RandomSunFlare": "sun_flare"}


def _build_pipeline(width: int, probabilities: dict[str, float]) -> A.Compose:
    """The four effects, each applied with its probability, in :data:`EFFECTS` order, for ``width``-px images."""
    sun_radius_px = max(2, round(SUN_RADIUS_PX * width / REFERENCE_WIDTH_PX))
    transforms = {
        "rain": A.RandomRain(
            brightness_coefficient=RAIN_BRIGHTNESS,
            drop_width=RAIN_DROP_WIDTH_PX,
            blur_value=RAIN_BLUR_PX,
            rain_type="heavy",
            p=probabilities["rain"],
        ),
        "snow": A.RandomSnow(
            brightness_coeff=SNOW_BRIGHTNESS, snow_point_range=SNOW_POINT_RANGE, method="bleach",
            p=probabilities["snow"],
        ),
        "fog": A.RandomFog(fog_coef_range=FOG_COEF_RANGE, alpha_coef=FOG_ALPHA, p=probabilities["fog"]),
        "sun_flare": A.RandomSunFlare(
            flare_roi=SUN_FLARE_ROI,
            angle_range=SUN_FLARE_ANGLE_RANGE,
            src_radius=sun_radius_px,
            method="overlay",
            p=probabilities["sun_flare"],
        ),
    }  # fmt: skip
    return A.Compose([transforms[name] for name in EFFECTS], save_applied_params=True)


class WeatherAugmentation:
    """Rain, snow, fog and sun flare, each drawn independently with its probability, once per sample.

    ``params = aug.sample((H, W))`` then ``aug.apply(image, params)`` for every frame of the sample,
    ``aug.apply_to_pyramid(levels, params)`` per frame, or ``aug.apply_to_sample(inputs, params)`` on a
    Monodepth2-style sample dict (all frames in one albumentations call), after colour jitter. Only
    albumentations' public API is used: ``Compose(...)(image=…)`` / ``(images=…)`` after ``set_random_seed``.

    Randomness: with ``seed``, draws come from a private generator (reproducible, but DataLoader workers
    would all copy it and repeat each other: use it for tests and previews); without, each ``sample``
    takes its entropy from torch's generator, which DataLoader seeds per worker and epoch and
    ``torch.manual_seed`` makes reproducible. An explicit ``rng`` overrides both.
    """

    def __init__(
        self,
        p_rain: float = DEFAULT_EFFECT_PROBABILITY,
        p_snow: float = DEFAULT_EFFECT_PROBABILITY,
        p_fog: float = DEFAULT_EFFECT_PROBABILITY,
        p_sun_flare: float = DEFAULT_EFFECT_PROBABILITY,
        seed: int | None = None,
    ) -> None:
        self.probabilities = dict(zip(EFFECTS, (p_rain, p_snow, p_fog, p_sun_flare)))
        for name, probability in self.probabilities.items():
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"p_{name} must be in [0, 1], got {probability}")
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._pipelines: dict[int, A.Compose] = {}  # by image width

    def _run(self, params: WeatherParams, **data: np.ndarray) -> dict[str, Any]:
        """The pipeline for ``params`` on ``image=`` or ``images=``, its random draws fixed by the sample's seed."""
        width = params.size[1]
        if width not in self._pipelines:
            self._pipelines[width] = _build_pipeline(width, self.probabilities)
        pipeline = self._pipelines[width]
        pipeline.set_random_seed(params.seed)
        return pipeline(**data)

    def sample(self, image_shape: tuple[int, ...], rng: np.random.Generator | None = None) -> WeatherParams:
        """One sample's weather for images of ``image_shape`` (H, W[, 3])."""
        if rng is None:
            rng = self._rng
        seed = int(rng.integers(2**31)) if rng is not None else int(torch.randint(0, 2**31, ()).item())
        return WeatherParams(size=tuple(image_shape[:2]), seed=seed)

    def effects(self, params: WeatherParams) -> tuple[str, ...]:
        """The effects the sample's draw applies, in application order."""
        result = self._run(params, image=np.zeros((*params.size, 3), dtype=np.uint8))
        return tuple(_TRANSFORM_NAMES[name] for name, _ in result["applied_transforms"])

    def apply(self, image: np.ndarray, params: WeatherParams) -> np.ndarray:
        """H×W×3 uint8 RGB → H×W×3 uint8 RGB with the sample's weather; the input is not modified."""
        if image.shape[:2] != params.size:
            raise ValueError(f"weather drawn for {params.size} but the image is {image.shape[:2]}")
        return self._run(params, image=np.ascontiguousarray(image))["image"]

    def apply_to_pyramid(self, levels: Sequence[ImageLike], params: WeatherParams) -> list[ImageLike]:
        """One frame's ``color_aug`` pyramid (scale 0 first) → the same with the sample's weather.

        Scale 0 gets ``apply``; each lower level is replaced by the augmented level above it resized with
        LANCZOS (the dataset's pyramid rule), so drops, fog and flare sit at the same place on every
        scale. Levels keep their kind: PIL RGB image, H×W×3 uint8 array or 3×H×W float tensor in [0, 1]
        (quantised to uint8 for albumentations: lossless for tensors made from 8-bit images).
        """
        return _pyramid_from(levels, self.apply(_to_uint8(levels[0]), params))

    def apply_to_sample(self, inputs: dict[Any, Any], params: WeatherParams) -> None:
        """Add the weather to every ``("color_aug", frame, scale)`` entry of ``inputs``, in place.

        Every frame's scale 0 goes through albumentations in one ``images=`` call (the same draw for all);
        lower scales follow as in ``apply_to_pyramid``. Entries are replaced, never modified, so a
        ``color_aug`` that aliases its ``color`` target stays harmless; ``("color", …)`` and all other entries
        are left alone, and nothing is replaced when the draw applies no effect.
        """
        is_aug = [key for key in inputs if isinstance(key, tuple) and len(key) == 3 and key[0] == "color_aug"]
        frames = sorted({key[1] for key in is_aug}, key=str)
        pyramids = {}
        for frame in frames:
            keys = []
            while (key := ("color_aug", frame, len(keys))) in inputs:
                keys.append(key)
            if not keys:
                raise ValueError(f"('color_aug', {frame!r}, 0) is missing; the weather is drawn at scale 0")
            pyramids[frame] = keys
        if not pyramids:
            return
        scale0 = np.stack([_to_uint8(inputs[keys[0]]) for keys in pyramids.values()])
        if scale0.shape[1:3] != params.size:
            raise ValueError(f"weather drawn for {params.size} but the images are {scale0.shape[1:3]}")
        result = self._run(params, images=scale0)
        if not result["applied_transforms"]:
            return
        for keys, weathered in zip(pyramids.values(), result["images"]):
            for key, value in zip(keys, _pyramid_from([inputs[k] for k in keys], weathered)):
                inputs[key] = value


def _pyramid_from(levels: Sequence[ImageLike], weathered: np.ndarray) -> list[ImageLike]:
    """``levels`` (scale 0 first) replaced by ``weathered`` (H×W×3 uint8, scale 0) and its LANCZOS resizes."""
    augmented, level = [], weathered
    for template in levels:
        height, width = _size(template)
        level = resize_rgb(level, width=width, height=height)
        augmented.append(_like(template, level))
    return augmented


def _size(image: ImageLike) -> tuple[int, int]:
    """(height, width) in px of a PIL image, H×W×3 array or 3×H×W tensor."""
    if isinstance(image, Image.Image):
        return image.height, image.width
    if isinstance(image, torch.Tensor):
        return tuple(image.shape[-2:])
    return image.shape[:2]


def _to_uint8(image: ImageLike) -> np.ndarray:
    """H×W×3 uint8 RGB view of a PIL image, uint8 array or 3×H×W float tensor in [0, 1]."""
    if isinstance(image, torch.Tensor):
        return image.detach().mul(255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return np.asarray(image)


def _like(template: ImageLike, rgb: np.ndarray) -> ImageLike:
    """``rgb`` (H×W×3 uint8) as the kind of ``template``."""
    if isinstance(template, Image.Image):
        return Image.fromarray(rgb)
    if isinstance(template, torch.Tensor):
        return rgb_to_tensor(np.array(rgb))[0].to(template.dtype)  # np.array: torch wants a writable array
    return rgb
