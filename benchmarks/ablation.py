"""Ablation of the paper's four extensions on synthetic KITTI drives: accuracy, seconds per step, learned intrinsics.

Generates synthetic KITTI-raw drives at half the KITTI resolution (621×188, KITTI's focal length and principal
point, which lies 0.9 % of the width left of and 3.9 % of the height above the centre; the last drive is held out)
with the generator's ``TURNING`` motion (tighter curves, a weave within the lane and ±0.02 rad pitch/roll sway,
~0.6° of rotation per frame: intrinsics are identifiable only from rotation, see ``training.synthetic_kitti``),
then trains from scratch, for the same number of steps at reduced resolution, the
baseline, each extension alone (``--mask_rcnn`` from the mask cache, ``--espcn``, ``--learn_intrinsics``,
``--weather_aug``) and all four together, at a constant learning rate. Each saved model is scored on the held-out
drive against its TRUE dense depth (the generator's ``proj_depth`` PNGs) with the Eigen protocol of
``training.evaluate_depth``: 1e-3 < gt < 80 m in the Garg crop, per-image median scaling. Seconds per step: the
median wall time between the ends of consecutive training steps (data waits included, the first two steps left out;
the image cache is filled beforehand).

Mask R-CNN. With the COCO weights in the torch hub cache the masks are real detections. Without them (offline) an
UNTRAINED Mask R-CNN stands in: it detects nothing, so the accuracy of the ``--mask_rcnn`` rows equals the runs
without it and says nothing about the method (they are marked "timing only"). Its cost is measured in the same run:
online (the detector at every step, torchvision's 800/1333 internal resize) and from the cache (empty masks), over
the baseline, plus a timing run from a cache holding ``BOXES_PER_FRAME`` boxes per frame, so that the disparity
adjustment has objects to flatten. Target: cached ≤ 1.3× the baseline (the paper's online code: 5.8×).

Learned intrinsics: the K saved in the checkpoint (the epoch's running mean) against the calibration
(``rectified_intrinsics`` normalised by the native size), in pixels at the training size. Target: fx, fy within 5 %,
cx, cy within 2 % of the image size. The head starts from a generic prior (square pixels, fx = 0.6·W); at 256×64 the
pixels of these 621×188 images are not square (fy/fx = 0.83), so the prior's fy is 25 % off. The learn_intrinsics
run is then resumed (weights and Adam state) for ``--intrinsics_extra_steps`` more steps, a longer budget for K,
with the rate dropped ×0.1 after 75 % of them: cy and fy take several hundred steps to settle. The runs without
the head warp with Monodepth2's fixed K (principal point at the centre), as on real KITTI. The head predicts the
camera's K as seen unflipped and the warp mirrors its cx for flipped samples; cy is the sharper test of the principal
point here (a head stuck at the centre is 3.9 % of the height off, but within 2 % of the width in cx).
How weakly these drives constrain each entry of K: ``projects/learned_intrinsics/intrinsics_identifiability.py``.

    python benchmarks/ablation.py [--steps 150] [--intrinsics_extra_steps 850]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

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
from depth_ros.checkpoint import load_depth_network, read_metadata
from depth_ros.geometry import scale_intrinsics
from depth_ros.kitti import rectified_intrinsics
from depth_ros.networks.resnet_encoder import PretrainedWeightsError
from training.datasets import read_split_file
from training.intrinsics import K_ENTRIES, generic_focal_prior
from training.mask_adjustment import build_detector
from training.mask_cache import load_cached_masks, mask_cache_path, save_masks
from training.options import MODEL_NAMES
from training.precompute_masks import precompute_masks, read_target_frames
from training.synthetic_kitti import KITTI_PRINCIPAL_POINT, TURNING
from training.trainer import Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "ablation.json"
DATE = "2011_09_26"
SKIPPED_STEPS = 2  # warm-up and the first log event
BOXES_PER_FRAME = 4
TARGET_CACHED_RATIO = 1.3
TARGET_FOCAL_ERROR = 0.05
TARGET_CENTRE_ERROR = 0.02
RUNS = {  # name → option overrides (the mask runs get their mask_cache at run time)
    "baseline": {},
    "mask_rcnn": {"mask_rcnn": True},
    "espcn": {"espcn": True},
    "learn_intrinsics": {"learn_intrinsics": True},
    "weather_aug": {"weather_aug": True},
    "all_four": {"mask_rcnn": True, "espcn": True, "learn_intrinsics": True, "weather_aug": True},
}


def coco_or_untrained_detector() -> tuple[nn.Module, bool]:
    """The COCO Mask R-CNN from the torch hub cache (True), else the same network untrained (False)."""
    try:
        return build_detector(allow_download=False), True
    except PretrainedWeightsError:
        return build_detector(pretrained=False), False


def fill_box_cache(cache: Path, frames: list[tuple[str, int, str]], size: tuple[int, int]) -> None:
    """BOXES_PER_FRAME disjoint boxes standing on the lower half of every frame, as cached masks (timing only)."""
    height, width = size
    masks = torch.zeros(BOXES_PER_FRAME, height, width, dtype=torch.bool)
    box_width = width // (2 * BOXES_PER_FRAME)
    for k in range(BOXES_PER_FRAME):
        masks[k, height // 3 : 3 * height // 4, (2 * k + 1) * box_width : (2 * k + 2) * box_width] = True
    for frame in frames:
        save_masks(mask_cache_path(cache, *frame, size), masks)


class Bench:
    """Shared data, settings and the train/score/time helpers of one benchmark run."""

    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root, self.args = root, args
        self.split = generate_drives(root, args, TURNING, KITTI_PRINCIPAL_POINT)
        self.size = (args.height, args.width)
        self.test_drive = HeldOutDrive.load(root)

    def fill_image_cache(self) -> None:
        """Decode and resize every training and validation image once, so that no run pays for it."""
        trainer = Trainer(training_options(self.root, self.args, "cache_fill", 1))
        for lines in ("train_files.txt", "val_files.txt"):
            dataset = trainer.make_dataset(read_split_file(self.split / lines), is_train=False)
            for index in range(len(dataset)):
                dataset[index]

    def train(
        self,
        name: str,
        steps: int,
        make_detector: Callable[[], nn.Module] | None = None,
        **overrides,
    ) -> dict:
        """Train one configuration; returns its seconds per step, weights folder and wall time."""
        trainer = Trainer(training_options(self.root, self.args, name, steps, **overrides), make_detector=make_detector)
        step_ends: list[float] = []
        train_step = trainer.train_step

        def timed_step(batch: dict) -> tuple:
            result = train_step(batch)
            step_ends.append(time.perf_counter())
            return result

        trainer.train_step = timed_step
        start = time.perf_counter()
        trainer.train()
        intervals = np.diff(step_ends)[SKIPPED_STEPS - 1 :].tolist()
        return {
            "steps": steps,
            "s_per_step": round(statistics.median(intervals), 3),
            "wall_s": round(time.perf_counter() - start, 1),
            "folder": Path(trainer.opt.log_dir) / name / "models" / f"weights_{trainer.epoch}",
        }

    def score(self, folder: Path) -> dict[str, float]:
        """Eigen-protocol metrics of a saved model on the held-out drive against the true dense depth."""
        network, metadata = load_depth_network(folder)
        return self.test_drive.score(network, self.size, (metadata.min_depth, metadata.max_depth))


def intrinsics_entries(K: np.ndarray) -> dict[str, float]:
    """fx, fy, cx, cy of a 3×3 or 4×4 K, in its own units (rounded to 0.01)."""
    return {name: round(float(K[r, c]), 2) for name, (r, c) in K_ENTRIES.items()}


def intrinsics_px(K_norm: np.ndarray, size: tuple[int, int]) -> dict[str, float]:
    """fx, fy, cx, cy in pixels at ``size`` = (H, W) of a normalised 3×3 or 4×4 K."""
    return intrinsics_entries(scale_intrinsics(np.asarray(K_norm, np.float64), size[1], size[0]))


def calibration_px(root: Path, size: tuple[int, int]) -> dict[str, float]:
    """The synthetic drives' true K (rectified camera 2, normalised by the native size) in pixels at ``size``."""
    native_K = rectified_intrinsics(root / DATE, 2)
    return intrinsics_px(scale_intrinsics(native_K, 1.0 / NATIVE_SIZE[0], 1.0 / NATIVE_SIZE[1]), size)


