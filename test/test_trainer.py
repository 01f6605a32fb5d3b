"""Monodepth2's training: options, datasets, the minimum-reprojection loss, a real (tiny) training run, DDP."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import DataLoader

from depth_ros.checkpoint import CheckpointError, load_depth_network, load_state_file
from depth_ros.geometry import disp_to_depth
from training import train
from training.datasets import (
    DatasetError,
    ImageCache,
    KITTIDepthDataset,
    KITTIRAWDataset,
    SplitError,
    read_split_file,
    resolve_split_dir,
)
from training.datasets.image_cache import load_rgb, resize_pyramid
from training.datasets.mono_dataset import ColorJitterParams
from training.datasets.splits import SplitLine
from training.layers import compute_reprojection_loss, get_smooth_loss, mean_normalized, transformation_from_parameters
from training.loss import LossSettings, SelfSupervisedLoss, minimum_reprojection
from training.model import MonodepthModel
from training.optimization import step_size_for_budget, warmup_factor
from training.options import Options, OptionsError, parse_options, validate_options
from training.trainer import Trainer, batch_to_device
from training.view_synthesis import ViewSynthesis, upsample_to

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SPLITS = REPO_ROOT / ".." / "shared" / "data" / "splits"
DRIVE = "2011_09_26/2011_09_26_drive_0001_sync"


pytestmark = pytest.mark.usefixtures("one_thread")


# =========================================================================================== options


def test_defaults_are_monodepth2s():
    opt = parse_options([])
    assert (opt.height, opt.width, opt.batch_size, opt.learning_rate) == (192, 640, 12, 1e-4)
    assert (opt.num_epochs, opt.scheduler_step_size, opt.disparity_smoothness) == (20, 15, 1e-3)
    assert (opt.scales, opt.frame_ids, opt.min_depth, opt.max_depth) == ([0, 1, 2, 3], [0, -1, 1], 0.1, 100.0)
    assert (opt.split, opt.dataset, opt.num_layers, opt.weights_init) == ("eigen_zhou", "kitti", 18, "pretrained")
    assert (opt.pose_model_input, opt.pose_model_type, opt.num_workers) == ("pairs", "separate_resnet", 12)
    assert (opt.log_frequency, opt.save_frequency, opt.model_name) == (250, 1, "mdp")
    assert opt.models_to_load == ["encoder", "depth", "pose_encoder", "pose"]
    assert not any([opt.png, opt.use_stereo, opt.v1_multiscale, opt.avg_reprojection, opt.disable_automasking,
                    opt.predictive_mask, opt.no_ssim, opt.no_cuda, opt.espcn])
    assert opt.eval_split == "eigen" and opt.pred_depth_scale_factor == 1.0
    assert parse_options([]) == Options()
    validate_options(parse_options(["--espcn", "--frame_ids", "0", "-1", "1", "--use_stereo"]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mask_cache", "masks"], "add --mask_rcnn"),
        (["--mask_adjust_smoothness"], "add --mask_rcnn"),
        (["--learn_intrinsics", "--frame_ids", "0", "--use_stereo"], "needs a temporal source frame"),
        (["--weight_decay", "-1"], "non-negative"),
        (["--intrinsics_warmup_steps", "10"], "add --learn_intrinsics"),
        (["--learn_intrinsics", "--intrinsics_warmup_steps", "-1"], "must be non-negative"),
        (["--models_to_load", "encoder", "posenet"], "unknown model"),
        (["--height", "190"], "multiples of 32"),
        (["--frame_ids", "-1", "0", "1"], "must start with 0"),
        (["--predictive_mask"], "requires --disable_automasking"),
        (["--frame_ids", "0"], "needs --use_stereo"),
    ],
)
def test_invalid_options_are_rejected(argv, message):
    with pytest.raises(OptionsError, match=message):
        validate_options(parse_options(argv))


# =========================================================================================== splits


def test_split_resolution(tmp_path):
    with pytest.raises(SplitError, match=r"split 'eigen_zhou' not found.*training/splits/README.md"):
        resolve_split_dir("eigen_zhou", tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "train_files.txt").write_text("a 1 l\n\nb 2 r\n")
    with pytest.raises(SplitError, match=r"lacks val_files\.txt"):
        resolve_split_dir(str(tmp_path / "mine"), tmp_path / "elsewhere")
    (tmp_path / "mine" / "val_files.txt").write_text("c 3 l\n")
    assert resolve_split_dir(str(tmp_path / "mine"), tmp_path / "elsewhere") == tmp_path / "mine"  # a path
    assert resolve_split_dir("mine", tmp_path) == tmp_path / "mine"  # a name inside splits_dir
    assert read_split_file(tmp_path / "mine" / "train_files.txt") == ["a 1 l", "b 2 r"]


@pytest.mark.skipif(not (SHARED_SPLITS / "eigen_zhou").is_dir(), reason="official split files not available")
def test_official_split_files_parse():
    lines = read_split_file(resolve_split_dir("eigen_zhou", SHARED_SPLITS) / "train_files.txt")
    assert len(lines) == 39_810
    parsed = [SplitLine.parse(line) for line in lines]
    assert {p.side for p in parsed} == {"l", "r"}
    test_line = read_split_file(SHARED_SPLITS / "eigen" / "test_files.txt")[0]
    assert SplitLine.parse(test_line).frame_index == int(test_line.split()[1])  # zero-padded indices
    assert SplitLine.parse("image 12") == SplitLine("image", 0, None)


# =========================================================================================== datasets


@pytest.fixture(scope="module")
def kitti_tree(tmp_path_factory) -> Path:
    """A tiny KITTI raw tree: 6 random (asymmetric) 100×30 frames per camera, no Velodyne."""
    root = tmp_path_factory.mktemp("kitti")
    rng = np.random.default_rng(0)
    for cam in ("image_02", "image_03"):
        folder = root / DRIVE / cam / "data"
        folder.mkdir(parents=True)
        for frame in range(6):
            Image.fromarray(rng.integers(0, 256, (30, 100, 3), dtype=np.uint8)).save(folder / f"{frame:010d}.png")
    return root


def make_dataset(root: Path, lines: list[str], width: int = 64, height: int = 32, **kwargs) -> KITTIRAWDataset:
    return KITTIRAWDataset(root, lines, height, width, [0, -1, 1, "s"], 4, img_ext=".png", **kwargs)


def reference_pyramid(path: Path, width: int = 64, height: int = 32) -> list[torch.Tensor]:
    return [TF.to_tensor(level) for level in resize_pyramid(load_rgb(path), width, height, 4)]


def to_pil(color: torch.Tensor) -> Image.Image:
    return Image.fromarray((color * 255).round().byte().permute(1, 2, 0).numpy())


def test_flipping_after_the_lanczos_resize_equals_flipping_before():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (375, 1242, 3), dtype=np.uint8))
    after = [lvl.transpose(Image.FLIP_LEFT_RIGHT) for lvl in resize_pyramid(image, 640, 192, 4)]
    before = resize_pyramid(image.transpose(Image.FLIP_LEFT_RIGHT), 640, 192, 4)
    for a, b in zip(after, before):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_colour_jitter_is_drawn_once_per_sample_and_applied_to_every_frame_and_scale(kitti_tree, monkeypatch):
    drawn: list[ColorJitterParams] = []
    original = ColorJitterParams.sample

    def spy() -> ColorJitterParams:
        drawn.append(original())
        return drawn[-1]

    monkeypatch.setattr(ColorJitterParams, "sample", staticmethod(spy))
    dataset = make_dataset(kitti_tree, [f"{DRIVE} 2 l", f"{DRIVE} 3 r"], is_train=True)
    outcomes = set()
    for seed in range(8):
        random.seed(seed)
        torch.manual_seed(seed)
        before = len(drawn)
        sample = dataset[seed % 2]
        assert len(drawn) - before in (0, 1)  # at most one draw for all 4 frames × 4 scales
        jitter = drawn[-1] if len(drawn) > before else None
        outcomes.add(jitter is not None)
        for frame_id in (0, -1, 1, "s"):
            for scale in range(4):
                color, color_aug = sample[("color", frame_id, scale)], sample[("color_aug", frame_id, scale)]
                expected = TF.to_tensor(jitter(to_pil(color))) if jitter else color
                torch.testing.assert_close(color_aug, expected, atol=0, rtol=0)
                if jitter:
                    assert not torch.equal(color_aug, color)
    assert outcomes == {True, False}


def test_flip_mirrors_every_frame_scale_and_the_stereo_baseline(kitti_tree):
    dataset = make_dataset(kitti_tree, [f"{DRIVE} 2 l"], is_train=True)
    paths = {0: 2, -1: 1, 1: 3}
    references = {f: reference_pyramid(kitti_tree / DRIVE / "image_02" / "data" / f"{i:010d}.png")
                  for f, i in paths.items()}
    references["s"] = reference_pyramid(kitti_tree / DRIVE / "image_03" / "data" / f"{2:010d}.png")
    seen = set()
    for seed in range(8):
        random.seed(seed)
        sample = dataset[0]
        flipped = not torch.equal(sample[("color", 0, 0)], references[0][0])
        seen.add(flipped)
        for frame_id, pyramid in references.items():
            for scale, reference in enumerate(pyramid):
                expected = torch.flip(reference, [2]) if flipped else reference
                torch.testing.assert_close(sample[("color", frame_id, scale)], expected, atol=0, rtol=0)
        # Left image: the right camera is at +0.54 m, so T_s_from_0 moves points by −0.1; a flip swaps sides.
        assert sample["stereo_T"][0, 3].item() == pytest.approx(0.1 if flipped else -0.1)
        torch.testing.assert_close(sample[("K", 0)][0, 2], torch.tensor(32.0))  # cx = 0.5·W: no change
    assert seen == {True, False}
    assert make_dataset(kitti_tree, [f"{DRIVE} 2 r"])[0]["stereo_T"][0, 3].item() == pytest.approx(0.1)


def test_off_centre_principal_point_is_mirrored_on_flip(kitti_tree):
    class OffCentre(KITTIRAWDataset):
        K_norm = np.diag([0.6, 1.9, 1.0, 1.0]).astype(np.float32)

    OffCentre.K_norm[0, 2], OffCentre.K_norm[1, 2] = 0.4, 0.5
    dataset = OffCentre(kitti_tree, [f"{DRIVE} 2 l"], 32, 64, [0, -1, 1], 4, is_train=True, img_ext=".png")
    reference = reference_pyramid(kitti_tree / DRIVE / "image_02" / "data" / f"{2:010d}.png")[0]
    for seed in range(6):
        random.seed(seed)
        sample = dataset[0]
        flipped = not torch.equal(sample[("color", 0, 0)], reference)
        assert sample[("K", 0)][0, 2].item() == pytest.approx((0.6 if flipped else 0.4) * 64)


def test_intrinsics_per_scale_at_640x192(kitti_tree):
    sample = make_dataset(kitti_tree, [f"{DRIVE} 2 l"], width=640, height=192)[0]
    table = {0: (371.2, 368.64, 320, 96), 1: (185.6, 184.32, 160, 48), 2: (92.8, 92.16, 80, 24),
             3: (46.4, 46.08, 40, 12)}
    for scale, (fx, fy, cx, cy) in table.items():
        K = sample[("K", scale)]
        assert K.dtype == torch.float32 and K.shape == (4, 4)
        assert [K[0, 0].item(), K[1, 1].item(), K[0, 2].item(), K[1, 2].item()] == pytest.approx([fx, fy, cx, cy])
        torch.testing.assert_close(sample[("inv_K", scale)] @ K, torch.eye(4), atol=1e-5, rtol=0)
        assert sample[("color", 0, scale)].shape == (3, 192 // 2**scale, 640 // 2**scale)
    assert "depth_gt" not in sample  # no Velodyne in this tree


def test_image_cache_gives_the_same_samples_without_decoding_again(kitti_tree, tmp_path, monkeypatch):
    lines = [f"{DRIVE} 2 l", f"{DRIVE} 3 r"]
    plain = make_dataset(kitti_tree, lines, is_train=True)
    cached = make_dataset(kitti_tree, lines, is_train=True, image_cache=ImageCache(tmp_path, 64, 32, 4))
    for seed in range(4):
        random.seed(seed)
        torch.manual_seed(seed)
        a = plain[seed % 2]
        random.seed(seed)
        torch.manual_seed(seed)
        b = cached[seed % 2]
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=0, rtol=0)
    assert len(list(tmp_path.rglob("*.npy"))) == 6  # frames 1..4 left, 2..4 right... each file once
    monkeypatch.setattr("training.datasets.image_cache.load_rgb", lambda path: pytest.fail(f"decoded {path}"))
    cached[0]


# =========================================================================================== loss


def test_minimum_reprojection_takes_the_per_pixel_minimum_and_marks_warped_winners():
    torch.manual_seed(0)
    reprojection = torch.rand(2, 2, 5, 7)
    identity = torch.rand(2, 2, 5, 7)
    identity[:, :, :2] = 0.0  # stationary rows: an unwarped source wins
    reprojection[:, 1, 3:] = 0.0  # the second warped source is perfect in the bottom rows
    loss, selection = minimum_reprojection(reprojection, identity)
    expected = torch.minimum(reprojection.min(1).values, identity.min(1).values)
    torch.testing.assert_close(loss, expected, atol=1e-4, rtol=0)
    warped_wins = reprojection.min(1).values < identity.min(1).values
    torch.testing.assert_close(selection, warped_wins.float())
    assert not selection[:, :2].any() and selection[:, 3:].all()

    loss, selection = minimum_reprojection(reprojection, None)  # --disable_automasking
    torch.testing.assert_close(loss, reprojection.min(1).values)
    assert selection is None
    loss, selection = minimum_reprojection(reprojection, identity, avg_reprojection=True)
    expected = torch.minimum(reprojection.mean(1), identity.mean(1))
    torch.testing.assert_close(loss, expected, atol=1e-4, rtol=0)


def random_batch(scales=(0, 1, 2, 3), sources=(-1, 1), batch=2, height=32, width=64) -> tuple[dict, dict]:
    torch.manual_seed(0)
    inputs, outputs = {}, {}
    for frame_id in (0, *sources):
        for s in range(4):
            inputs[("color", frame_id, s)] = torch.rand(batch, 3, height // 2**s, width // 2**s)
    for s in scales:
        outputs[("disp", s)] = torch.rand(batch, 1, height // 2**s, width // 2**s)
        for frame_id in sources:
            outputs[("color", frame_id, s)] = torch.rand(batch, 3, height, width)
    return inputs, outputs


def test_total_loss_is_the_mean_over_scales_of_photometric_plus_weighted_smoothness():
    inputs, outputs = random_batch()
    loss = SelfSupervisedLoss(LossSettings(), [-1, 1], 32, 64)
    torch.manual_seed(1)
    losses = loss(inputs, outputs)
    target = inputs[("color", 0, 0)]
    for s in range(4):
        reprojection = torch.cat([compute_reprojection_loss(outputs[("color", f, s)], target, loss.ssim)
                                  for f in (-1, 1)], 1)
        identity = torch.cat([compute_reprojection_loss(inputs[("color", f, 0)], target, loss.ssim)
                              for f in (-1, 1)], 1)
        photometric = torch.minimum(reprojection.min(1).values, identity.min(1).values).mean()
        smooth = get_smooth_loss(mean_normalized(outputs[("disp", s)]), inputs[("color", 0, s)])
        expected = photometric + 1e-3 * smooth / 2**s
        assert losses[f"loss/{s}"].item() == pytest.approx(expected.item(), abs=1e-5)
        assert outputs[f"identity_selection/{s}"].shape == (2, 32, 64)
    assert losses["loss"].item() == pytest.approx(sum(losses[f"loss/{s}"].item() for s in range(4)) / 4, rel=1e-6)


def test_full_resolution_multiscale_upsamples_disparity_before_depth_and_warps_at_scale_0():
    inputs, outputs = random_batch(sources=("s",))
    for s in range(4):
        inputs[("K", s)] = torch.tensor([[[0.58 * 64 / 2**s, 0, 32 / 2**s, 0], [0, 1.92 * 32 / 2**s, 16 / 2**s, 0],
                                          [0, 0, 1, 0], [0, 0, 0, 1]]]).repeat(2, 1, 1)
        inputs[("inv_K", s)] = torch.linalg.inv(inputs[("K", s)])
    inputs["stereo_T"] = torch.eye(4).repeat(2, 1, 1)
    disp = {s: outputs[("disp", s)] for s in range(4)}
    synthesis = ViewSynthesis(32, 64, [0, 1, 2, 3], ["s"], min_depth=0.1, max_depth=100.0)
    synthesis(inputs, outputs)
    for s in range(4):
        _, expected = disp_to_depth(upsample_to(disp[s], 32, 64), 0.1, 100.0)
        torch.testing.assert_close(outputs[("depth", 0, s)], expected)
        # Identity stereo pose: the warp samples the full-resolution source at its own pixels.
        torch.testing.assert_close(outputs[("color", "s", s)], inputs[("color", "s", 0)], atol=2e-4, rtol=0)
    v1 = ViewSynthesis(32, 64, [0, 1, 2, 3], ["s"], min_depth=0.1, max_depth=100.0, v1_multiscale=True)
    v1(inputs, outputs)
    for s in range(4):
        assert outputs[("depth", 0, s)].shape == (2, 1, 32 // 2**s, 64 // 2**s)
        torch.testing.assert_close(outputs[("color", "s", s)], inputs[("color", "s", s)], atol=2e-4, rtol=0)


def test_pose_pairs_are_fed_in_temporal_order_and_inverted_for_past_frames(monkeypatch):
    model = MonodepthModel(num_layers=18, pretrained=False, allow_download=False, scales=[0], frame_ids=[0, -1, 1])
    axisangle = torch.tensor([[[[0.1, -0.2, 0.05]], [[9.0, 9.0, 9.0]]]])  # B×2×1×3: slot 1 must be ignored
    translation = torch.tensor([[[[0.3, 0.1, -0.5]], [[9.0, 9.0, 9.0]]]])
    orders = []

    def fake_pose(inputs, frames, features):
        orders.append(list(frames))
        return axisangle, translation, torch.zeros(1, 512, 1, 1)

    monkeypatch.setattr(model, "_run_pose", fake_pose)
    outputs = model.predict_poses({}, {})
    assert orders == [[-1, 0], [0, 1]]
    forward = transformation_from_parameters(axisangle[:, 0], translation[:, 0])
    torch.testing.assert_close(outputs[("cam_T_cam", 0, 1)], forward)
    torch.testing.assert_close(outputs[("cam_T_cam", 0, -1)], torch.linalg.inv(forward), atol=1e-6, rtol=0)


# =========================================================================================== training runs


@pytest.fixture(scope="module")
def synthetic_kitti(tmp_path_factory) -> Path:
    from training.synthetic_kitti import generate

    root = tmp_path_factory.mktemp("synthetic")
    generate(root, drives=1, frames=40, seed=0, width=331, height=100)  # KITTI's aspect: its K_norm holds
    return root


def tiny_options(root: Path, log_dir: Path, **overrides) -> Options:
    settings = dict(
        data_path=str(root), split=str(root / "splits" / "synthetic"), png=True, height=64, width=128,
        batch_size=2, num_workers=0, weights_init="scratch", log_dir=str(log_dir), num_epochs=100,
        log_frequency=1000, save_frequency=1000,
    )
    settings.update(overrides)
    return Options(**settings)


def test_true_depth_and_pose_explain_the_synthetic_views(synthetic_kitti):
    """End-to-end conventions (dataset K, T_source_from_target, warping, loss) on data with known geometry."""
    from depth_ros.kitti import camera_poses

    line = read_split_file(synthetic_kitti / "splits" / "synthetic" / "train_files.txt")[5]
    dataset = KITTIDepthDataset(synthetic_kitti, [line], 64, 128, [0, -1, 1], 4, img_ext=".png")
    inputs = {key: value[None] for key, value in dataset[0].items()}
    depth = torch.nn.functional.interpolate(inputs["depth_gt"], (64, 128), mode="nearest")
    depth = torch.where(depth > 0, depth, torch.full_like(depth, 100.0))  # sky: as far as the model can say
    disp = ((1 / depth - 1 / 100.0) / (1 / 0.1 - 1 / 100.0)).clamp(0, 1)  # inverse of disp_to_depth
    split_line = SplitLine.parse(line)
    world_from_cam = torch.from_numpy(camera_poses(synthetic_kitti / split_line.folder, 2)).float()
    target = world_from_cam[split_line.frame_index]
    synthesis = ViewSynthesis(64, 128, [0], [-1, 1], min_depth=0.1, max_depth=100.0)
    loss = SelfSupervisedLoss(LossSettings(scales=(0,), automasking=False), [-1, 1], 64, 128)

    def photometric(invert: bool) -> float:
        outputs = {("disp", 0): disp}
        for f in (-1, 1):
            T = torch.linalg.inv(world_from_cam[split_line.frame_index + f]) @ target  # T_source_from_target
            outputs[("cam_T_cam", 0, f)] = (torch.linalg.inv(T) if invert else T)[None]
        synthesis(inputs, outputs)
        return loss(inputs, outputs)["loss"].item()

    identity = compute_reprojection_loss(inputs[("color", -1, 0)], inputs[("color", 0, 0)], loss.ssim).mean()
    assert photometric(invert=False) < 0.5 * min(identity.item(), photometric(invert=True))


@pytest.fixture(scope="module")
def trained(synthetic_kitti, tmp_path_factory):
    """20 steps from scratch; the loss of one fixed batch before and after."""
    opt = tiny_options(synthetic_kitti, tmp_path_factory.mktemp("logs"), max_steps=20)
    trainer = Trainer(opt)
    dataset = trainer.make_dataset(read_split_file(Path(opt.split) / "train_files.txt"), is_train=False)
    fixed = batch_to_device(next(iter(DataLoader(dataset, batch_size=8))), trainer.device)

    def fixed_loss() -> float:
        with torch.no_grad():
            torch.manual_seed(0)
            return trainer.process_batch(fixed, trainer.model)[1]["loss"].item()

    before = fixed_loss()
    trainer.train()
    return trainer, before, fixed_loss()


@pytest.mark.slow
def test_training_lowers_the_loss(trained):
    trainer, before, after = trained
    assert trainer.step == 20
    assert math.isfinite(after) and after < 0.9 * before, (before, after)


@pytest.mark.slow
def test_checkpoint_has_the_official_layout_and_fine_tunes(trained):
    trainer, _, _ = trained
    models = Path(trainer.opt.log_dir) / trainer.opt.model_name / "models"
    folder = models / f"weights_{trainer.epoch}"  # max_steps ends the run mid-epoch and saves it
    assert json.loads((models / "opt.json").read_text())["max_steps"] == 20
    assert {p.name for p in folder.glob("*.pth")} == {"encoder.pth", "depth.pth", "pose_encoder.pth", "pose.pth",
                                                      "adam.pth", "trainer_state.pth"}
    encoder = load_state_file(folder / "encoder.pth")
    assert (encoder["height"], encoder["width"], encoder["use_stereo"]) == (64, 128, False)
    assert "encoder.fc.weight" in encoder and not any(k.startswith("module.") for k in encoder)
    depth = load_state_file(folder / "depth.pth")
    assert len(depth) == 28 and depth["decoder.13.conv.weight"].shape == (1, 128, 3, 3)
    pose_keys = [f"net.{i}.{p}" for i in range(4) for p in ("bias", "weight")]
    assert sorted(load_state_file(folder / "pose.pth")) == pose_keys
    assert load_state_file(folder / "pose_encoder.pth")["encoder.conv1.weight"].shape == (64, 6, 7, 7)
    network, metadata = load_depth_network(folder)  # the runtime reads what training wrote
    assert (metadata.height, metadata.width) == (64, 128)
    assert network(torch.rand(1, 3, 64, 128)).shape == (1, 1, 64, 128)

    resumed = Trainer(tiny_options(Path(trainer.opt.data_path), Path(trainer.opt.log_dir), model_name="resumed",
                                   load_weights_folder=str(folder), learning_rate=3e-5, no_resume=True))
    for name, net in resumed.model.named_networks().items():
        saved = load_state_file(folder / f"{name}.pth")
        for key, value in net.state_dict().items():
            torch.testing.assert_close(value, saved[key], atol=0, rtol=0)
    assert len(resumed.optimizer.state) > 0  # Adam moments restored from adam.pth
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [3e-5]  # not the saved 1e-4
    assert resumed.scheduler.get_last_lr() == [3e-5]


@pytest.mark.slow
@pytest.mark.parametrize("num_workers", [0, 1])
def test_n_steps_then_resume_then_n_steps_equals_2n_steps_in_one_run(synthetic_kitti, tmp_path, num_workers):
    """Resumed mid-epoch (13 steps per epoch), across an epoch end where StepLR drops the rate, during a warm-up."""
    n = 7  # 2n = 14 crosses the 13-step epoch

    def run(name: str, max_steps: int, **overrides) -> Trainer:
        trainer = Trainer(tiny_options(synthetic_kitti, tmp_path, model_name=name, max_steps=max_steps, warmup_steps=10,
                                       scheduler_step_size=1, num_workers=num_workers, seed=3, height=64, width=64,
                                       **overrides))  # fmt: skip
        trainer.train()
        return trainer

    whole = run("whole", 2 * n)
    first = run("first", n)
    resumed = run("resumed", 2 * n, load_weights_folder=str(tmp_path / "first" / "models" / "weights_0"))
    assert (resumed.step, resumed.epoch, whole.epoch) == (2 * n, 1, 1)
    for name, net in whole.model.named_networks().items():
        for key, value in net.state_dict().items():
            torch.testing.assert_close(resumed.model.named_networks()[name].state_dict()[key], value, atol=0, rtol=0)
    assert resumed.optimizer.param_groups[0]["lr"] == whole.optimizer.param_groups[0]["lr"]
    fine_tuned = Trainer(tiny_options(synthetic_kitti, tmp_path, model_name="tuned", no_resume=True,
                                      load_weights_folder=str(tmp_path / "first" / "models" / "weights_0")))
    assert fine_tuned.step == 0 and first.step == n


def test_a_resumable_checkpoint_refuses_a_partial_load(synthetic_kitti, tmp_path):
    first = Trainer(tiny_options(synthetic_kitti, tmp_path, model_name="first", max_steps=1))
    first.train()
    folder = str(tmp_path / "first" / "models" / "weights_0")
    with pytest.raises(CheckpointError, match=r"pose, pose_encoder would not be loaded.*--no_resume"):
        Trainer(tiny_options(synthetic_kitti, tmp_path, load_weights_folder=folder,
                             models_to_load=["encoder", "depth"]))


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # no optimiser steps here
def test_learning_rate_drops_after_scheduler_step_size_epochs(synthetic_kitti, tmp_path, monkeypatch):
    # The scheduler is stepped at the END of each epoch: 15 epochs at 1e-4 then 5 at 1e-5 (the paper's schedule).
    trainer = Trainer(tiny_options(synthetic_kitti, tmp_path, num_epochs=20))
    rates = []
    monkeypatch.setattr(trainer, "run_epoch", lambda *args: rates.append(trainer.optimizer.param_groups[0]["lr"]))
    monkeypatch.setattr(trainer, "save_model", lambda: None)
    trainer.train()
    assert rates[:15] == [1e-4] * 15 and rates[15:] == pytest.approx([1e-5] * 5)


def test_warmup_raises_the_rate_linearly_then_hands_it_back_to_the_schedule(synthetic_kitti, tmp_path):
    trainer = Trainer(tiny_options(synthetic_kitti, tmp_path, warmup_steps=4, max_steps=6, learning_rate=1e-4))
    rates = []
    trainer.optimizer.register_step_pre_hook(lambda optimizer, *_: rates.append(optimizer.param_groups[0]["lr"]))
    trainer.train()
    assert rates == pytest.approx([2.5e-5, 5e-5, 7.5e-5, 1e-4, 1e-4, 1e-4], rel=1e-12)
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-4  # the epoch scheduler never saw a warm-up rate


def test_one_progress_display_off_a_terminal_monodepth2s_lines(synthetic_kitti, tmp_path, capsys):
    """Captured output is no terminal: tqdm's bar (its own ETA) is off, Monodepth2's console lines carry progress."""
    Trainer(tiny_options(synthetic_kitti, tmp_path, max_steps=2, log_frequency=1)).train()
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and all("time left" in line for line in lines)
    assert "img/s" not in captured.err + captured.out


def test_no_warmup_by_default_as_monodepth2():
    assert Options().warmup_steps == 0 and warmup_factor(0, 0) == warmup_factor(10**6, 0) == 1.0
    assert [warmup_factor(step, 4) for step in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    with pytest.raises(OptionsError, match="--warmup_steps must be non-negative"):
        validate_options(Options(warmup_steps=-1))


def test_step_size_for_budget_drops_after_three_quarters_of_the_steps():
    assert step_size_for_budget(max_steps=700, steps_per_epoch=39) == 13  # 525 of 700 steps ≈ 13.5 epochs
    assert step_size_for_budget(max_steps=300, steps_per_epoch=100) == 2
    assert step_size_for_budget(max_steps=10, steps_per_epoch=100) == 1  # never 0: StepLR needs ≥ 1


@pytest.mark.parametrize(
    ("overrides", "networks"),
    [
        ({"frame_ids": [0], "use_stereo": True}, {"encoder", "depth"}),
        ({"use_stereo": True}, {"encoder", "depth", "pose_encoder", "pose"}),
        ({"pose_model_type": "shared"}, {"encoder", "depth", "pose"}),
        ({"pose_model_type": "posecnn", "pose_model_input": "all"}, {"encoder", "depth", "pose"}),
        ({"v1_multiscale": True, "avg_reprojection": True, "no_ssim": True},
         {"encoder", "depth", "pose_encoder", "pose"}),
        ({"disable_automasking": True, "predictive_mask": True},
         {"encoder", "depth", "pose_encoder", "pose", "predictive_mask"}),
        ({"espcn": True, "scales": [0, 2]}, {"encoder", "depth", "pose_encoder", "pose"}),
    ],
    ids=["stereo", "mono+stereo", "shared", "posecnn-all", "v1-avg-nossim", "predictive-mask", "espcn"],
)
def test_every_mode_takes_a_training_step(synthetic_kitti, tmp_path, overrides, networks):
    trainer = Trainer(tiny_options(synthetic_kitti, tmp_path, **overrides))
    assert set(trainer.model.named_networks()) == networks
    inputs, outputs, losses = trainer.train_step(next(iter(trainer.train_loader)))
    assert math.isfinite(losses["loss"].item())
    assert set(losses) == {"loss", *(f"loss/{s}" for s in trainer.opt.scales)}
    for scale in trainer.opt.scales:
        size = (64, 128) if not trainer.opt.v1_multiscale else (64 // 2**scale, 128 // 2**scale)
        for frame_id in trainer.source_frame_ids:
            assert outputs[("color", frame_id, scale)].shape[2:] == size
        assert (f"identity_selection/{scale}" in outputs) == (not trainer.opt.disable_automasking)
    if trainer.opt.espcn:
        network, metadata = load_depth_network(trainer.save_model())
        assert metadata.decoder_upsample == "espcn"
        image = inputs[("color", 0, 0)][:1]
        with torch.no_grad():
            expected = trainer.model.eval().depth(trainer.model.encoder(image))[("disp", 0)]
            torch.testing.assert_close(network(image), expected)


@pytest.mark.slow
def test_two_process_ddp_run_saves_unwrapped_weights(synthetic_kitti, tmp_path):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "training/train.py",
        "--data_path", str(synthetic_kitti), "--split", str(synthetic_kitti / "splits" / "synthetic"), "--png",
        "--height", "64", "--width", "128", "--batch_size", "2", "--num_workers", "0", "--weights_init", "scratch",
        "--log_dir", str(tmp_path), "--max_steps", "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stderr + result.stdout
    folders = list((tmp_path / "mdp" / "models").glob("weights_*"))
    assert [f.name for f in folders] == ["weights_0"]
    for name in ("encoder", "depth", "pose_encoder", "pose"):
        state = load_state_file(folders[0] / f"{name}.pth")
        assert state and not any(key.startswith("module.") for key in state)


# =========================================================================================== command line


def _split_with(tmp_path: Path, train_lines: list[str], val_from: Path) -> Path:
    split = tmp_path / "split"
    split.mkdir(parents=True)
    (split / "train_files.txt").write_text("\n".join(train_lines) + "\n")
    shutil.copy(val_from / "val_files.txt", split)
    return split


def test_every_split_line_is_checked_before_the_first_step(synthetic_kitti, tmp_path):
    """A malformed line gave KeyError: None and a missing frame a FileNotFoundError mid-epoch (#22)."""
    splits = synthetic_kitti / "splits" / "synthetic"
    lines = read_split_file(splits / "train_files.txt")
    malformed = _split_with(tmp_path / "a", [*lines[:3], f"{DRIVE} 7", *lines[3:]], splits)
    with pytest.raises(DatasetError, match=r"1 split line\(s\) are not .*line 4 '.* 7'"):
        Trainer(tiny_options(synthetic_kitti, tmp_path, split=str(malformed)))
    beyond = _split_with(tmp_path / "b", [*lines, f"{DRIVE} 900 l", f"{DRIVE} 901 r"], splits)
    with pytest.raises(DatasetError, match=rf"2 of {len(lines) + 2} split lines need files that do not exist "
                                           rf"\(line {len(lines) + 1}: .*0000000900\.png"):  # fmt: skip
        Trainer(tiny_options(synthetic_kitti, tmp_path, split=str(beyond)))


def test_a_drive_without_calibration_is_named_before_the_first_step(synthetic_kitti, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synthetic_kitti / DRIVE, data / DRIVE)  # the drive, not its date folder's calib_*.txt
    with pytest.raises(DatasetError, match=r"need files that do not exist \(line 1: .*calib_cam_to_cam\.txt"):
        Trainer(tiny_options(data, tmp_path, split=str(synthetic_kitti / "splits" / "synthetic")))


def test_command_line_errors_are_one_line(synthetic_kitti, tmp_path, monkeypatch, capsys):
    base = ["--split", str(synthetic_kitti / "splits" / "synthetic"), "--png", "--height", "64", "--width", "128",
            "--num_workers", "0", "--log_dir", str(tmp_path), "--batch_size", "2"]
    assert train.main(["--data_path", str(tmp_path / "nowhere"), *base, "--weights_init", "scratch"]) == 2
    assert "image not found" in capsys.readouterr().err
    assert train.main(["--data_path", str(synthetic_kitti), "--split", "nope", "--splits_dir", str(tmp_path)]) == 2
    assert "split 'nope' not found" in capsys.readouterr().err
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached ImageNet weights; never download
    assert train.main(["--data_path", str(synthetic_kitti), *base, "--no_pretrained_download"]) == 2
    err = capsys.readouterr().err
    assert "ImageNet weights" in err and "--weights_init scratch" in err and len(err.strip().splitlines()) == 1


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "training.train", "--help"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "torchrun" not in result.stderr and "--load_weights_folder" in result.stdout
