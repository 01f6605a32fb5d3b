"""What the benchmarks that train on synthetic KITTI drives share: their options, data and held-out scoring.

Not a benchmark itself (``make bench`` skips files starting with ``_``). The drives are rendered at half the KITTI
resolution (``NATIVE_SIZE``); the last drive is held out and scored against its TRUE dense depth (the generator's
``proj_depth`` PNGs) with the Eigen protocol of ``training.evaluate_depth``: 1e-3 < gt < 80 m in the Garg crop,
per-image median scaling.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depth_ros.networks import DepthNetwork
from training.datasets import read_split_file
from training.datasets.splits import TEST_FILE, read_frame_lines
from training.depth_prediction import predict_disparities, raw_image_path
from training.gt_depth import frame_gt_depth
from training.metrics import evaluate_predictions
from training.optimization import step_size_for_budget
from training.options import Options
from training.synthetic_kitti import GENTLE, IMAGE_CENTRE, SPLIT_NAME, DriveMotion, generate

NATIVE_SIZE = (621, 188)  # (W, H): half of KITTI's 1242×375, the same normalised intrinsics, 4× cheaper to render


def add_training_arguments(parser: argparse.ArgumentParser, *, width: int, learning_rate: float,
                           learning_rate_help: str | None = None) -> None:
    """The data and training options every synthetic-drive benchmark takes (``--steps`` is each one's own)."""
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=width)
    parser.add_argument("--learning_rate", type=float, default=learning_rate, help=learning_rate_help)
    parser.add_argument("--drives", type=int, default=4, help="synthetic drives; the last one is the test drive")
    parser.add_argument("--frames", type=int, default=60, help="frames per drive")
    parser.add_argument("--num_workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work_dir", type=Path, help="keep the data, logs and weights here (default: a temp dir)")


def generate_drives(root: Path, args: argparse.Namespace, motion: DriveMotion = GENTLE,
                    principal_point: tuple[float, float] = IMAGE_CENTRE) -> Path:
    """Render ``args.drives`` × ``args.frames`` drives under ``root``; returns their split folder."""
    generate(root, drives=args.drives, frames=args.frames, seed=args.seed, width=NATIVE_SIZE[0],
             height=NATIVE_SIZE[1], motion=motion, principal_point=principal_point)  # fmt: skip
    return root / "splits" / SPLIT_NAME


def training_options(root: Path, args: argparse.Namespace, name: str, steps: int, **overrides) -> Options:
    """Options of a from-scratch run of ``steps`` steps on the drives under ``root``, logs in ``root/logs/name``.

    The learning rate stays constant unless ``overrides`` set ``scheduler_step_size`` (epochs).
    """
    fields = {"scheduler_step_size": 10_000, **overrides}  # 10 000 epochs: beyond any budget here
    return Options(
        data_path=str(root), split=str(root / "splits" / SPLIT_NAME), png=True, height=args.height,
        width=args.width, batch_size=args.batch_size, learning_rate=args.learning_rate, weights_init="scratch",
        num_workers=args.num_workers, log_dir=str(root / "logs"), model_name=name, cache_dir=str(root / "cache"),
        num_epochs=10_000, max_steps=steps, save_frequency=10_000, seed=args.seed, **fields,
    )  # fmt: skip


def rate_drop_epochs(split: Path, batch_size: int, steps: int) -> int:
    """``scheduler_step_size`` (epochs) that drops the rate ×0.1 after 75 % of ``steps`` on ``split``'s training set."""
    return step_size_for_budget(steps, len(read_split_file(split / "train_files.txt")) // batch_size)


@dataclass
class HeldOutDrive:
    """The test frames of the synthetic drives (the last drive) with their true dense depth (N × H×W metres)."""

    image_paths: list[Path]
    gt_depths: list[np.ndarray]

    @classmethod
    def load(cls, root: Path) -> HeldOutDrive:
        refs = read_frame_lines(root / "splits" / SPLIT_NAME / TEST_FILE)
        return cls([raw_image_path(root, ref, ".png") for ref in refs],
                   [frame_gt_depth(root, ref, "annotated") for ref in refs])  # fmt: skip

    def score(self, network: DepthNetwork, size: tuple[int, int], depth_range: tuple[float, float]) -> dict:
        """Eigen-protocol metrics (median scaling, rounded to 4 digits) of ``network`` at ``size`` = (H, W)."""
        network.eval()
        disps = predict_disparities(network, self.image_paths, size, depth_range, batch_size=8)
        metrics = evaluate_predictions(disps, self.gt_depths, split="eigen", mono=True).metrics
        return {name: round(value, 4) for name, value in metrics.items()}
