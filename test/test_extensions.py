"""The paper's four training extensions, each alone and in every combination, on a tiny synthetic drive.

``--mask_rcnn`` (online with a fake detector, or from the mask cache), ``--espcn``, ``--learn_intrinsics`` and
``--weather_aug``, plus the AdamW + cosine recipe. Trained at 64×128, batch 2, from scratch.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from depth_test_models import BoxDetector

from depth_ros.checkpoint import load_state_file, read_metadata
from depth_ros.geometry import disp_to_depth
from training.augment import WeatherAugmentation
from training.datasets import KITTIRAWDataset
from training.datasets.mono_dataset import OBJECT_MASKS, collate_samples
from training.intrinsics import LEARNED_K, IntrinsicsAverage, mirror_principal_point
from training.optimization import build_optimizer, build_scheduler
from training.options import MODEL_NAMES, Options
from training.precompute_masks import precompute_masks, read_target_frames
from training.synthetic_kitti import generate
from training.trainer import Trainer, batch_to_device
from training.view_synthesis import ADJUSTED_DISP, upsample_to

DRIVE = "2011_09_26/2011_09_26_drive_0001_sync"
HEIGHT, WIDTH = 64, 128
TRAIN_LINES = [f"{DRIVE} 1 l", f"{DRIVE} 2 r", f"{DRIVE} 3 l", f"{DRIVE} 4 r"]
VAL_LINES = [f"{DRIVE} 2 l", f"{DRIVE} 3 r"]
# A normalised K far from the synthetic camera's (fx/W ≈ 0.58, principal point at the centre).
WRONG_K_NORM = np.array([[1.3, 0, 0.3, 0], [0, 0.9, 0.7, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """One 6-frame synthetic drive at 256×96, a 4-item train / 2-item val split, masks cached by BoxDetector."""
    root = tmp_path_factory.mktemp("extensions")
    generate(root, drives=1, frames=6, seed=0, width=256, height=96)
    split = root / "splits" / "ext"
    split.mkdir(parents=True)
    (split / "train_files.txt").write_text("".join(line + "\n" for line in TRAIN_LINES))
    (split / "val_files.txt").write_text("".join(line + "\n" for line in VAL_LINES))
    frames = read_target_frames(str(split), root)
    precompute_masks(root, frames, root / "mask_cache", (HEIGHT, WIDTH), make_detector=BoxDetector,
                     extension=".png", num_workers=0)  # fmt: skip
    return root


def options(root: Path, log_dir: Path, **overrides) -> Options:
    settings = dict(
        data_path=str(root), split=str(root / "splits" / "ext"), png=True, height=HEIGHT, width=WIDTH,
        batch_size=2, num_workers=0, weights_init="scratch", log_dir=str(log_dir), num_epochs=100,
        log_frequency=1000, save_frequency=1000,
    )  # fmt: skip
    settings.update(overrides)
    return Options(**settings)


def fixed_batch(trainer: Trainer, K_norm: np.ndarray | None = None) -> dict:
    """The first two training lines, un-augmented, as a device batch; optionally with another dataset K."""
    dataset = trainer.make_dataset(TRAIN_LINES[:2], is_train=False)
    if K_norm is not None:
        dataset.K_norm = K_norm
    return batch_to_device(collate_samples([dataset[0], dataset[1]]), trainer.device)


def fixed_loss(trainer: Trainer, inputs: dict) -> float:
    torch.manual_seed(0)  # the identity tie-break noise
    with torch.no_grad():
        return trainer.process_batch(inputs, trainer.model.eval())[1]["loss"].item()


# =========================================================================================== Mask R-CNN


def test_adjusted_disparity_drives_the_reprojection_loss_and_smoothness_only_when_asked(data, tmp_path):
    trainer = Trainer(options(data, tmp_path, mask_rcnn=True, mask_adjust_smoothness=True), make_detector=BoxDetector)
    assert trainer.loss.settings.smooth_adjusted_disparity
    inputs = fixed_batch(trainer)
    box = BoxDetector.box(HEIGHT, WIDTH)

    def step(**settings) -> tuple[dict, list[int]]:
        """Outputs, and per image the number of object pixels of ("disp", 0) that receive a gradient."""
        trainer.loss.settings = dataclasses.replace(trainer.loss.settings, **settings)
        torch.manual_seed(0)
        outputs, losses = trainer.process_batch(inputs, trainer.model)
        (grad,) = torch.autograd.grad(losses["loss"], outputs[("disp", 0)])
        return outputs, [int((g[0][box] != 0).sum()) for g in grad]

    # Reprojection alone: inside the object only its ground-contact pixel is reached (the rest is a plane).
    outputs, reached = step(disparity_smoothness=0.0, smooth_adjusted_disparity=False)
    assert max(reached) <= 1 and sum(reached) >= 1
    _, warp_depth = disp_to_depth(outputs[(ADJUSTED_DISP, 0)], 0.1, 100.0)
    torch.testing.assert_close(outputs[("depth", 0, 0)], warp_depth)
    for scale in trainer.opt.scales:
        raw, adjusted = outputs[("disp", scale)], outputs[(ADJUSTED_DISP, scale)]
        small = upsample_to(box[None, None].float(), *raw.shape[2:]) > 0.5  # the box is aligned to every scale
        assert torch.equal(adjusted[~small.expand_as(raw)], raw[~small.expand_as(raw)])
        for image in adjusted:
            assert image[small[0]].unique().numel() == 1  # one plane per object
    # Default: the smoothness term sees the raw disparity, so it reaches the whole object.
    _, reached = step(disparity_smoothness=1e-3, smooth_adjusted_disparity=False)
    assert min(reached) > 0.9 * box.sum()
    # --mask_adjust_smoothness: smoothness of the adjusted disparity, again only the contact pixel.
    _, reached = step(disparity_smoothness=1e-3, smooth_adjusted_disparity=True)
    assert max(reached) <= 1


def test_detector_sees_the_unaugmented_rgb_target_once_per_step(data, tmp_path, monkeypatch):
    monkeypatch.setattr("training.trainer.WeatherAugmentation", partial(WeatherAugmentation, p_fog=1.0))
    detector = BoxDetector()
    trainer = Trainer(options(data, tmp_path, mask_rcnn=True, weather_aug=True), make_detector=lambda: detector)
    batches = iter(trainer.train_loader)
    for step in (1, 2):
        inputs, _, _ = trainer.train_step(next(batches))
        assert detector.calls == step  # one batched call per step, whatever the number of scales
        seen = torch.stack(detector.inputs[-2:])
        assert torch.equal(seen, inputs[("color", 0, 0)])
        assert not torch.equal(seen, inputs[("color_aug", 0, 0)])  # fogged network input


def test_cached_masks_follow_the_flip_and_train(data, tmp_path):
    trainer = Trainer(options(data, tmp_path, mask_rcnn=True, mask_cache=str(data / "mask_cache")))
    assert trainer.detector is None
    dataset = trainer.train_loader.dataset
    box = BoxDetector.box(HEIGHT, WIDTH)[None]
    flips = set()
    for seed in range(6):
        random.seed(seed)
        sample = dataset[0]
        flipped = bool(sample["flipped"])
        flips.add(flipped)
        assert torch.equal(sample[OBJECT_MASKS], box.flip(-1) if flipped else box)
    assert flips == {False, True}
    inputs, outputs, losses = trainer.train_step(next(iter(trainer.train_loader)))
    assert inputs[OBJECT_MASKS].shape == (2, 1, HEIGHT, WIDTH) and math.isfinite(losses["loss"].item())
    assert all((ADJUSTED_DISP, s) in outputs for s in trainer.opt.scales)


def test_collate_pads_object_masks_to_the_largest_count():
    samples = [{"x": torch.zeros(2), OBJECT_MASKS: torch.ones(k, 4, 6, dtype=torch.bool)} for k in (0, 2, 1)]
    batch = collate_samples(samples)
    assert batch["x"].shape == (3, 2)
    assert batch[OBJECT_MASKS].shape == (3, 2, 4, 6) and batch[OBJECT_MASKS].dtype == torch.bool
    assert batch[OBJECT_MASKS].sum(dim=(1, 2, 3)).tolist() == [0, 48, 24]
    assert collate_samples([{"x": torch.zeros(2)}])["x"].shape == (1, 2)  # default collate without masks


# =========================================================================================== learned intrinsics


def test_learned_intrinsics_replace_the_dataset_K_in_the_warp(data, tmp_path):
    losses = {}
    for learn in (True, False):
        trainer = Trainer(options(data, tmp_path / str(learn), learn_intrinsics=learn))
        right, wrong = fixed_batch(trainer), fixed_batch(trainer, K_norm=WRONG_K_NORM)
        assert not torch.equal(right[("K", 0)], wrong[("K", 0)])
        losses[learn] = fixed_loss(trainer, right), fixed_loss(trainer, wrong)
    assert losses[True][0] == losses[True][1]
    assert abs(losses[False][0] - losses[False][1]) > 1e-3


@pytest.mark.parametrize("pose_model_type", ["separate_resnet", "shared", "posecnn"])
def test_intrinsics_head_starts_at_the_image_centre_and_averages_the_pairs(data, tmp_path, pose_model_type):
    trainer = Trainer(options(data, tmp_path, learn_intrinsics=True, pose_model_type=pose_model_type))
    inputs = fixed_batch(trainer)
    model = trainer.model.train()
    outputs = model(inputs)
    # The generic prior (square pixels, fx = 0.6·W), never the dataset's K (fx/W 0.58, fy/H 1.92).
    expected = torch.tensor([[0.6, 0, 0.5], [0, 0.6 * WIDTH / HEIGHT, 0.5], [0, 0, 1]])
    torch.testing.assert_close(outputs[LEARNED_K][:, :3, :3], expected.expand(2, 3, 3))
    K, inv_K = trainer.view_synthesis.camera(inputs, outputs, 0)
    torch.testing.assert_close(K[0, :3, :3], torch.tensor([[76.8, 0, 64], [0, 76.8, 32], [0, 0, 1]]))
    torch.testing.assert_close(inv_K @ K, torch.eye(4).expand(2, 4, 4))
    K2, _ = trainer.view_synthesis.camera(inputs, outputs, 2)  # --v1_multiscale warps at scale 2 with this
    torch.testing.assert_close(K2[0, :2, :3], torch.tensor([[19.2, 0, 16], [0, 19.2, 8]]))
    trainer.process_batch(inputs, model)[1]["loss"].backward()
    assert model.intrinsics.focal_conv.weight.grad.abs().sum() > 0
    assert model.intrinsics.offset_conv.weight.grad.abs().sum() > 0

    if pose_model_type == "separate_resnet":  # the K of both pairs, averaged (WildNet)
        with torch.no_grad():
            model.intrinsics.offset_conv.weight.normal_(0, 0.5)
            per_pair = [model.intrinsics(model._run_pose(inputs, pair, {})[2]) for pair in ([-1, 0], [0, 1])]
            assert not torch.allclose(per_pair[0], per_pair[1])
            torch.testing.assert_close(model(inputs)[LEARNED_K], (per_pair[0] + per_pair[1]) / 2)


def test_intrinsics_average_is_the_mean_over_samples():
    K = torch.eye(4).repeat(2, 1, 1)
    K[:, 0, 2], K[:, 1, 2] = 0.4, 0.45
    K[1, 0, 0] = 0.7
    average = IntrinsicsAverage()
    assert average.mean() is None
    average.update(K)
    average.update(K[:1])
    mean = np.array(average.mean())
    assert mean[0, 0] == pytest.approx((1 + 0.7 + 1) / 3)
    assert mean[0, 2] == pytest.approx(0.4) and mean[1, 2] == pytest.approx(0.45)
    average.reset()
    assert average.mean() is None and average.count == 0


def test_learned_principal_point_is_mirrored_for_flipped_samples(data, tmp_path):
    trainer = Trainer(options(data, tmp_path, learn_intrinsics=True))
    inputs = fixed_batch(trainer)
    inputs["flipped"] = torch.tensor([False, True])
    K_norm = torch.eye(4).repeat(2, 1, 1)
    K_norm[:, 0, 0], K_norm[:, 1, 1], K_norm[:, 0, 2], K_norm[:, 1, 2] = 0.6, 1.2, 0.4, 0.45
    K, _ = trainer.view_synthesis.camera(inputs, {LEARNED_K: K_norm}, 0)
    assert K[:, 0, 2].tolist() == pytest.approx([0.4 * WIDTH, 0.6 * WIDTH])  # the mirrored image's principal point
    unchanged = torch.tensor([0.6 * WIDTH, 1.2 * HEIGHT, 0.45 * HEIGHT])  # fx, fy, cy
    for sample in K:
        torch.testing.assert_close(sample[[0, 1, 1], [0, 1, 2]], unchanged)
    assert mirror_principal_point(K_norm, torch.tensor([True, True]))[:, 0, 2].tolist() == pytest.approx([0.6, 0.6])


def test_intrinsics_have_no_weight_decay_and_are_saved_logged_and_resumed(data, tmp_path, monkeypatch):
    opt = options(data, tmp_path, learn_intrinsics=True, optimizer="adamw", weight_decay=0.05, max_steps=2)
    trainer = Trainer(opt)
    head = [id(p) for p in trainer.model.intrinsics.parameters()]
    assert type(trainer.optimizer) is torch.optim.AdamW
    main, intrinsics = trainer.optimizer.param_groups
    assert main["weight_decay"] == 0.05 and intrinsics["weight_decay"] == 0.0
    assert [id(p) for p in intrinsics["params"]] == head and not set(head) & {id(p) for p in main["params"]}
    scalars = {}
    monkeypatch.setattr(trainer.writers["train"], "add_scalar", lambda tag, value, step: scalars.update({tag: value}))
    trainer.train()

    folder = Path(opt.log_dir) / opt.model_name / "models" / "weights_0"
    assert (folder / "intrinsics.pth").is_file()
    saved = np.array(read_metadata(folder).intrinsics_norm)
    assert trainer.intrinsics_average.count == 4  # the running mean over the epoch's 2 steps × 2 samples
    np.testing.assert_allclose(saved, trainer.intrinsics_average.mean())
    assert saved.shape == (3, 3) and saved[2].tolist() == [0, 0, 1] and saved[0, 1] == saved[1, 0] == 0
    assert saved[0, 0] == pytest.approx(0.6, rel=0.05) and saved[0, 2] == pytest.approx(0.5, abs=0.05)
    # TensorBoard: the learned K against the dataset's, in pixels at the training size.
    assert scalars["intrinsics/dataset_fx"] == pytest.approx(0.58 * WIDTH)
    assert scalars["intrinsics/dataset_cy"] == pytest.approx(0.5 * HEIGHT)
    assert scalars["intrinsics/fx"] == pytest.approx(0.6 * WIDTH, rel=1e-5)  # logged at step 0, before any update
    assert {"intrinsics/fy", "intrinsics/cx", "intrinsics/dataset_fy", "intrinsics/dataset_cx"} <= set(scalars)

    resume = options(data, tmp_path, learn_intrinsics=True, model_name="resumed", load_weights_folder=str(folder),
                     models_to_load=[*MODEL_NAMES, "intrinsics"])  # fmt: skip
    resumed = Trainer(resume)
    state = load_state_file(folder / "intrinsics.pth")
    for key, value in resumed.model.intrinsics.state_dict().items():
        torch.testing.assert_close(value, state[key], atol=0, rtol=0)


def test_intrinsics_warmup_holds_the_head_at_its_prior_then_lets_it_learn(data, tmp_path):
    trainer = Trainer(options(data, tmp_path, learn_intrinsics=True, intrinsics_warmup_steps=2))
    head, depth = trainer.model.intrinsics, trainer.model.depth
    start = {name: p.detach().clone() for name, p in head.named_parameters()}
    depth_start = [p.detach().clone() for p in depth.parameters()]
    batch = fixed_batch(trainer)
    for _ in range(2):  # held: no update, and no Adam state that would move it later
        trainer.train_step(batch)
        trainer.step += 1
        for name, p in head.named_parameters():
            torch.testing.assert_close(p, start[name], atol=0, rtol=0)
            assert p not in trainer.optimizer.state
    assert any(not torch.equal(p, p0) for p, p0 in zip(depth.parameters(), depth_start, strict=True))
    trainer.train_step(batch)  # step 2: the head learns
    assert not torch.equal(head.offset_conv.weight, start["offset_conv.weight"])
    assert not torch.equal(head.focal_conv.weight, start["focal_conv.weight"])


# =========================================================================================== weather


def test_weather_is_drawn_once_per_sample_replayed_on_every_frame_and_never_on_targets(data):
    weather = WeatherAugmentation(p_rain=1.0, p_snow=0.0, p_fog=1.0, p_sun_flare=1.0)
    draws = []
    sample_weather = weather.sample

    def spy(shape, rng=None):
        draws.append(sample_weather(shape, rng))
        return draws[-1]

    weather.sample = spy
    frames = [0, -1, 1, "s"]
    plain = KITTIRAWDataset(data, TRAIN_LINES, HEIGHT, WIDTH, frames, 4, is_train=True, img_ext=".png")
    weathered = KITTIRAWDataset(data, TRAIN_LINES, HEIGHT, WIDTH, frames, 4, is_train=True, img_ext=".png",
                                weather=weather)  # fmt: skip
    for seed in range(3):
        random.seed(seed)
        torch.manual_seed(seed)
        clean = plain[seed]
        random.seed(seed)
        torch.manual_seed(seed)
        sample = weathered[seed]
        assert len(draws) == seed + 1  # one draw per sample
        assert clean.keys() == sample.keys()
        for key, value in clean.items():
            if not (isinstance(key, tuple) and key[0] == "color_aug"):  # targets, K, flags: untouched
                torch.testing.assert_close(sample[key], value, atol=0, rtol=0)
        for frame in frames:  # the same draw on every frame, each scale from the weathered scale 0
            expected = weather.apply_to_pyramid([clean[("color_aug", frame, s)] for s in range(4)], draws[-1])
            for scale in range(4):
                torch.testing.assert_close(sample[("color_aug", frame, scale)], expected[scale], atol=0, rtol=0)
            assert not torch.equal(sample[("color_aug", frame, 0)], clean[("color_aug", frame, 0)])
    validation = KITTIRAWDataset(data, VAL_LINES, HEIGHT, WIDTH, frames, 4, img_ext=".png", weather=weather)
    assert validation.weather is None


# =========================================================================================== optimiser recipe


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # no optimiser steps here
def test_adamw_with_cosine_annealing_over_the_epochs(data, tmp_path, monkeypatch):
    opt = options(data, tmp_path, optimizer="adamw", weight_decay=0.05, scheduler="cosine", num_epochs=4)
    trainer = Trainer(opt)
    assert type(trainer.optimizer) is torch.optim.AdamW
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.05]
    rates = []
    monkeypatch.setattr(trainer, "run_epoch", lambda *args: rates.append(trainer.optimizer.param_groups[0]["lr"]))
    monkeypatch.setattr(trainer, "save_model", lambda: None)
    trainer.train()
    assert rates == pytest.approx([1e-4 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # eta_min after T_max epochs

    default = build_optimizer(trainer.model, Options())
    assert type(default) is torch.optim.Adam and default.param_groups[0]["weight_decay"] == 0.0
    assert type(build_scheduler(default, Options())) is torch.optim.lr_scheduler.StepLR
    coupled = build_optimizer(trainer.model, Options(weight_decay=1e-4))  # explicit: Adam's coupled L2 term
    assert type(coupled) is torch.optim.Adam and coupled.param_groups[0]["weight_decay"] == 1e-4


# =========================================================================================== all together


# Every pair of switches in all four on/off combinations (a strength-2 covering array: 5 rows instead of 16), plus
# all four together: the switches interact only in pairs (what one produces, another consumes).
PAIRWISE = [(0, 0, 0, 0), (0, 1, 1, 1), (1, 0, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0), (1, 1, 1, 1)]


def test_the_pairwise_rows_cover_every_pair_of_switches():
    for a, b in itertools.combinations(range(4), 2):
        assert {(row[a], row[b]) for row in PAIRWISE} == {(0, 0), (0, 1), (1, 0), (1, 1)}


@pytest.mark.parametrize(
    ("mask", "espcn", "intrinsics", "weather"),
    [tuple(map(bool, row)) for row in PAIRWISE],
    ids=lambda on: "on" if on else "off",
)
def test_every_combination_of_the_extensions_takes_a_training_step(data, tmp_path, mask, espcn, intrinsics, weather):
    overrides = {"espcn": espcn, "learn_intrinsics": intrinsics, "weather_aug": weather}
    if mask:  # masks from the cache with ESPCN, online otherwise: both sources meet every other switch
        overrides.update(mask_rcnn=True, mask_cache=str(data / "mask_cache") if espcn else None)
    trainer = Trainer(options(data, tmp_path, **overrides), make_detector=BoxDetector)
    inputs, outputs, losses = trainer.train_step(next(iter(trainer.train_loader)))
    assert math.isfinite(losses["loss"].item())
    assert all(((ADJUSTED_DISP, s) in outputs) == mask for s in trainer.opt.scales)
    assert (OBJECT_MASKS in inputs) == (mask and espcn)
    assert trainer.model.depth.upsample == ("espcn" if espcn else "nearest")
    assert (LEARNED_K in outputs) == intrinsics == (trainer.model.intrinsics is not None)
    if intrinsics:
        assert trainer.model.intrinsics.focal_conv.weight.grad.abs().sum() > 0
    assert (trainer.train_loader.dataset.weather is not None) == weather
    assert trainer.val_loader.dataset.weather is None
