"""Mask R-CNN disparity adjustment: known values on constructed masks, selection rules, detector plumbing, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from depth_ros.networks.resnet_encoder import PretrainedWeightsError, hub_checkpoint_path
from training.datasets.splits import SplitError
from training.mask_adjustment import (
    COCO_WEIGHTS,
    adjust_disparity,
    build_detector,
    detect_object_masks,
    resize_masks,
    select_object_masks,
)
from training.mask_cache import load_cached_masks, mask_cache_path
from training.precompute_masks import main, precompute_masks, read_target_frames

PERSON, BICYCLE, CAR, TRAFFIC_LIGHT = 1, 2, 3, 10
H, W = 40, 60
CAR_ROWS, CAR_COLS = slice(10, 30), slice(20, 32)  # a 20×12 "car"


def ramp_disparity() -> torch.Tensor:
    """1×1×H×W disparity growing downwards (the ground comes closer) and slightly to the right."""
    rows = torch.arange(H, dtype=torch.float32).view(H, 1)
    cols = torch.arange(W, dtype=torch.float32).view(1, W)
    return (0.1 + 0.01 * rows + 0.001 * cols).view(1, 1, H, W)


def car_mask() -> torch.Tensor:
    mask = torch.zeros(1, H, W, dtype=torch.bool)
    mask[0, CAR_ROWS, CAR_COLS] = True
    return mask


def block(rows: slice, cols: slice, size: tuple[int, int] = (H, W)) -> torch.Tensor:
    mask = torch.zeros(size)
    mask[rows, cols] = 1.0
    return mask


# Twice-eroded car: support rows 12..27, cols 22..29; bottom 3 %: rows round(12 + 0.97·15) = 27 .. 27.
# P[27, c] = min of disp over rows 25..29, cols c−2..c+2 = disp[25, c−2]; the max is at c = 29.
CONTACT_PIXEL = (25, 27)


def test_object_becomes_its_ground_contact_plane_and_the_rest_is_untouched():
    disp, mask = ramp_disparity(), car_mask()
    adjusted = adjust_disparity(disp, [mask])
    contact = disp[0, 0][CONTACT_PIXEL]
    assert torch.equal(adjusted[0, 0][mask[0]], contact.expand(int(mask.sum())))
    assert torch.equal(adjusted[0, 0][~mask[0]], disp[0, 0][~mask[0]])


def test_mask_border_pixels_do_not_define_the_contact_value():
    disp = ramp_disparity()
    disp[0, 0, 29, 25] = 0.99  # the object's bottom edge: eroded away
    disp[0, 0, 15, 25] = 0.98  # inside, but far above the ground contact
    adjusted = adjust_disparity(disp, [car_mask()])
    assert adjusted[0, 0, 20, 25] == ramp_disparity()[0, 0][CONTACT_PIXEL]


def test_gradient_reaches_only_the_contact_pixel_inside_the_object():
    disp = ramp_disparity().requires_grad_(True)
    mask = car_mask()[0]
    adjust_disparity(disp, [mask[None]]).sum().backward()
    grad = disp.grad[0, 0]
    assert torch.equal(grad[~mask], torch.ones(int((~mask).sum())))
    inside = grad * mask
    assert inside.count_nonzero() == 1
    assert inside[CONTACT_PIXEL] == mask.sum()


def test_objects_eroded_away_are_skipped_and_batches_match_single_images():
    disp = torch.cat([ramp_disparity(), ramp_disparity().flip(-1)])
    speck = torch.zeros(1, H, W, dtype=torch.bool)
    speck[0, 2:5, 2:5] = True  # 3×3: nothing survives two erosions
    assert torch.equal(adjust_disparity(disp[:1], [speck]), disp[:1])
    masks = [torch.cat([car_mask(), speck]), torch.zeros(0, H, W, dtype=torch.bool)]
    batched = adjust_disparity(disp, masks)
    assert torch.equal(batched[:1], adjust_disparity(disp[:1], [car_mask()]))
    assert torch.equal(batched[1:], disp[1:])
    padded = torch.zeros(2, 2, H, W, dtype=torch.bool)  # the collate-friendly form: empty masks are no-ops
    padded[0] = masks[0]
    assert torch.equal(adjust_disparity(disp, padded), batched)


def test_masks_of_another_size_are_refused():
    with pytest.raises(ValueError, match="resize_masks"):
        adjust_disparity(ramp_disparity(), [torch.ones(1, H // 2, W // 2, dtype=torch.bool)])


def test_resize_masks_keeps_pixels_more_than_half_covered():
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 0:4, 0:4] = True  # fully covers 2×2 target pixels
    mask[0, 5, 4:8] = True  # covers half of two target pixels: dropped
    (small,) = resize_masks([mask], (4, 4))
    expected = torch.zeros(1, 4, 4, dtype=torch.bool)
    expected[0, 0:2, 0:2] = True
    assert torch.equal(small, expected)
    assert resize_masks([torch.zeros(0, 8, 8, dtype=torch.bool)], (4, 4))[0].shape == (0, 4, 4)


def select(labels: list[int], masks: list[torch.Tensor], scores: list[float] | None = None) -> torch.Tensor:
    scores = scores if scores is not None else [0.9] * len(labels)
    return select_object_masks(torch.tensor(scores), torch.tensor(labels), torch.stack(masks)[:, None])


PERSON_MASK = block(slice(5, 25), slice(10, 20))  # 200 px


def bicycle_overlapping(overlap_px: int) -> torch.Tensor:
    """A 300-px bicycle below-right of the person, ``overlap_px`` of its pixels moved onto the person."""
    bicycle = block(slice(25, 40), slice(20, 40))
    bicycle[39, 40 - overlap_px : 40] = 0.0
    bicycle[24, 10 : 10 + overlap_px] = 1.0
    assert bicycle.sum() == 300 and (bicycle * PERSON_MASK).sum() == overlap_px
    return bicycle


@pytest.mark.parametrize(("overlap_px", "merged"), [(9, True), (8, False)])  # 3 % of 300 px = 9 px
def test_merge_instance_joins_its_primary_from_three_percent_overlap(overlap_px, merged):
    bicycle = bicycle_overlapping(overlap_px)
    objects = select([PERSON, BICYCLE], [PERSON_MASK, bicycle])
    expected = torch.maximum(PERSON_MASK, bicycle) if merged else PERSON_MASK
    assert torch.equal(objects, expected.bool()[None])


def test_merge_instance_alone_is_never_adjusted():
    assert select([BICYCLE], [bicycle_overlapping(10)]).shape == (0, H, W)


def test_primary_under_64_px_is_skipped_and_takes_no_merge():
    person = block(slice(0, 8), slice(0, 8))  # 64 px: kept
    assert select([PERSON], [person]).shape == (1, H, W)
    person[7, 7] = 0.0  # 63 px: skipped, and the bicycle riding with it is dropped too
    bicycle = block(slice(4, 12), slice(0, 8))
    assert select([PERSON, BICYCLE], [person, bicycle]).shape == (0, H, W)


def test_score_mask_probability_and_class_thresholds():
    car = block(CAR_ROWS, CAR_COLS)
    assert select([CAR], [car], scores=[0.7]).shape == (1, H, W)
    assert select([CAR], [car], scores=[0.69]).shape == (0, H, W)
    assert select([TRAFFIC_LIGHT], [car]).shape == (0, H, W)
    probs = car * 0.51
    probs[CAR_ROWS.start, CAR_COLS] = 0.5  # exactly 0.5 is outside the object
    (selected,) = select([CAR], [probs])
    assert selected.sum() == car.sum() - 12 and not selected[CAR_ROWS.start].any()


def test_merge_instance_joins_only_the_first_primary():
    first, second = block(slice(0, 10), slice(0, 10)), block(slice(0, 10), slice(10, 20))
    bag = block(slice(5, 15), slice(5, 15))
    objects = select([PERSON, PERSON, 27], [first, second, bag])
    assert torch.equal(objects[0], torch.maximum(first, bag).bool())
    assert torch.equal(objects[1], second.bool())


class FakeDetector(nn.Module):
    """Records its inputs and "detects" one person in the left half of every image."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []
        self.fail_on_call = fail_on_call
        self.calls = 0

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("detector failed")
        self.inputs.extend(images)
        predictions = []
        for image in images:
            height, width = image.shape[1:]
            masks = torch.zeros(1, 1, height, width)
            masks[0, 0, height // 4 :, : width // 2] = 0.9
            predictions.append({"scores": torch.tensor([0.95]), "labels": torch.tensor([PERSON]), "masks": masks})
        return predictions


def test_detector_receives_rgb_unpermuted():
    images = torch.stack([torch.full((16, 24), v) for v in (0.1, 0.5, 0.9)])[None].repeat(2, 1, 1, 1)
    detector = FakeDetector().eval()
    masks = detect_object_masks(detector, images)
    assert all(torch.equal(seen, image) for seen, image in zip(detector.inputs, images))
    assert [m.shape for m in masks] == [(1, 16, 24)] * 2
    with pytest.raises(ValueError, match="eval mode"):
        detect_object_masks(FakeDetector().train(), images)


def test_untrained_torchvision_mask_rcnn_runs_end_to_end():
    detector = build_detector(pretrained=False, min_size=64, max_size=160)
    detector.roi_heads.detections_per_img = 4  # untrained heads keep 100 detections; the mask head dominates CPU time
    assert not detector.training and not any(p.requires_grad for p in detector.parameters())
    masks = detect_object_masks(detector, torch.rand(2, 3, 48, 160))
    assert len(masks) == 2
    assert all(m.dtype == torch.bool and m.shape[1:] == (48, 160) for m in masks)


def test_coco_weights_load_from_hub_cache_and_offline_error_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(PretrainedWeightsError) as info:
        build_detector(allow_download=False)
    assert str(hub_checkpoint_path(COCO_WEIGHTS)) in str(info.value) and COCO_WEIGHTS.url in str(info.value)
    state = build_detector(pretrained=False).state_dict()
    state["roi_heads.mask_predictor.mask_fcn_logits.bias"] += 1.0
    hub_checkpoint_path(COCO_WEIGHTS).parent.mkdir(parents=True)
    torch.save(state, hub_checkpoint_path(COCO_WEIGHTS))
    detector = build_detector(allow_download=False)
    assert torch.equal(
        detector.roi_heads.mask_predictor.mask_fcn_logits.bias, state["roi_heads.mask_predictor.mask_fcn_logits.bias"]
    )
    assert all(m.eps == 0.0 for m in detector.modules() if isinstance(m, FrozenBatchNorm2d))


# ---- mask cache -------------------------------------------------------------------------------

SIZE = (32, 96)  # (height, width) of the cached masks
FOLDER = "2011_09_26/2011_09_26_drive_0001_sync"


def make_kitti(tmp_path: Path) -> tuple[Path, Path]:
    """Four target frames (one listed twice, one in val) as .jpg images; returns (data_path, split dir)."""
    data_path, split_dir = tmp_path / "kitti", tmp_path / "splits" / "tiny"
    split_dir.mkdir(parents=True)
    (split_dir / "train_files.txt").write_text(f"{FOLDER} 1 l\n{FOLDER} 2 l\n{FOLDER} 1 r\n{FOLDER} 1 l\n")
    (split_dir / "val_files.txt").write_text(f"{FOLDER} 3 l\n")
    rng = np.random.default_rng(0)
    for camera, frame in [(2, 1), (2, 2), (3, 1), (2, 3)]:
        path = data_path / FOLDER / f"image_0{camera}" / "data" / f"{frame:010d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (60, 200, 3), dtype=np.uint8)).save(path)
    return data_path, split_dir


def cached_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


def test_split_reading_dedups_targets_and_rejects_bad_lines(tmp_path):
    _, split_dir = make_kitti(tmp_path)
    frames = read_target_frames("tiny", split_dir.parent)
    assert frames == [(FOLDER, 1, "l"), (FOLDER, 2, "l"), (FOLDER, 1, "r"), (FOLDER, 3, "l")]
    (split_dir / "val_files.txt").write_text(f"{FOLDER} 3\n")
    with pytest.raises(ValueError, match=r"val_files\.txt:1"):
        read_target_frames(str(split_dir), tmp_path)
    with pytest.raises(SplitError, match="splits"):
        read_target_frames("missing", split_dir.parent)


def test_mask_cache_round_trip_and_resume(tmp_path):
    data_path, split_dir = make_kitti(tmp_path)
    frames = read_target_frames(str(split_dir), tmp_path)
    cache, detector = tmp_path / "cache", FakeDetector().eval()
    computed = precompute_masks(data_path, frames, cache, SIZE, make_detector=lambda: detector, num_workers=0)
    assert computed == 4 and len(detector.inputs) == 4
    assert detector.inputs[0].shape == (3, *SIZE)
    assert mask_cache_path(cache, FOLDER, 1, "r", SIZE) == cache / "96x32" / FOLDER / "image_03" / "0000000001.npz"
    masks = load_cached_masks(cache, FOLDER, 1, "r", SIZE)
    assert masks.dtype == torch.bool and masks.shape == (1, *SIZE)
    assert masks[0, SIZE[0] // 4 :, : SIZE[1] // 2].all() and masks.sum() == (SIZE[0] - SIZE[0] // 4) * SIZE[1] // 2
    assert torch.equal(load_cached_masks(cache, FOLDER, 1, "r", SIZE, hflip=True), masks.flip(-1))

    def must_not_build() -> nn.Module:
        raise AssertionError("everything is cached: the detector must not be built")

    assert precompute_masks(data_path, frames, cache, SIZE, make_detector=must_not_build, num_workers=0) == 0
    with pytest.raises(FileNotFoundError, match=r"python -m training\.precompute_masks"):
        load_cached_masks(cache, FOLDER, 9, "l", SIZE)


def test_mask_cache_leaves_no_partial_files_when_interrupted(tmp_path):
    data_path, split_dir = make_kitti(tmp_path)
    frames = read_target_frames(str(split_dir), tmp_path)
    cache = tmp_path / "cache"
    failing = FakeDetector(fail_on_call=2).eval()
    with pytest.raises(RuntimeError, match="detector failed"):
        precompute_masks(data_path, frames, cache, SIZE, make_detector=lambda: failing, batch_size=2, num_workers=0)
    first_batch = [mask_cache_path(cache, *frame, SIZE) for frame in frames[:2]]
    assert cached_files(cache) == sorted(first_batch)
    assert all(load_cached_masks(cache, *frame, SIZE).shape == (1, *SIZE) for frame in frames[:2])
    resumed = precompute_masks(data_path, frames, cache, SIZE, make_detector=lambda: FakeDetector().eval())
    assert resumed == 2 and len(cached_files(cache)) == 4


def test_cli_reports_errors_in_one_line(tmp_path):
    data_path, split_dir = make_kitti(tmp_path)
    next(data_path.rglob("*.jpg")).unlink()
    with pytest.raises(SystemExit) as info:
        main(["--data_path", str(data_path), "--split", str(split_dir), "--out", str(tmp_path / "cache")])
    message = str(info.value.code)
    assert message.startswith("precompute_masks: error: 1 of 4 images missing") and "\n" not in message
