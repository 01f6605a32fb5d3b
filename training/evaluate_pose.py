"""Evaluate a pose network on KITTI odometry sequence 9 or 10: SfMLearner's 5-frame ATE, as Monodepth2.

    python -m training.evaluate_pose --load_weights_folder DIR --data_path kitti_odom --eval_split odom_9

Data: ``data_path/sequences/<seq:02d>/image_2/<frame:06d>.jpg`` (``--png`` for .png) and the ground-truth
poses ``data_path/poses/<seq:02d>.txt``; frames from ``<splits_dir>/odom/test_files_<seq:02d>.txt``. The
pose network is Monodepth2's ``separate_resnet``: ``pose_encoder.pth`` (two stacked images) and
``pose.pth``; input size from the weights folder's metadata. For every line i the network sees frames
(i, i+1) and predicts ``T = transformation_from_parameters(axisangle[:, 0], translation[:, 0])``. Every
snippet of 5 frames (4 relative poses) is chained from the identity, its first position aligned with the
ground truth, scaled by least squares, and scored as ``sqrt(Σ‖s·p − gt‖²) / 5``; the mean and standard
deviation over snippets are printed. Saves ``poses.npy`` (N×4×4) and ``eval_odom_<seq>.json`` next to the
weights, atomically.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from depth_ros.atomic_io import atomic_write_text
from depth_ros.checkpoint import CheckpointError, infer_num_layers, load_module_state, load_state_file, read_metadata
from depth_ros.networks import PoseDecoder, ResnetEncoder
from training.datasets.splits import DEFAULT_SPLITS_DIR, SplitError, SplitLine, read_frame_lines
from training.depth_prediction import load_image_tensor, save_array
from training.layers import transformation_from_parameters
from training.metrics import EvalError

TRACK_LENGTH = 5  # frames per ATE snippet


def dump_xyz(source_to_target_transformations: Sequence[np.ndarray]) -> np.ndarray:
    """(N+1)×3 camera positions of N chained 4×4 relative poses, starting at the origin (identity)."""
    pose = np.eye(4)
    positions = [pose[:3, 3]]
    for transformation in source_to_target_transformations:
        pose = pose @ transformation
        positions.append(pose[:3, 3])
    return np.array(positions)


def compute_ate(gtruth_xyz: np.ndarray, pred_xyz: np.ndarray) -> float:
    """SfMLearner's ATE of an N×3 predicted trajectory against the ground truth (metres).

    Aligns the first positions, scales the prediction by the least-squares ``s = Σ gt·p / Σ p²`` and
    returns ``sqrt(Σ‖s·p − gt‖²) / N`` (the root of the summed error, divided by N, as SfMLearner).
    """
    pred_xyz = pred_xyz + (gtruth_xyz[0] - pred_xyz[0])
    scale = np.sum(gtruth_xyz * pred_xyz) / np.sum(pred_xyz**2)
    return float(np.sqrt(np.sum((scale * pred_xyz - gtruth_xyz) ** 2)) / len(gtruth_xyz))


def load_gt_poses(path: str | Path) -> np.ndarray:
    """F×4×4 global poses from a KITTI odometry ``poses/NN.txt`` (12 numbers per line, row-major 3×4)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth poses {path} do not exist")
    try:
        values = np.loadtxt(path, ndmin=2)
    except ValueError as error:
        raise EvalError(f"cannot parse {path}: {error}") from None
    if values.shape[1] != 12:
        raise EvalError(f"{path}: expected 12 numbers per line, got {values.shape[1]}")
    poses = np.tile(np.eye(4), (len(values), 1, 1))
    poses[:, :3, :] = values.reshape(-1, 3, 4)
    return poses


def local_gt_poses(global_poses: np.ndarray) -> np.ndarray:
    """(F−1)×4×4 relative poses ``inv(inv(G[i−1]) · G[i])`` of F global poses, the predictions' convention."""
    return np.linalg.inv(np.linalg.inv(global_poses[:-1]) @ global_poses[1:])


def snippet_ates(pred_poses: np.ndarray, gt_local: np.ndarray, track_length: int = TRACK_LENGTH) -> np.ndarray:
    """ATE of every snippet of ``track_length`` frames (shorter at the end), one per relative pose."""
    if len(pred_poses) != len(gt_local):
        raise EvalError(f"{len(pred_poses)} predicted relative poses but {len(gt_local)} from the ground truth")
    steps = track_length - 1
    return np.array(
        [
            compute_ate(dump_xyz(gt_local[i : i + steps]), dump_xyz(pred_poses[i : i + steps]))
            for i in range(len(gt_local))
        ]
    )


