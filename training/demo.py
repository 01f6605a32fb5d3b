"""``make demo``: the whole chain on synthetic KITTI-format data, each step the command a user would type.

synthetic drives → short training → Eigen-style evaluation (with a quality gate) → ONNX export →
KITTI-style rosbag2 → depth bag (the node's callback path, without ROS) → preview PNGs. Everything lands
in ``--out`` (default ``demo_out/``), which is recreated on every run.

    python -m training.demo [--out demo_out] [--steps 500] [--seed 0]

The brief training uses what learns fastest per CPU minute (``benchmarks/learning_check.py``): 192×64, batch 4,
learning rate 6e-4 (6× Monodepth2's) dropped ×0.1 after 75 % of the steps, from scratch, and a linear warm-up of
the rate over the first 100 steps (``--warmup_steps``): without it, Adam's first full-rate steps drive the
disparity sigmoid to 0 (a constant depth it never leaves) on some seeds. If the trained network scores worse
than ``--max_abs_rel`` on the held-out drive, the demo stops there with one line saying so.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from depth_ros.messages import image_to_depth, image_to_rgb
from depth_ros.visualize import colorize_depth
from training.optimization import step_size_for_budget

DATE = "2011_09_26"
TRAIN_HEIGHT, TRAIN_WIDTH = 64, 192
TRAIN_BATCH_SIZE = 4
TRAIN_LEARNING_RATE = 6e-4
TRAIN_WARMUP_STEPS = 100
MAX_ABS_REL = 0.30  # the quality gate on the held-out drive (an untrained network scores ~0.53)
IMAGE_TOPIC = "/kitti/camera_color_left/image_raw"
DEPTH_TOPIC = "/depth/image"
STRIP_DEPTH_RANGE_M = (3.0, 80.0)  # colour-map range of the strip: street scenes have little nearer than 3 m


def run(step: str, *args: str | Path) -> None:
    """Run ``python -m <module> args…`` (or a script path), echoing the command; stop the demo on failure."""
    command = [sys.executable, *map(str, args)]
    print(f"\n=== {step}\n$ {shlex.join(['python', *command[1:]])}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise SystemExit(f"demo: step '{step}' failed with exit code {result.returncode}")
    print(f"--- {step}: {time.perf_counter() - start:.1f} s", flush=True)


def latest_weights(models_dir: Path) -> Path:
    """The highest ``weights_<epoch>`` folder of a training run."""
    folders = sorted(models_dir.glob("weights_*"), key=lambda p: int(p.name.split("_")[1]))
    if not folders:
        raise SystemExit(f"demo: training wrote no weights under {models_dir}")
    return folders[-1]


def check_quality(evaluation_json: Path, max_abs_rel: float, steps: int, seed: int) -> float:
    """The AbsRel that ``evaluate_depth`` recorded; stop the demo with one line when it is above ``max_abs_rel``."""
    abs_rel = json.loads(evaluation_json.read_text(encoding="utf-8"))["metrics"]["abs_rel"]
    if not abs_rel <= max_abs_rel:  # NaN fails too
        raise SystemExit(
            f"demo: quality gate: the trained network scores AbsRel {abs_rel:.3f} on the held-out drive, expected "
            f"≤ {max_abs_rel} (an untrained one scores ~0.53): training did not learn depth; try more steps "
            f"(make demo DEMO_ARGS='--steps {2 * steps}') or another seed (DEMO_ARGS='--seed {seed + 1}'), and "
            f"please report it with this line"
        )
    print(f"--- quality gate: AbsRel {abs_rel:.3f} ≤ {max_abs_rel}", flush=True)
    return abs_rel


def write_depth_strip(depth_bag: Path, drive_dir: Path, out_png: Path, rows: int = 4) -> Path:
    """PNG rows of input | predicted depth | true depth for a few frames of the depth bag."""
    from rosbags.highlevel import AnyReader

    from depth_ros.messages import rosbags_typestore

    images, depths = [], []
    with AnyReader([depth_bag], default_typestore=rosbags_typestore()) as reader:
        for connection, _, raw in reader.messages():
            if connection.topic == IMAGE_TOPIC:
                images.append(image_to_rgb(reader.deserialize(raw, connection.msgtype)))
            elif connection.topic == DEPTH_TOPIC:
                depths.append(image_to_depth(reader.deserialize(raw, connection.msgtype)))
    truth_files = sorted((drive_dir / "proj_depth" / "groundtruth" / "image_02").glob("*.png"))
    picks = np.linspace(0, len(depths) - 1, num=min(rows, len(depths))).round().astype(int)
    strip_rows = []
    for i in picks:
        truth_m = cv2.imread(str(truth_files[i]), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256.0
        predicted, truth = (colorize_depth(d, *STRIP_DEPTH_RANGE_M) for d in (depths[i], truth_m))
        strip_rows.append(np.hstack([images[i], predicted, truth]))
    cv2.imwrite(str(out_png), cv2.cvtColor(np.vstack(strip_rows), cv2.COLOR_RGB2BGR))
    return out_png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (recreated)")
    parser.add_argument("--steps", type=int, default=500, help="training steps (batch 4 at 192×64)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (train.py --seed)")
    parser.add_argument("--max_abs_rel", type=float, default=MAX_ABS_REL,
                        help="quality gate: stop when the trained network's AbsRel on the held-out drive is higher")
    parser.add_argument("--frames", type=int, default=40, help="frames per synthetic drive (3 drives)")
    parser.add_argument("--render_size", type=int, nargs=2, default=(1242, 375), metavar=("W", "H"),
                        help="size of the synthetic images (KITTI's by default)")
    parser.add_argument("--scale_strategy", default="camera_height",
                        help="the depth bag's metric scale (process_bag -p scale_strategy:=…)")
    args = parser.parse_args(argv)
    out: Path = args.out
    shutil.rmtree(out, ignore_errors=True)
    data, runs = out / "kitti_data", out / "runs"
    split = data / "splits" / "synthetic"
    test_drive = data / DATE / f"{DATE}_drive_0003_sync"
    start = time.perf_counter()

    run("1/7 synthetic KITTI raw drives", "-m", "training.synthetic_kitti", "--out", data, "--drives", "3",
        "--frames", args.frames, "--width", args.render_size[0], "--height", args.render_size[1],
        "--preview", out / "synthetic_preview.png")
    steps_per_epoch = len((split / "train_files.txt").read_text().splitlines()) // TRAIN_BATCH_SIZE
    epochs = math.ceil(args.steps / steps_per_epoch)
    run("2/7 self-supervised training (brief)", "training/train.py", "--data_path", data, "--split", split, "--png",
        "--height", TRAIN_HEIGHT, "--width", TRAIN_WIDTH, "--batch_size", TRAIN_BATCH_SIZE,
        "--learning_rate", TRAIN_LEARNING_RATE, "--warmup_steps", min(TRAIN_WARMUP_STEPS, args.steps),
        "--num_epochs", epochs, "--max_steps", args.steps, "--save_frequency", epochs,
        "--scheduler_step_size", step_size_for_budget(args.steps, steps_per_epoch), "--weights_init", "scratch",
        "--seed", args.seed, "--num_workers", "1", "--cache_dir", out / "image_cache", "--log_dir", runs,
        "--model_name", "demo", "--log_frequency", "100")
    weights = latest_weights(runs / "demo" / "models")
    run("3/7 ground truth for the test drive", "-m", "training.export_gt_depth", "--data_path", data,
        "--split", split, "--gt_source", "annotated")
    run("4/7 evaluation (Monodepth2 protocol, per-image median scaling)", "-m", "training.evaluate_depth",
        "--load_weights_folder", weights, "--data_path", data, "--eval_split", split, "--eval_mono", "--png")
    abs_rel = check_quality(weights / f"eval_{split.name}.json", args.max_abs_rel, args.steps, args.seed)
    onnx = out / "depth.onnx"
    run("5/7 ONNX export (parity checked against PyTorch)", "-m", "depth_ros.export", "--weights", weights,
        "--onnx", onnx)
    kitti_bag, depth_bag = out / "kitti_drive_0003", out / "depth_drive_0003"
    run("6/7 KITTI drive → rosbag2 (MCAP)", "-m", "depth_ros.kitti_to_bag", "--drive", test_drive, "--out", kitti_bag)
    run(f"7/7 depth bag through the node's callback path (ONNX Runtime, {args.scale_strategy} scale)",
        "-m", "depth_ros.process_bag", kitti_bag, depth_bag, "--image-topic", IMAGE_TOPIC, "--model", onnx,
        "--backend", "onnxruntime", "-p", f"scale_strategy:={args.scale_strategy}")
    strip = write_depth_strip(depth_bag, test_drive, out / "depth_strip.png")
    print(f"\nDemo finished in {time.perf_counter() - start:.0f} s (held-out AbsRel {abs_rel:.3f}). Open:\n"
          f"  {out / 'synthetic_preview.png'}  synthetic images and their true depth\n"
          f"  {strip}  input | predicted depth ({args.scale_strategy} scale) | true depth\n"
          f"  {weights}  the trained weights (Monodepth2 layout); {onnx} the exported model\n"
          f"  {depth_bag}  the depth bag (ros2 bag play it)\n"
          f"  tensorboard --logdir {runs / 'demo'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
