"""intrinsics_curve.py: the ``--one_k`` hook, the split filter for wider frame ids, the per-sample diagnosis's
geometry, and tiny runs end to end (with the head, resumed, and the ``--fixed_k`` control)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from benchmarks.ablation import intrinsics_px
from depth_ros.geometry import KITTI_K_NORM
from depth_ros.networks.intrinsics_head import IntrinsicsHead
from projects.learned_intrinsics.intrinsics_curve import (
    constant_input,
    correlation,
    keep_lines_with_neighbours,
    main,
    rotation_error_deg,
    rotation_gain,
    travel_tilt,
    warp_intrinsics_px,
)
from training.datasets import read_split_file
from training.intrinsics import LEARNED_K
from training.synthetic_kitti import SPLIT_NAME

TINY_RUN = ["--drives", "3", "--frames", "10", "--log_every", "1", "--height", "64", "--width", "128",
            "--batch_size", "2"]  # fmt: skip


def test_one_k_gives_every_sample_the_same_K_and_still_learns():
    torch.manual_seed(0)
    head = IntrinsicsHead(16)
    torch.nn.init.normal_(head.offset_conv.weight)
    torch.nn.init.normal_(head.focal_conv.weight)
    free = head(torch.rand(3, 16, 1, 1))
    assert not torch.allclose(free[0], free[1])  # on real bottlenecks each sample has its own K

    head.register_forward_pre_hook(constant_input)
    K = head(torch.rand(3, 16, 1, 1))
    assert torch.equal(K[0], K[1]) and torch.equal(K[0], K[2])
    K[:, 1, 2].sum().backward()  # cy still moves with the head's weights
    assert head.offset_conv.weight.grad.abs().sum() > 0


def test_split_keeps_only_frames_with_every_neighbour(tmp_path: Path):
    for name in ("train_files.txt", "val_files.txt"):
        (tmp_path / name).write_text("".join(f"2011_09_26/drive {i} l\n" for i in range(10)))
    keep_lines_with_neighbours(tmp_path, [0, -2, -1, 1, 2], frames=10)
    for name in ("train_files.txt", "val_files.txt"):
        kept = [int(line.split()[1]) for line in (tmp_path / name).read_text().splitlines()]
        assert kept == [2, 3, 4, 5, 6, 7]


def pose(rotvec: tuple[float, float, float], source_centre_in_target: tuple[float, float, float]) -> np.ndarray:
    """4×4 T_source_from_target of a source camera rotated by ``rotvec`` whose centre sits at the given point."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = -T[:3, :3] @ np.array(source_centre_in_target)
    return T


def test_rotation_error_is_what_the_prediction_adds():
    true = pose((0.01, 0.02, 0.0), (0.0, 0.0, 1.0))
    added_roll = pose((0.0, 0.0, 0.005), (0.0, 0.0, 0.0)) @ true
    np.testing.assert_allclose(rotation_error_deg(true, true), 0.0, atol=1e-9)
    np.testing.assert_allclose(rotation_error_deg(added_roll, true), [0.0, 0.0, np.degrees(0.005)], atol=1e-9)


def test_travel_tilt_is_the_vertical_slope_of_the_source_centre():
    """Optical frame, y down: a camera moving forward 1 m and up 5 cm has tilt −0.05, whatever it turns by."""
    assert travel_tilt(pose((0.02, -0.03, 0.01), (0.1, -0.05, 1.0))) == pytest.approx(-0.05)


def test_rotation_gain_is_the_share_of_each_axis_predicted():
    true = np.random.default_rng(0).normal(size=(20, 3))
    predicted = true * [1.0, 0.2, 0.0] + [0.0, -0.5, 0.1]  # pitch in full, a fifth of the yaw with a bias, no roll
    assert rotation_gain(true, predicted) == pytest.approx([1.0, 0.2, 0.0], abs=1e-3)


def test_correlation_of_a_constant_is_zero():
    assert correlation(np.ones(5), np.arange(5.0)) == 0.0
    assert correlation(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)


def test_tiny_run_reports_the_per_sample_diagnosis(tmp_path: Path):
    out = tmp_path / "curve.json"
    main([*TINY_RUN, "--steps", "2", "--work_dir", str(tmp_path / "work"), "--out", str(out)])
    report = json.loads(out.read_text())
    assert [row["step"] for row in report["curve"]] == [1, 2]
    diagnosis = report["per_sample_diagnosis"]
    split = tmp_path / "work" / "splits" / "synthetic"
    assert diagnosis["frames"] == len(read_split_file(split / "train_files.txt"))
    assert list(diagnosis["entries"]) == ["fx", "fy", "cx", "cy"]
    assert all(-1.0 <= r <= 1.0 for entry in diagnosis["entries"].values() for r in entry["r"].values())
    assert len(diagnosis["rotation_gain"]) == 3 and np.isfinite(diagnosis["rotation_gain"]).all()
    # the drives' true travel is level to within a few hundredths: its focus of expansion is near the true cy
    true_cy = report["true_K_px"]["cy"]
    assert abs(diagnosis["travel_tilt"]["true_mean"]) < 0.05
    assert abs(diagnosis["focus_of_expansion_row_px"]["true"] - true_cy) < 5.0