def odom_image_path(data_path: str | Path, ref: SplitLine, frame_index: int, ext: str) -> Path:
    """``data_path/sequences/<seq:02d>/image_<cam>/<frame:06d><ext>`` of an odometry split line."""
    return Path(data_path) / "sequences" / f"{int(ref.folder):02d}" / f"image_{ref.cam}" / f"{frame_index:06d}{ext}"


def load_pose_network(folder: str | Path, device: torch.device) -> tuple[ResnetEncoder, PoseDecoder]:
    """Pose encoder (2 stacked images) and decoder of a weights folder, in eval mode on ``device``."""
    folder = Path(folder)
    encoder_state = load_state_file(folder / "pose_encoder.pth")
    encoder = ResnetEncoder(infer_num_layers(encoder_state), num_input_images=2)
    decoder = PoseDecoder(encoder.num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    load_module_state(encoder, encoder_state, str(folder / "pose_encoder.pth"))
    load_module_state(decoder, load_state_file(folder / "pose.pth"), str(folder / "pose.pth"))
    return encoder.to(device).eval(), decoder.to(device).eval()


@torch.no_grad()
def predict_poses(
    encoder: ResnetEncoder,
    decoder: PoseDecoder,
    pairs: Sequence[tuple[Path, Path]],
    size: tuple[int, int],
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """N×4×4 relative poses of N image pairs (frame i, frame i+1), each image resized to ``size`` = (H, W)."""
    height, width = size
    poses = []
    with tqdm(total=len(pairs), desc="predict", unit="pair", disable=None) as progress:
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            loaded = {path: load_image_tensor(path, width, height) for pair in batch for path in pair}
            images = torch.cat([torch.cat([loaded[first], loaded[second]], 1) for first, second in batch]).to(device)
            axisangle, translation = decoder([encoder(images)])
            poses.append(transformation_from_parameters(axisangle[:, 0], translation[:, 0]).cpu().numpy())
            progress.update(len(batch))
    return np.concatenate(poses).astype(np.float64)


def sequence_of(eval_split: str) -> int:
    """``odom_9`` → 9."""
    match = re.fullmatch(r"odom_(\d+)", eval_split)
    if match is None:
        raise SplitError(f"--eval_split must be odom_<sequence> (odom_9, odom_10), got {eval_split!r}")
    return int(match.group(1))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load_weights_folder", required=True, help="folder with pose_encoder.pth and pose.pth")
    parser.add_argument("--data_path", required=True, help="KITTI odometry root (sequences/, poses/)")
    parser.add_argument("--eval_split", default="odom_9", help="odom_9 | odom_10")
    parser.add_argument("--splits_dir", default=str(DEFAULT_SPLITS_DIR), help="holds odom/test_files_NN.txt")
    parser.add_argument("--png", action="store_true", help="read .png images instead of .jpg")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--no_cuda", action="store_true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    """Predict the relative poses of the split's frame pairs, score the 5-frame snippets, save the results."""
    if args.batch_size < 1:
        raise EvalError("--batch_size must be at least 1")
    sequence = sequence_of(args.eval_split)
    split_file = Path(args.splits_dir) / "odom" / f"test_files_{sequence:02d}.txt"
    refs = read_frame_lines(split_file)
    if not all(ref.folder.isdigit() for ref in refs):
        raise SplitError(f"{split_file}: odometry lines must start with a sequence number ('9 0 l')")
    gt_local = local_gt_poses(load_gt_poses(Path(args.data_path) / "poses" / f"{sequence:02d}.txt"))
    folder = Path(args.load_weights_folder)
    metadata = read_metadata(folder)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.no_cuda else "cpu")
    encoder, decoder = load_pose_network(folder, device)
    ext = ".png" if args.png else ".jpg"
    pairs = [tuple(odom_image_path(args.data_path, ref, ref.frame_index + k, ext) for k in (0, 1)) for ref in refs]
    pred_poses = predict_poses(encoder, decoder, pairs, (metadata.height, metadata.width), args.batch_size, device)
    ates = snippet_ates(pred_poses, gt_local)
    print(f"\n   Trajectory error: {np.mean(ates):0.3f}, std: {np.std(ates):0.3f}\n")
    print(f"-> Predictions saved to {save_array(folder / 'poses.npy', pred_poses)}")
    record = {
        "label": str(folder),
        "split": args.eval_split,
        "sequence": sequence,
        "n_snippets": len(ates),
        "track_length": TRACK_LENGTH,
        "ate_mean": float(np.mean(ates)),
        "ate_std": float(np.std(ates)),
        "input_size": [metadata.height, metadata.width],
        "image_ext": ext,
    }
    path = atomic_write_text(folder / f"eval_odom_{sequence}.json", json.dumps(record, indent=2) + "\n")
    print(f"-> Wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (EvalError, SplitError, CheckpointError, OSError) as error:
        print(f"evaluate_pose: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
