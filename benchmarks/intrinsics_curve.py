"""Learning curve of the learned camera intrinsics: the head's K against the calibration as training goes on.

Trains ``--learn_intrinsics`` alone from scratch (the settings of ``benchmarks/ablation.py``'s learn_intrinsics run:
256×64, batch 4, lr 1e-4, constant rate) on synthetic drives (``--motion``, a profile of ``training.synthetic_kitti``:
``turning`` by default; ``rough`` adds the pitch and roll fy and cy need) rendered at 621×188 with the chosen
principal point (``kitti``: KITTI's, 3.9 % of the height above the centre; ``centre``; ``below``: KITTI's vertical
offset mirrored below the centre), and prints fx, fy, cx, cy in pixels at the training size every ``--log_every``
steps as it goes (the mean of the head's batch K over those steps) with their errors (|Δf|/f, Δc/size).
``--one_k``, a diagnostic, feeds the head a constant instead of the pose bottleneck: one K for every sample, moved
only by the loss's mean gradient, not by per-sample fitting.

    python benchmarks/intrinsics_curve.py [--principal_point kitti] [--motion turning] [--steps 1000] \
        [--frame_ids 0 -1 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_report
from benchmarks._synthetic_training import NATIVE_SIZE, add_training_arguments, generate_drives, training_options
from benchmarks.ablation import calibration_px, intrinsics_errors, intrinsics_px
from training.synthetic_kitti import IMAGE_CENTRE, KITTI_PRINCIPAL_POINT, MOTIONS
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


def constant_input(head: torch.nn.Module, args: tuple[torch.Tensor]) -> tuple[torch.Tensor]:
    """Forward pre-hook: the B×C×1×1 bottleneck replaced by C^-½ everywhere: one K for every sample (the scale
    keeps each Adam step of the output near √C·lr, not C·lr)."""
    return (torch.full_like(args[0], args[0].shape[1] ** -0.5),)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--principal_point", choices=list(PRINCIPAL_POINTS), default="kitti")
    parser.add_argument("--motion", choices=list(MOTIONS), default="turning", help="drive profile")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--log_every", type=int, default=50, help="steps per row of the curve")
    parser.add_argument("--frame_ids", type=int, nargs="+", default=[0, -1, 1])
    add_training_arguments(parser, width=256, learning_rate=1e-4)
    parser.add_argument("--one_k", action="store_true",
                        help="diagnostic: the head sees a constant, not the bottleneck, so K is one set of parameters")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.steps < args.log_every or args.log_every < 1:
        parser.error("--steps must be at least --log_every, which must be positive")
    started = time.perf_counter()
    size = (args.height, args.width)
    batch_K: list[np.ndarray] = []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="intrinsics_curve_") as tmp:
        root = args.work_dir or Path(tmp)
        split = generate_drives(root, args, MOTIONS[args.motion], PRINCIPAL_POINTS[args.principal_point])
        keep_lines_with_neighbours(split, args.frame_ids, args.frames)
        true = calibration_px(root, size)
        print(f"learned K, px at {args.width}×{args.height}, mean of the batch K over each {args.log_every} steps; "
              f"{args.motion} drives, principal point {args.principal_point}; true "
              + " / ".join(f"{true[k]:.1f}" for k in K_ENTRIES))  # fmt: skip
        print("| step | fx | fy | cx | cy | err fx | err fy | err cx | err cy |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
        trainer = Trainer(training_options(root, args, "intrinsics_curve", args.steps, learn_intrinsics=True,
                                           frame_ids=args.frame_ids))  # fmt: skip
        if args.one_k:
            trainer.model.intrinsics.register_forward_pre_hook(constant_input)
        train_step = trainer.train_step

        def recorded_step(batch: dict) -> tuple:
            result = train_step(batch)
            batch_K.append(result[1][LEARNED_K].detach().float().mean(0).cpu().numpy())
            if len(batch_K) % args.log_every == 0:  # one row of the curve, printed as it comes
                learned = intrinsics_px(np.mean(batch_K[-args.log_every :], axis=0), size)
                errors = intrinsics_errors(learned, true, size, signed=True)
                rows.append({"step": len(batch_K), "K_px": learned, "errors": errors})
                tqdm.write(f"| {len(batch_K)} | " + " | ".join(f"{learned[k]:.1f}" for k in K_ENTRIES) + " | "
                           + " | ".join(f"{100 * errors[k]:+.1f} %" for k in K_ENTRIES) + " |")  # above the bar
            return result

        trainer.train_step = recorded_step
        trainer.train()

    report = {
        "benchmark": "intrinsics_curve",
        "head_input": "constant (--one_k)" if args.one_k else "pose bottleneck",
        "data": {"motion": args.motion, "principal_point": args.principal_point, "drives": args.drives,
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