def intrinsics_errors(learned: dict[str, float], true: dict[str, float], size: tuple[int, int],
                      signed: bool = False) -> dict[str, float]:
    """Relative focal errors and principal-point errors as fractions of the image size (absolute unless ``signed``)."""
    height, width = size
    errors = {
        "fx": learned["fx"] / true["fx"] - 1,
        "fy": learned["fy"] / true["fy"] - 1,
        "cx": (learned["cx"] - true["cx"]) / width,
        "cy": (learned["cy"] - true["cy"]) / height,
    }
    return {name: round(error if signed else abs(error), 4) for name, error in errors.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps of every ablation run")
    parser.add_argument("--intrinsics_extra_steps", type=int, default=850,
                        help="steps the learn_intrinsics run is resumed for (0: none)")
    parser.add_argument("--online_steps", type=int, default=4, help="steps of the online Mask R-CNN timing run")
    parser.add_argument("--timing_steps", type=int, default=12, help="steps of the box-cache timing run")
    add_training_arguments(parser, width=256, learning_rate=1e-4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if min(args.steps, args.online_steps, args.timing_steps) <= SKIPPED_STEPS or (
        0 < args.intrinsics_extra_steps <= SKIPPED_STEPS
    ):
        parser.error(f"every timed run needs more than {SKIPPED_STEPS} steps (the first {SKIPPED_STEPS} are not timed)")
    started, load_before = time.perf_counter(), os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="ablation_") as tmp:
        root = args.work_dir or Path(tmp)
        bench = Bench(root, args)
        bench.fill_image_cache()
        detector, coco = coco_or_untrained_detector()
        frames = read_target_frames(str(bench.split), root)
        masks_start = time.perf_counter()
        # Untrained, the masks mean nothing at any size: cache them at the training size, where it is cheap.
        cache_detector = detector if coco else build_detector(pretrained=False, min_size=args.height,
                                                              max_size=args.width)  # fmt: skip
        precompute_masks(root, frames, root / "masks", bench.size, make_detector=lambda: cache_detector,
                         extension=".png", num_workers=0)  # fmt: skip
        precompute_s = time.perf_counter() - masks_start
        cached_objects = sum(load_cached_masks(root / "masks", *frame, bench.size).shape[0] for frame in frames)
        fill_box_cache(root / "boxes", frames, bench.size)

        runs = {}
        for name, overrides in RUNS.items():
            if overrides.get("mask_rcnn"):
                overrides = {**overrides, "mask_cache": str(root / "masks")}
            runs[name] = bench.train(name, args.steps, **overrides)
            runs[name]["metrics"] = bench.score(runs[name]["folder"])
        timing = {
            "mask_rcnn_online": bench.train("mask_online", args.online_steps, make_detector=lambda: detector,
                                            mask_rcnn=True),
            "mask_rcnn_cached_boxes": bench.train("mask_boxes", args.timing_steps, mask_rcnn=True,
                                                  mask_cache=str(root / "boxes")),
        }  # fmt: skip
        intrinsics_runs = {f"learned ({args.steps} steps)": runs["learn_intrinsics"],
                           f"learned, all four ({args.steps} steps)": runs["all_four"]}  # fmt: skip
        if args.intrinsics_extra_steps:
            extended = bench.train("learn_intrinsics_resumed", args.intrinsics_extra_steps, learn_intrinsics=True,
                                   load_weights_folder=str(runs["learn_intrinsics"]["folder"]),
                                   models_to_load=[*MODEL_NAMES, "intrinsics"],
                                   scheduler_step_size=rate_drop_epochs(bench.split, args.batch_size,
                                                                        args.intrinsics_extra_steps))  # fmt: skip
            intrinsics_runs[f"learned ({args.steps} + {args.intrinsics_extra_steps} steps)"] = extended
            timing["learn_intrinsics_resumed"] = extended

        focal_prior = generic_focal_prior(args.width, args.height)
        prior_K = np.array([[focal_prior[0], 0, 0.5], [0, focal_prior[1], 0.5], [0, 0, 1]])
        learned = {"true": calibration_px(root, bench.size), "prior": intrinsics_px(prior_K, bench.size)}
        for name, run in intrinsics_runs.items():
            learned[name] = intrinsics_px(read_metadata(run["folder"]).intrinsics_norm, bench.size)
        n_train = len(read_split_file(bench.split / "train_files.txt"))

    baseline_s = runs["baseline"]["s_per_step"]
    ratios = {name: round(run["s_per_step"] / baseline_s, 2) for name, run in {**runs, **timing}.items()}
    errors = {name: intrinsics_errors(K, learned["true"], bench.size) for name, K in learned.items() if name != "true"}
    mask_note = "" if coco else " (untrained detector: timing only)"
    n_test = len(bench.test_drive.image_paths)
    print(f"{args.steps} steps × batch {args.batch_size} at {args.width}×{args.height} from scratch, {n_train} "
          f"training items, {n_test} held-out test frames; Mask R-CNN: {'COCO' if coco else 'UNTRAINED'}")
    print("| run | abs_rel | rmse (m) | δ1 | s/step | × baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in runs.items():
        m = run["metrics"]
        note = mask_note if RUNS[name].get("mask_rcnn") else ""
        print(f"| {name}{note} | {m['abs_rel']:.3f} | {m['rmse']:.3f} | {m['a1']:.3f} | {run['s_per_step']:.2f} | "
              f"{ratios[name]:.2f} |")
    print(f"| mask_rcnn online{mask_note} | – | – | – | {timing['mask_rcnn_online']['s_per_step']:.2f} | "
          f"{ratios['mask_rcnn_online']:.2f} |")
    print(f"| mask_rcnn cached, {BOXES_PER_FRAME} boxes/frame (timing only) | – | – | – | "
          f"{timing['mask_rcnn_cached_boxes']['s_per_step']:.2f} | {ratios['mask_rcnn_cached_boxes']:.2f} |")
    print(f"\nlearned intrinsics, pixels at {args.width}×{args.height} (error: |Δf|/f, |Δc|/size)")
    print("| K | fx | fy | cx | cy | err fx | err fy | err cx | err cy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, K in learned.items():
        err = errors.get(name, dict.fromkeys(K_ENTRIES, 0.0))
        print(f"| {name} | " + " | ".join(f"{K[k]:.1f}" for k in K_ENTRIES) + " | "
              + " | ".join(f"{100 * err[k]:.1f} %" for k in K_ENTRIES) + " |")
    cached_ratio = ratios["mask_rcnn_cached_boxes"]
    print(f"\ncached Mask R-CNN {cached_ratio:.2f}× baseline with {BOXES_PER_FRAME} boxes/frame, "
          f"{ratios['mask_rcnn']:.2f}× with the {cached_objects} objects cached for {len(frames)} frames (target ≤ "
          f"{TARGET_CACHED_RATIO}); online {ratios['mask_rcnn_online']:.1f}×; precomputing the masks took "
          f"{precompute_s:.0f} s")

    def within(name: str) -> bool:
        e = errors[name]
        return max(e["fx"], e["fy"]) <= TARGET_FOCAL_ERROR and max(e["cx"], e["cy"]) <= TARGET_CENTRE_ERROR

    report = {
        "benchmark": "ablation",
        "protocol": "eigen mask (1e-3 < gt < 80 m, Garg crop), per-image median scaling, true dense depth; "
                    "s/step = median interval between training-step ends (data waits included)",
        "data": {"drives": args.drives, "frames_per_drive": args.frames, "native_size": list(NATIVE_SIZE),
                 "motion": "turning",
                 "train_items": n_train, "test_frames": n_test, "seed": args.seed},
        "training": {"steps": args.steps, "batch_size": args.batch_size, "height": args.height, "width": args.width,
                     "learning_rate": args.learning_rate, "optimizer": "adam", "weights_init": "scratch",
                     "num_workers": args.num_workers, "torch_threads": torch.get_num_threads()},
        "mask_rcnn_detector": "coco" if coco else "untrained: the mask rows are timing only",
        "runs": {name: {k: v for k, v in run.items() if k != "folder"} for name, run in runs.items()},
        "timing": {name: {k: v for k, v in run.items() if k != "folder"} for name, run in timing.items()},
        "s_per_step_over_baseline": ratios,
        "mask_precompute_s": round(precompute_s, 1),
        "objects_in_mask_cache": cached_objects,
        "intrinsics_px": learned,
        "intrinsics_errors": errors,
        "targets": {
            "cached_mask_rcnn_ratio": {"target": TARGET_CACHED_RATIO, "measured": cached_ratio,
                                       "met": cached_ratio <= TARGET_CACHED_RATIO},
            "intrinsics": {name: within(name) for name in errors if name.startswith("learned")},
        },
        "total_wall_s": round(time.perf_counter() - started, 1),
        "load_average_1_5_15_min": {"start": [round(x, 2) for x in load_before],
                                    "end": [round(x, 2) for x in os.getloadavg()]},
    }  # fmt: skip
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
