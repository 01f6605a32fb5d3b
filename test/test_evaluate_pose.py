"""SfMLearner's ATE in training.evaluate_pose, and the CLI on a tiny odometry layout."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from depth_ros.checkpoint import ModelMetadata, save_weights_folder
from depth_ros.networks import PoseDecoder, ResnetEncoder
from training import evaluate_pose
from training.evaluate_pose import compute_ate, dump_xyz, load_gt_poses, local_gt_poses, snippet_ates
from training.metrics import EvalError


def _pose(rotvec, translation) -> np.ndarray:
    angle = np.linalg.norm(rotvec)
    axis = np.asarray(rotvec) / angle
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    pose = np.eye(4)
    pose[:3, :3] = np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross
    pose[:3, 3] = translation
    return pose


def _trajectory(frames: int = 12) -> np.ndarray:
    """F×4×4 global poses of a car driving forward (z) while turning and bobbing."""
    rng = np.random.default_rng(0)
    poses = [np.eye(4)]
    for _ in range(frames - 1):
        step = _pose(rng.normal(0, 0.02, 3) + np.array([0, 0.03, 0]), [rng.normal(0, 0.05), rng.normal(0, 0.02), 1.0])
        poses.append(poses[-1] @ step)
    return np.stack(poses)


def test_dump_xyz_chains_from_the_origin():
    step = np.eye(4)
    step[:3, 3] = [0.0, 0.0, 2.0]
    turn = _pose([0.0, math.pi / 2, 0.0], [1.0, 0.0, 0.0])
    xyz = dump_xyz([turn, step])
    np.testing.assert_allclose(xyz, [[0, 0, 0], [1, 0, 0], [3, 0, 0]], atol=1e-12)


def test_exact_predictions_have_zero_ate():
    gt_local = local_gt_poses(_trajectory())
    ates = snippet_ates(gt_local.copy(), gt_local)
    assert len(ates) == len(gt_local) and np.abs(ates).max() < 1e-12


def test_scaled_predictions_have_zero_ate_after_scale_alignment():
    gt_local = local_gt_poses(_trajectory())
    scaled = gt_local.copy()
    scaled[:, :3, 3] *= 0.07  # a monocular network's arbitrary scale
    assert np.abs(snippet_ates(scaled, gt_local)).max() < 1e-12


def test_ate_of_a_constructed_offset():
    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    pred = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    # s = Σ gt·p / Σ p² = 1 / 2; s·p − gt = (0, 0, 0), (−0.5, 0.5, 0); ATE = sqrt(0.5) / 2
    assert compute_ate(gt, pred) == pytest.approx(math.sqrt(0.5) / 2)
    assert compute_ate(gt, pred + np.array([5.0, -2.0, 3.0])) == pytest.approx(
        math.sqrt(0.5) / 2
    )  # first positions aligned


def test_local_gt_poses_are_inverted_relative_motion():
    forward = np.tile(np.eye(4), (3, 1, 1))
    forward[:, 2, 3] = [0.0, 1.0, 2.0]  # the camera moves 1 m forward per frame
    local = local_gt_poses(forward)
    np.testing.assert_allclose(local[:, :3, 3], [[0, 0, -1], [0, 0, -1]])  # points move 1 m towards it


def test_prediction_count_must_match():
    gt_local = local_gt_poses(_trajectory())
    with pytest.raises(EvalError, match="10 predicted relative poses but 11"):
        snippet_ates(gt_local[:-1], gt_local)


@pytest.fixture(scope="module")
def pose_weights(tmp_path_factory):
    """A weights folder with a randomly initialised pose network (pose_encoder.pth, pose.pth)."""
    torch.manual_seed(0)
    encoder = ResnetEncoder(18, num_input_images=2)
    decoder = PoseDecoder(encoder.num_ch_enc, 1, 2)
    weights = tmp_path_factory.mktemp("pose") / "weights"
    states = {"pose_encoder": encoder.state_dict(), "pose": decoder.state_dict()}
    return save_weights_folder(weights, states, ModelMetadata(height=32, width=96))


@pytest.fixture
def odometry(tmp_path, pose_weights):
    """Sequence 09 with 6 frames, its GT poses and split file, and a copy of the pose weights."""
    frames = 6
    images = tmp_path / "odom" / "sequences" / "09" / "image_2"
    images.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for frame in range(frames):
        Image.fromarray(rng.integers(0, 256, (40, 130, 3), dtype=np.uint8)).save(images / f"{frame:06d}.png")
    (tmp_path / "odom" / "poses").mkdir()
    lines = [" ".join(f"{v:.9e}" for v in pose[:3].ravel()) for pose in _trajectory(frames)]
    (tmp_path / "odom" / "poses" / "09.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "splits" / "odom").mkdir(parents=True)
    (tmp_path / "splits" / "odom" / "test_files_09.txt").write_text("".join(f"9 {i} l\n" for i in range(frames - 1)))
    shutil.copytree(pose_weights, tmp_path / "weights")
    return tmp_path


def _args(root, *extra):
    return ["--load_weights_folder", str(root / "weights"), "--data_path", str(root / "odom"), "--eval_split",
            "odom_9", "--splits_dir", str(root / "splits"), "--png", *extra]  # fmt: skip


def test_cli_writes_poses_and_result(odometry, capsys):
    assert evaluate_pose.main(_args(odometry)) == 0
    assert "Trajectory error: " in capsys.readouterr().out
    poses = np.load(odometry / "weights" / "poses.npy")
    assert poses.shape == (5, 4, 4)
    np.testing.assert_allclose(poses[:, 3], np.tile([0, 0, 0, 1], (5, 1)))
    record = json.loads((odometry / "weights" / "eval_odom_9.json").read_text())
    assert record["split"] == "odom_9" and record["n_snippets"] == 5 and math.isfinite(record["ate_mean"])
    gt_local = local_gt_poses(load_gt_poses(odometry / "odom" / "poses" / "09.txt"))
    assert record["ate_mean"] == pytest.approx(float(np.mean(snippet_ates(poses, gt_local))))


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [("poses", "09.txt do not exist"), ("split", "test_files_09.txt does not exist"), ("weights", "pose.pth"),
     ("name", "odom_<sequence>")],
)  # fmt: skip
def test_cli_errors(odometry, capsys, breakage, expected):
    args = _args(odometry)
    if breakage == "poses":
        (odometry / "odom" / "poses" / "09.txt").unlink()
    elif breakage == "split":
        (odometry / "splits" / "odom" / "test_files_09.txt").unlink()
    elif breakage == "weights":
        (odometry / "weights" / "pose.pth").unlink()
    else:
        args[args.index("odom_9")] = "eigen"
    assert evaluate_pose.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evaluate_pose: error: ") and "\n" not in err and expected in err
