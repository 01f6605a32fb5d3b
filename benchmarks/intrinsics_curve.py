"""Learning curve of the learned camera intrinsics: the head's K against the calibration as training goes on.

Trains ``--learn_intrinsics`` alone from scratch (the settings of ``benchmarks/ablation.py``'s learn_intrinsics run:
256×64, batch 4, lr 1e-4, constant rate) on synthetic ``TURNING`` drives rendered at 621×188 with the chosen
principal point (``kitti``: KITTI's, 3.9 % of the height above the centre; ``centre``; ``below``: KITTI's vertical
offset mirrored below the centre), and reports fx, fy, cx, cy in pixels at the training size every ``--log_every``
steps (the mean of the head's batch K over those steps) with their errors (|Δf|/f, Δc/size). The README's
learned-intrinsics table was measured with a draft of this script (same data, options and logging).

    python benchmarks/intrinsics_curve.py [--principal_point kitti] [--steps 1000] [--frame_ids 0 -1 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_report
from benchmarks._synthetic_training import NATIVE_SIZE, add_training_arguments, generate_drives, training_options
from benchmarks.ablation import DATE, intrinsics_errors, intrinsics_px
from depth_ros.geometry import scale_intrinsics
from depth_ros.kitti import rectified_intrinsics
from training.synthetic_kitti import IMAGE_CENTRE, KITTI_PRINCIPAL_POINT, TURNING
from training.trainer import K_ENTRIES, LEARNED_K, Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "intrinsics_curve.json"
PRINCIPAL_POINTS = {
    "kitti": KITTI_PRINCIPAL_POINT,
    "centre": IMAGE_CENTRE,
    "below": (KITTI_PRINCIPAL_POINT[0], 1.0 - KITTI_PRINCIPAL_POINT[1]),
}


def keep_lines_with_neighbours(split: Path, frame_ids: list[int], frames: int) -> None:
    """Drop split lines whose frame lacks one of the ``frame_ids`` neighbours (the generator's have ±1 only)."""
    reach = max(abs(f) for f in frame_ids)
    for name in ("train_files.txt", "val_files.txt"):
        path = split / name
        lines = [line for line in path.read_text().splitlines() if reach <= int(line.split()[1]) < frames - reach]
        path.write_text("".join(f"{line}\n" for line in lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--principal_point", choices=list(PRINCIPAL_POINTS), default="kitti")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--log_every", type=int, default=50, help="steps per row of the curve")
    parser.add_argument("--frame_ids", type=int, nargs="+", default=[0, -1, 1])
    add_training_arguments(parser, width=256, learning_rate=1e-4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.steps < args.log_every or args.log_every < 1:
        parser.error("--steps must be at least --log_every, which must be positive")
    started = time.perf_counter()
    size = (args.height, args.width)
    batch_K: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="intrinsics_curve_") as tmp:
        root = args.work_dir or Path(tmp)
        split = generate_drives(root, args, TURNING, PRINCIPAL_POINTS[args.principal_point])
        keep_lines_with_neighbours(split, args.frame_ids, args.frames)
        native_K = rectified_intrinsics(root / DATE, 2)[:3, :3]
        true = intrinsics_px(scale_intrinsics(native_K, 1.0 / NATIVE_SIZE[0], 1.0 / NATIVE_SIZE[1]), size)
        trainer = Trainer(training_options(root, args, "intrinsics_curve", args.steps, learn_intrinsics=True,
                                           frame_ids=args.frame_ids))  # fmt: skip
        train_step = trainer.train_step

        def recorded_step(batch: dict) -> tuple:
            result = train_step(batch)
            batch_K.append(result[1][LEARNED_K].detach().float().mean(0).cpu().numpy())
            return result

        trainer.train_step = recorded_step
        trainer.train()

    rows = []
    for end in range(args.log_every, len(batch_K) + 1, args.log_every):
        learned = intrinsics_px(np.mean(batch_K[end - args.log_every : end], axis=0), size)
        rows.append({"step": end, "K_px": learned, "errors": intrinsics_errors(learned, true, size, signed=True)})
    print(f"learned K, px at {args.width}×{args.height}, mean of the batch K over each {args.log_every} steps; "
          f"principal point {args.principal_point}; true " + " / ".join(f"{true[k]:.1f}" for k in K_ENTRIES))
    print("| step | fx | fy | cx | cy | err fx | err fy | err cx | err cy |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['step']} | " + " | ".join(f"{row['K_px'][k]:.1f}" for k in K_ENTRIES) + " | "
              + " | ".join(f"{100 * row['errors'][k]:+.1f} %" for k in K_ENTRIES) + " |")  # fmt: skip
    report = {
        "benchmark": "intrinsics_curve",
        "data": {"motion": "turning", "principal_point": args.principal_point, "drives": args.drives,
                 "frames_per_drive": args.frames, "native_size": list(NATIVE_SIZE), "seed": args.seed},
        "training": {"steps": args.steps, "batch_size": args.batch_size, "height": args.height, "width": args.width,
                     "learning_rate": args.learning_rate, "frame_ids": args.frame_ids,
                     "torch_threads": torch.get_num_threads()},
        "true_K_px": true,
        "curve": rows,
        "total_wall_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