def test_warp_intrinsics_are_the_heads_else_the_datasets():
    """The learned K is normalised (scaled to the size asked for); the dataset's ("K", 0) is already in pixels."""
    learned = torch.eye(4).repeat(2, 1, 1)
    learned[1, 0, 0], learned[1, 1, 1], learned[1, 0, 2], learned[1, 1, 2] = 0.5, 2.0, 0.4, 0.45
    dataset = torch.eye(4).repeat(2, 1, 1)
    dataset[1, 0, 0], dataset[1, 1, 1], dataset[1, 0, 2], dataset[1, 1, 2] = 150.0, 120.0, 126.0, 29.5
    batch = {("K", 0): dataset}
    assert warp_intrinsics_px({LEARNED_K: learned}, batch, 1, (64, 256)) == {"fx": 128.0, "fy": 128.0, "cx": 102.4,
                                                                            "cy": 28.8}
    assert warp_intrinsics_px({}, batch, 1, (64, 256)) == {"fx": 150.0, "fy": 120.0, "cx": 126.0, "cy": 29.5}


def test_fixed_k_control_trains_without_the_head_and_diagnoses_monodepth2s_K(tmp_path: Path):
    out = tmp_path / "control.json"
    main([*TINY_RUN, "--fixed_k", "--steps", "2", "--work_dir", str(tmp_path / "work"), "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["curve"] == [] and report["head_input"].startswith("none")
    entries = report["per_sample_diagnosis"]["entries"]
    fixed = intrinsics_px(KITTI_K_NORM, (64, 128))  # the warp used it on every frame, not the head or the calibration
    for name, value in fixed.items():
        assert entries[name]["mean_px"] == pytest.approx(value, abs=0.01)
        assert entries[name]["sd_px"] == 0.0


def test_resume_continues_from_the_saved_head_and_counts_on(tmp_path: Path):
    work = tmp_path / "work"
    main([*TINY_RUN, "--steps", "2", "--work_dir", str(work), "--out", str(tmp_path / "first.json")])
    (weights,) = (work / "logs" / "intrinsics_curve" / "models").glob("weights_*")
    head_path = weights / "intrinsics.pth"
    head = torch.load(head_path, weights_only=True)
    head["focal_conv.weight"].zero_()  # a K no fresh head starts at: fx = 0.25·W, fy = 0.5·H, whatever the input
    head["focal_conv.bias"] = torch.tensor([math.log(math.expm1(0.25)), math.log(math.expm1(0.5))])
    torch.save(head, head_path)

    out = tmp_path / "resumed.json"
    main([*TINY_RUN, "--steps", "1", "--work_dir", str(work), "--resume", str(weights), "--resume_step", "2",
          "--out", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    (row,) = report["curve"]
    assert row["step"] == 3 and report["training"]["resume_step"] == 2
    # the first step's forward pass used the loaded head
    assert row["K_px"]["fx"] == pytest.approx(0.25 * 128, rel=1e-4)
    assert row["K_px"]["fy"] == pytest.approx(0.5 * 64, rel=1e-4)


def test_warmup_run_logs_the_prior_until_the_head_is_released(tmp_path: Path):
    out = tmp_path / "curve.json"
    main([*TINY_RUN, "--steps", "2", "--intrinsics_warmup_steps", "2", "--work_dir", str(tmp_path), "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["training"]["intrinsics_warmup_steps"] == 2
    for row in report["curve"]:  # held: square pixels, fx = 0.6·W, principal point at the centre of 128×64
        assert row["K_px"] == pytest.approx({"fx": 76.8, "fy": 76.8, "cx": 64.0, "cy": 32.0})
    with pytest.raises(SystemExit):
        main([*TINY_RUN, "--fixed_k", "--intrinsics_warmup_steps", "1"])


def test_rate_drop_lowers_the_rate_tenfold_after_three_quarters_of_the_run(tmp_path: Path):
    out = tmp_path / "curve.json"
    main([*TINY_RUN, "--steps", "12", "--rate_drop", "--work_dir", str(tmp_path), "--out", str(out)])
    report = json.loads(out.read_text())
    split = tmp_path / "splits" / SPLIT_NAME
    steps_per_epoch = len(read_split_file(split / "train_files.txt")) // 2
    drop_step = round(0.75 * 12 / steps_per_epoch) * steps_per_epoch  # StepLR steps at the end of an epoch
    assert 0 < drop_step < 12 and report["training"]["rate_drop"]
    rates = [row["learning_rate"] for row in report["curve"]]
    assert rates == [1e-4] * drop_step + [pytest.approx(1e-5)] * (12 - drop_step)


def test_resume_needs_its_step_count():
    with pytest.raises(SystemExit):
        main([*TINY_RUN, "--resume", "weights_1"])
    with pytest.raises(SystemExit):
        main([*TINY_RUN, "--resume_step", "100"])
