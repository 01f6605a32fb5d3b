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
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depth_ros.atomic_io import atomic_write_text
from depth_ros.checkpoint import load_depth_network
from depth_ros.networks import DepthNetwork
from training.datasets import read_split_file
from training.evaluate_depth import predict_disparities, raw_image_path
from training.export_gt_depth import SPLIT_FILE, FrameRef, frame_gt_depth
from training.export_gt_depth import read_split_file as read_test_refs
from training.metrics import evaluate_predictions
from training.options import Options
from training.synthetic_kitti import generate
from training.trainer import Trainer, step_size_for_budget

RESULTS = Path(__file__).resolve().parent / "results" / "learning_check.json"
NATIVE_SIZE = (621, 188)  # half of KITTI's 1242×375: the same normalised intrinsics, 4× cheaper to render
TARGET_ABS_REL = 0.20


@torch.no_grad()
def evaluate(network: DepthNetwork, root: Path, test_refs: list[FrameRef], height: int, width: int,
             min_depth: float, max_depth: float) -> dict[str, float]:
    """Eigen-protocol metrics (median scaling) of ``network`` on ``test_refs`` against the true dense depth."""
    network.eval()
    paths = [raw_image_path(root, ref, ".png") for ref in test_refs]
    pred_disps = predict_disparities(network, paths, (height, width), (min_depth, max_depth), batch_size=8)
    gt_depths = [frame_gt_depth(root, ref, "annotated") for ref in test_refs]
    result = evaluate_predictions(pred_disps, gt_depths, split="eigen", mono=True)
    return {name: round(value, 4) for name, value in result.metrics.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1600, help="training steps (the fixed budget)")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--learning_rate", type=float, default=6e-4, help="6× Monodepth2's, for the short budget")
    parser.add_argument("--drives", type=int, default=4, help="synthetic drives; the last one is the test drive")
    parser.add_argument("--frames", type=int, default=60, help="frames per drive")
    parser.add_argument("--num_workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work_dir", type=Path, help="keep the data, logs and weights here (default: a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="learning_check_") as tmp:
        root = args.work_dir or Path(tmp)
        generate(root, drives=args.drives, frames=args.frames, seed=args.seed, width=NATIVE_SIZE[0],
                 height=NATIVE_SIZE[1])
        split = root / "splits" / "synthetic"
        steps_per_epoch = len(read_split_file(split / "train_files.txt")) // args.batch_size
        step_size_epochs = step_size_for_budget(args.steps, steps_per_epoch)  # ×0.1 after 75 % of the steps
        opt = Options(
            data_path=str(root), split=str(split), png=True, height=args.height, width=args.width,
            batch_size=args.batch_size, learning_rate=args.learning_rate, weights_init="scratch",
            num_workers=args.num_workers, log_dir=str(root / "logs"), model_name="learning_check",
            cache_dir=str(root / "cache"), num_epochs=10_000, max_steps=args.steps, save_frequency=10_000,
            scheduler_step_size=step_size_epochs, seed=args.seed,
        )
        test_refs = read_test_refs(split / SPLIT_FILE)
        score = lambda net: evaluate(net, root, test_refs, args.height, args.width,  # noqa: E731
                                     opt.min_depth, opt.max_depth)
        trainer = Trainer(opt)
        untrained = score(DepthNetwork(trainer.model.encoder, trainer.model.depth))
        start = time.time()
        trainer.train()
        train_s = time.time() - start
        network, _ = load_depth_network(Path(opt.log_dir) / opt.model_name / "models" / f"weights_{trainer.epoch}")
        trained = score(network)
        n_train = len(trainer.train_loader.dataset)

    passed = trained["abs_rel"] < TARGET_ABS_REL and trained["abs_rel"] <= 0.5 * untrained["abs_rel"]
    print(f"{args.steps} steps × batch {args.batch_size} at {args.width}×{args.height} from scratch "
          f"({n_train} training items, {train_s / 60:.1f} min); {len(test_refs)} held-out test frames")
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
                 "train_items": n_train, "test_frames": len(test_refs), "seed": args.seed},
        "training": {"steps": args.steps, "batch_size": args.batch_size, "height": args.height,
                     "width": args.width, "learning_rate": args.learning_rate, "weights_init": "scratch",
                     "lr_drop_after_epochs": step_size_epochs,
                     "wall_time_s": round(train_s, 1), "torch_threads": torch.get_num_threads()},
        "untrained": untrained,
        "trained": trained,
        "target_met": bool(passed),
    }
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
