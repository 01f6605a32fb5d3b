"""Does training learn depth? Monodepth2 (mono, from scratch) on synthetic KITTI drives, scored on a held-out drive.

Generates synthetic KITTI-raw drives at half the KITTI resolution (621×188; the last drive is held out for
testing), trains the monocular model from scratch at reduced resolution for a fixed number of steps, and
scores the untrained and the trained network on the held-out drive against its TRUE dense depth (the
generator's ``proj_depth`` PNGs) with the KITTI Eigen protocol: scaled disparity resized to the ground truth,
per-image median scaling, 1e-3 < gt < 80 m inside the Garg crop, predictions clamped to [1e-3, 80] m. The
trained network is read back from its saved weights folder, as inference would load it. Prints a table and
writes ``benchmarks/results/learning_check.json``. Target: trained AbsRel < 0.20 and ≤ half the untrained.

    python benchmarks/learning_check.py [--steps 1600] [--batch_size 4] [--learning_rate 6e-4]

The defaults fit about 15 minutes on 2 idle CPU cores: at 192×64 a step costs ~0.55 s there, and many small steps
at 6× Monodepth2's learning rate learn more per minute than fewer at 320×96 (0.29 AbsRel after 700 steps at 320×96
and 2e-4 in the same time). The exit status is 0 whether or not the target is met
(the JSON's ``target_met`` says); a failed run raises.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_report
from benchmarks._synthetic_training import (
    NATIVE_SIZE,
    HeldOutDrive,
    add_training_arguments,
    generate_drives,
    rate_drop_epochs,
    training_options,
)
from depth_ros.checkpoint import load_depth_network
from depth_ros.networks import DepthNetwork
from training.trainer import Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "learning_check.json"
TARGET_ABS_REL = 0.20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1600, help="training steps (the fixed budget)")
    add_training_arguments(parser, width=192, learning_rate=6e-4,
                           learning_rate_help="6× Monodepth2's, for the short budget")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="learning_check_") as tmp:
        root = args.work_dir or Path(tmp)
        split = generate_drives(root, args)
        step_size_epochs = rate_drop_epochs(split, args.batch_size, args.steps)
        opt = training_options(root, args, "learning_check", args.steps, scheduler_step_size=step_size_epochs)
        test_drive = HeldOutDrive.load(root)
        size, depth_range = (args.height, args.width), (opt.min_depth, opt.max_depth)
        trainer = Trainer(opt)
        untrained = test_drive.score(DepthNetwork(trainer.model.encoder, trainer.model.depth), size, depth_range)
        start = time.time()
        trainer.train()
        train_s = time.time() - start
        network, _ = load_depth_network(Path(opt.log_dir) / opt.model_name / "models" / f"weights_{trainer.epoch}")
        trained = test_drive.score(network, size, depth_range)
        n_train = len(trainer.train_loader.dataset)

    passed = trained["abs_rel"] < TARGET_ABS_REL and trained["abs_rel"] <= 0.5 * untrained["abs_rel"]
    print(f"{args.steps} steps × batch {args.batch_size} at {args.width}×{args.height} from scratch "
          f"({n_train} training items, {train_s / 60:.1f} min); {len(test_drive.image_paths)} held-out test frames")
    print("| network | abs_rel | sq_rel | rmse | rmse_log | a1 (δ<1.25) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in (("untrained", untrained), ("trained", trained)):
        print(f"| {name} | {m['abs_rel']:.3f} | {m['sq_rel']:.3f} | {m['rmse']:.3f} | {m['rmse_log']:.3f} | "
              f"{m['a1']:.3f} |")
    print(f"target (AbsRel < {TARGET_ABS_REL} and ≤ half the untrained): {'met' if passed else 'NOT met'}")
    report = {
        "benchmark": "learning_check",
        "protocol": "eigen mask (1e-3 < gt < 80 m, Garg crop), per-image median scaling, true dense depth",
        "data": {"drives": args.drives, "frames_per_drive": args.frames, "native_size": list(NATIVE_SIZE),
                 "train_items": n_train, "test_frames": len(test_drive.image_paths), "seed": args.seed},
        "training": {"steps": args.steps, "batch_size": args.batch_size, "height": args.height,
                     "width": args.width, "learning_rate": args.learning_rate, "weights_init": "scratch",
                     "lr_drop_after_epochs": step_size_epochs,
                     "wall_time_s": round(train_s, 1), "torch_threads": torch.get_num_threads()},
        "untrained": untrained,
        "trained": trained,
        "target_met": bool(passed),
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
