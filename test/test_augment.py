"""Weather augmentation: one draw per sample replayed on every frame and scale, inputs only, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from depth_ros.preprocess import resize_rgb, rgb_to_tensor
from training.augment import EFFECTS, WeatherAugmentation

HEIGHT, WIDTH = 96, 320
FRAMES = (0, -1, 1)


def photo(seed: int) -> np.ndarray:
    """A smooth H×W×3 uint8 'photo' (gradients plus mild noise), so every effect has room to show."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(40, 200, HEIGHT)[:, None, None]
    cols = np.linspace(0, 60, WIDTH)[None, :, None]
    noise = rng.normal(0, 5, (HEIGHT, WIDTH, 3))
    return np.clip(rows + cols + noise, 0, 255).astype(np.uint8)


def only(effect: str, seed: int = 0) -> WeatherAugmentation:
    probabilities = {f"p_{name}": float(name == effect) for name in EFFECTS}
    return WeatherAugmentation(**probabilities, seed=seed)


def as_kind(rgb: np.ndarray, kind: str) -> np.ndarray | Image.Image | torch.Tensor:
    if kind == "pil":
        return Image.fromarray(rgb)
    if kind == "tensor":
        return rgb_to_tensor(rgb.copy())[0]
    return rgb.copy()


def to_array(value: np.ndarray | Image.Image | torch.Tensor) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.mul(255).round().byte().permute(1, 2, 0).numpy()
    return np.asarray(value)


def sample_dict(images: dict[object, np.ndarray], kind: str = "array") -> dict:
    """Monodepth2-style sample of 4 scales plus a K entry; ``color_aug`` aliases ``color`` as without jitter."""
    inputs: dict = {("K", 0): np.eye(4)}
    for frame, image in images.items():
        level = image
        for scale in range(4):
            if scale:
                level = resize_rgb(level, width=WIDTH >> scale, height=HEIGHT >> scale)
            inputs[("color", frame, scale)] = inputs[("color_aug", frame, scale)] = as_kind(level, kind)
    return inputs


@pytest.mark.parametrize("effect", EFFECTS)
def test_each_effect_changes_the_image_and_leaves_the_input_alone(effect):
    aug, image = only(effect), photo(0)
    params = aug.sample(image.shape)
    assert aug.effects(params) == (effect,)
    original = image.copy()
    out = aug.apply(image, params)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).sum() > 1000
    assert np.array_equal(image, original)


def test_probability_zero_is_the_identity():
    aug = WeatherAugmentation(0.0, 0.0, 0.0, 0.0, seed=0)
    inputs = sample_dict({frame: photo(frame + 1) for frame in FRAMES})
    before = dict(inputs)
    params = aug.sample((HEIGHT, WIDTH))
    assert aug.effects(params) == ()
    assert np.array_equal(aug.apply(photo(0), params), photo(0))
    aug.apply_to_sample(inputs, params)
    assert all(inputs[key] is before[key] for key in before)


@pytest.mark.parametrize("kind", ["array", "pil", "tensor"])
def test_one_draw_is_replayed_identically_on_every_frame_and_scale(kind):
    aug = WeatherAugmentation(1.0, 1.0, 1.0, 1.0, seed=1)
    inputs = sample_dict({frame: photo(7) for frame in FRAMES}, kind)  # identical input frames
    params = aug.sample((HEIGHT, WIDTH))
    aug.apply_to_sample(inputs, params)
    for scale in range(4):
        outs = [inputs[("color_aug", frame, scale)] for frame in FRAMES]
        assert all(type(out) is type(inputs[("color", 0, 0)]) for out in outs)
        assert all(np.array_equal(to_array(out), to_array(outs[0])) for out in outs)
        assert to_array(outs[0]).shape == (HEIGHT >> scale, WIDTH >> scale, 3)
    # Lower scales follow the augmented scale 0 down the LANCZOS pyramid, so the weather lines up.
    level = to_array(inputs[("color_aug", 0, 0)])
    for scale in range(1, 4):
        level = resize_rgb(level, width=WIDTH >> scale, height=HEIGHT >> scale)
        assert np.array_equal(to_array(inputs[("color_aug", 0, scale)]), level)
    # A second sample draws new drops, fog and flare.
    other = aug.sample((HEIGHT, WIDTH))
    assert not np.array_equal(aug.apply(photo(7), other), to_array(inputs[("color_aug", 0, 0)]))


@pytest.mark.parametrize("effect", ["rain", "sun_flare"])
def test_effect_geometry_is_shared_by_different_frames(effect):
    """Rain streaks and the flare's circles land on the same pixels of differently lit flat frames."""
    aug = only(effect, seed=3)
    params = aug.sample((HEIGHT, WIDTH))
    patterns = []
    for grey in (60, 90, 120):
        frame = np.full((HEIGHT, WIDTH, 3), grey, dtype=np.uint8)
        out = aug.apply(frame, params).astype(int)
        patterns.append(out != np.median(out))
    assert patterns[0].any() and all(np.array_equal(p, patterns[0]) for p in patterns)


@pytest.mark.parametrize("kind", ["array", "tensor"])
def test_targets_and_other_entries_are_untouched(kind):
    aug = WeatherAugmentation(1.0, 1.0, 1.0, 1.0, seed=2)
    images = {frame: photo(frame + 1) for frame in FRAMES}
    inputs = sample_dict(images, kind)
    targets = {key: to_array(value).copy() for key, value in inputs.items() if key[0] == "color"}
    aug.apply_to_sample(inputs, aug.sample((HEIGHT, WIDTH)))
    assert all(np.array_equal(to_array(inputs[key]), value) for key, value in targets.items())
    assert all(not np.array_equal(to_array(inputs[("color_aug", f, 0)]), images[f]) for f in FRAMES)
    assert np.array_equal(inputs[("K", 0)], np.eye(4))


def test_seeded_draws_are_reproducible_and_unseeded_follow_torch():
    def outputs(aug: WeatherAugmentation) -> list[np.ndarray]:
        return [aug.apply(photo(0), aug.sample((HEIGHT, WIDTH))) for _ in range(3)]

    first, second = outputs(WeatherAugmentation(seed=5)), outputs(WeatherAugmentation(seed=5))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    torch.manual_seed(11)
    unseeded = outputs(WeatherAugmentation())
    torch.manual_seed(11)
    assert all(np.array_equal(a, b) for a, b in zip(unseeded, outputs(WeatherAugmentation())))


def test_effects_are_drawn_with_their_probability():
    aug = WeatherAugmentation(seed=0)  # p = 0.3 each, as the paper states
    rng = np.random.default_rng(0)
    counts = dict.fromkeys(EFFECTS, 0)
    for _ in range(400):
        for name in aug.effects(aug.sample((24, 80), rng)):
            counts[name] += 1
    assert all(0.23 < count / 400 < 0.37 for count in counts.values())


def test_misuse_is_reported():
    aug = WeatherAugmentation(1.0, 0.0, 0.0, 0.0, seed=0)
    with pytest.raises(ValueError, match="drawn for"):
        aug.apply(photo(0)[:48], aug.sample((HEIGHT, WIDTH)))
    with pytest.raises(ValueError, match="p_fog"):
        WeatherAugmentation(p_fog=1.5)
    with pytest.raises(ValueError, match="scale 0"):
        aug.apply_to_sample({("color_aug", 0, 1): photo(0)}, aug.sample((HEIGHT, WIDTH)))
