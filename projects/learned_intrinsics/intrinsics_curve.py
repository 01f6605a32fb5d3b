"""Learning curve of the learned camera intrinsics: the head's K against the calibration as training goes on.

Trains ``--learn_intrinsics`` alone from scratch (the settings of ``benchmarks/ablation.py``'s learn_intrinsics run:
256×64, batch 4, lr 1e-4, constant rate) on synthetic drives (``--motion``, a profile of ``training.synthetic_kitti``:
``turning`` by default; ``rough`` adds the pitch and roll fy and cy need; ``rocking`` rolls the camera ~5° a
frame; ``wobbling`` also pans it, which pins the focal lengths' scale; results in
``projects/learned_intrinsics/log.md``) rendered at 621×188 with the chosen
principal point (``kitti``: KITTI's, 3.9 % of the height above the centre; ``centre``; ``below``: KITTI's vertical
offset mirrored below the centre), and prints fx, fy, cx, cy in pixels at the training size every ``--log_every``
steps as it goes (the mean of the head's batch K over those steps) with their errors (|Δf|/f, Δc/size).
``--one_k``, a diagnostic, feeds the head a constant instead of the pose bottleneck: one K for every sample, moved
only by the loss's mean gradient, not by per-sample fitting. ``--fixed_k``, the control, trains with no head and
Monodepth2's fixed KITTI K (the dataset's: principal point at the centre): no curve, only the diagnosis.
``--resume WEIGHTS --resume_step N`` continues an earlier run of this script (same ``--work_dir`` and data options)
from the weights folder it saved after N steps: every network, the head and Adam's state; the curve counts on from N.
``--intrinsics_warmup_steps N`` (training's option) freezes the head for the first N steps of the run (a fresh head:
at its generic prior), so the pose network learns the motion before K moves. ``--rate_drop`` drops the rate ×0.1
after 75 % of this run's steps, as training's StepLR does after 15 of 20 epochs (stepped per epoch, so the drop
lands on an epoch boundary); each row of the curve records the rate its last step used.

After training it diagnoses the per-sample K the warp used on every training frame (no augmentation, eval mode):
each entry's mean and spread, and its correlation with what a per-sample K can absorb: the pose network's rotation error
(camera axes: pitch, yaw, roll) and the true vertical tilt of the camera's travel, ty/tz. Under translation a
principal-point shift and a tilt of the translation give the same warp, so it also prints the pose network's mean
tilt and the focus of expansion's row, cy + fy·ty/tz, predicted against true.

    python projects/learned_intrinsics/intrinsics_curve.py [--principal_point kitti] [--motion turning] [--steps 1000] \
        [--frame_ids 0 -1 1] [--seed 0] [--work_dir DIR] [--resume DIR/logs/intrinsics_curve/models/weights_E \
        --resume_step N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._report import write_report
from benchmarks._synthetic_training import (
    NATIVE_SIZE,
    add_training_arguments,
    generate_drives,
    rate_drop_epochs,
    training_options,
)
from benchmarks.ablation import calibration_px, intrinsics_entries, intrinsics_errors, intrinsics_px
from depth_ros.kitti import camera_poses
from projects.learned_intrinsics.study_motions import MOTIONS
from training.datasets.mono_dataset import collate_samples
from training.datasets.splits import SplitLine
from training.intrinsics import K_ENTRIES, LEARNED_K
from training.options import MODEL_NAMES
from training.synthetic_kitti import IMAGE_CENTRE, KITTI_PRINCIPAL_POINT
from training.trainer import Trainer, batch_to_device

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


def rotation_error_deg(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Rotation vector (degrees; camera axes x, y, z: pitch, yaw, roll) of ``predicted``·``true``⁻¹, two 4×4
    ``T_source_from_target``: the rotation the prediction adds to the true one."""
    return np.degrees(Rotation.from_matrix(predicted[:3, :3] @ true[:3, :3].T).as_rotvec())


def travel_tilt(source_from_target: np.ndarray) -> float:
    """Vertical tilt ty/tz of the camera's travel from the target to the source frame, in the target's optical frame
    (y down): the focus of expansion sits at row cy + fy·tilt."""
    source_centre = -source_from_target[:3, :3].T @ source_from_target[:3, 3]
    return float(source_centre[1] / source_centre[2])


def rotation_gain(true_deg: np.ndarray, predicted_deg: np.ndarray) -> list[float]:
    """Per axis (N×3 rotation vectors), the least-squares slope of predicted on true rotation: the share of the
    true rotation the pose network predicts (1: all of it, 0: none)."""
    return [round(float(np.polyfit(true_deg[:, axis], predicted_deg[:, axis], 1)[0]), 3) for axis in range(3)]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r, 0 where either is constant."""
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0


def warp_intrinsics_px(outputs: dict, batch: dict, sample: int, size: tuple[int, int]) -> dict[str, float]:
    """fx, fy, cx, cy (pixels at ``size`` = (H, W)) the warp used for ``sample``: the head's, else the dataset's."""
    if LEARNED_K in outputs:
        return intrinsics_px(outputs[LEARNED_K][sample].double().cpu().numpy(), size)
    return intrinsics_entries(batch[("K", 0)][sample].double().cpu().numpy())


def per_sample_diagnosis(trainer: Trainer, root: Path, true_K: dict[str, float]) -> dict:
    """The K the warp used (the head's, else the dataset's) on every training frame (frames −1 and +1; no
    augmentation, eval mode) against the pose network's rotation error along the true motion (the two pairs'
    errors, the backward one negated, averaged) and the true travel tilt; how much of the true rotation the pose
    network predicts per axis (the slope of predicted on true: 1 = all of it, 0 = none); the pose network's and the
    true mean tilt; the focus of expansion's row."""
    dataset = trainer.train_loader.dataset
    dataset.is_train = False  # every frame as it is: no flip, no colour jitter
    trainer.model.eval()
    size = (trainer.opt.height, trainer.opt.width)
    world_from_camera: dict[str, np.ndarray] = {}
    K_px, rotation_errors, tilts = [], [], []  # tilts: (predicted, true)
    rotations = []  # the forward pair's (true, predicted) rotation vectors, degrees
    with torch.no_grad():
        for start in range(0, len(dataset), trainer.opt.batch_size):
            indices = range(start, min(len(dataset), start + trainer.opt.batch_size))
            batch = batch_to_device(collate_samples([dataset[i] for i in indices]), trainer.device)
            outputs, _ = trainer.process_batch(batch, trainer.model)
            for j, index in enumerate(indices):
                line = SplitLine.parse(dataset.filenames[index])
                if line.folder not in world_from_camera:
                    world_from_camera[line.folder] = camera_poses(root / line.folder)
                poses = world_from_camera[line.folder]
                true = {f: np.linalg.inv(poses[line.frame_index + f]) @ poses[line.frame_index] for f in (-1, 1)}
                predicted = {f: outputs[("cam_T_cam", 0, f)][j].double().cpu().numpy() for f in (-1, 1)}
                rotation_errors.append((rotation_error_deg(predicted[1], true[1])
                                        - rotation_error_deg(predicted[-1], true[-1])) / 2)  # fmt: skip
                tilts.append((travel_tilt(predicted[1]), travel_tilt(true[1])))
                rotations.append([rotation_error_deg(T, np.eye(4)) for T in (true[1], predicted[1])])
                K_px.append(list(warp_intrinsics_px(outputs, batch, j, size).values()))
    K, errors, tilt, rotation = np.array(K_px), np.array(rotation_errors), np.array(tilts), np.array(rotations)
    entries = {}
    for column, name in enumerate(K_ENTRIES):
        against = {"pitch_error": errors[:, 0], "yaw_error": errors[:, 1], "roll_error": errors[:, 2],
                   "true_tilt": tilt[:, 1]}  # fmt: skip
        entries[name] = {"mean_px": round(float(K[:, column].mean()), 2), "sd_px": round(float(K[:, column].std()), 2),
                         "r": {label: round(correlation(K[:, column], values), 2) for label, values in against.items()}}
    fy, cy = K[:, 1], K[:, 3]
    return {
        "frames": len(K), "entries": entries,
        "rotation_error_deg": {"mean": errors.mean(0).round(3).tolist(), "sd": errors.std(0).round(3).tolist()},
        "rotation_gain": rotation_gain(rotation[:, 0], rotation[:, 1]),
        "travel_tilt": {"predicted_mean": round(float(tilt[:, 0].mean()), 4),
                        "true_mean": round(float(tilt[:, 1].mean()), 4), "true_sd": round(float(tilt[:, 1].std()), 4)},
        "focus_of_expansion_row_px": {"predicted": round(float(np.mean(cy + fy * tilt[:, 0])), 2),
                                      "true": round(float(np.mean(true_K["cy"] + true_K["fy"] * tilt[:, 1])), 2)},
    }  # fmt: skip


def print_diagnosis(diagnosis: dict) -> None:
    print(f"\nper-sample K the warp used on the {diagnosis['frames']} training frames (eval mode, no augmentation): "
          "r = correlation with the pose network's rotation error (pitch, yaw, roll) and the true travel tilt ty/tz")
    print("| entry | mean px | sd px | r pitch error | r yaw error | r roll error | r true tilt |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, entry in diagnosis["entries"].items():
        print(f"| {name} | {entry['mean_px']:.1f} | {entry['sd_px']:.2f} | "
              + " | ".join(f"{value:+.2f}" for value in entry["r"].values()) + " |")  # fmt: skip
    error, tilt = diagnosis["rotation_error_deg"], diagnosis["travel_tilt"]
    row = diagnosis["focus_of_expansion_row_px"]
    print(f"rotation error (deg) mean {error['mean']}, sd {error['sd']}; share of the true rotation predicted "
          f"(pitch, yaw, roll) {diagnosis['rotation_gain']}; travel tilt: pose network "
          f"{tilt['predicted_mean']:+.4f}, true {tilt['true_mean']:+.4f} (sd {tilt['true_sd']:.4f}); focus of "
          f"expansion row: predicted {row['predicted']:.1f} px, true {row['true']:.1f} px")


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
    parser.add_argument("--fixed_k", action="store_true",
                        help="control: no head, Monodepth2's fixed K (centred principal point); only the diagnosis")
    parser.add_argument("--intrinsics_warmup_steps", type=int, default=0, metavar="N",
                        help="freeze the head for the first N steps of this run (training's option)")
    parser.add_argument("--rate_drop", action="store_true",
                        help="drop the rate ×0.1 after 75 %% of this run's steps (Monodepth2's StepLR), not constant")
    parser.add_argument("--resume", type=Path, metavar="WEIGHTS",
                        help="weights folder an earlier run of this script saved: continue from its networks and Adam")
    parser.add_argument("--resume_step", type=int, default=0, help="the steps the --resume run had trained")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.steps < args.log_every or args.log_every < 1:
        parser.error("--steps must be at least --log_every, which must be positive")
    if not {-1, 1} <= set(args.frame_ids):
        parser.error("--frame_ids must include -1 and 1 (the per-sample diagnosis reads those pairs)")
    if args.fixed_k and args.one_k:
        parser.error("--fixed_k trains without the head that --one_k changes")
    if args.fixed_k and args.intrinsics_warmup_steps:
        parser.error("--fixed_k trains without the head that --intrinsics_warmup_steps holds")
    if (args.resume is None) != (args.resume_step == 0) or args.resume_step < 0:
        parser.error("--resume and a positive --resume_step go together")
    started = time.perf_counter()
    size = (args.height, args.width)
    batch_K: list[np.ndarray] = []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="intrinsics_curve_") as tmp:
        root = args.work_dir or Path(tmp)
        split = generate_drives(root, args, MOTIONS[args.motion], PRINCIPAL_POINTS[args.principal_point])
        keep_lines_with_neighbours(split, args.frame_ids, args.frames)
        true = calibration_px(root, size)
        print(f"{args.motion} drives, principal point {args.principal_point}; true K at {args.width}×{args.height} "
              + " / ".join(f"{true[k]:.1f}" for k in K_ENTRIES) + " px")  # fmt: skip
        overrides: dict = {}
        if args.resume is not None:
            overrides = {"load_weights_folder": str(args.resume), "no_resume": True,
                         "models_to_load": [*MODEL_NAMES] + ([] if args.fixed_k else ["intrinsics"])}  # fmt: skip
        if args.rate_drop:
            overrides["scheduler_step_size"] = rate_drop_epochs(split, args.batch_size, args.steps)
        options = training_options(root, args, "intrinsics_curve", args.steps, learn_intrinsics=not args.fixed_k,
                                   frame_ids=args.frame_ids, intrinsics_warmup_steps=args.intrinsics_warmup_steps,
                                   **overrides)  # fmt: skip
        trainer = Trainer(options)
        if args.one_k:
            trainer.model.intrinsics.register_forward_pre_hook(constant_input)

        def record(step: int, inputs: dict, outputs: dict, losses: dict) -> None:
            batch_K.append(outputs[LEARNED_K].detach().float().mean(0).cpu().numpy())
            if len(batch_K) % args.log_every == 0:  # one row of the curve, printed as it comes
                learned = intrinsics_px(np.mean(batch_K[-args.log_every :], axis=0), size)
                errors = intrinsics_errors(learned, true, size, signed=True)
                step = args.resume_step + len(batch_K)
                rate = trainer.optimizer.param_groups[0]["lr"]
                rows.append({"step": step, "K_px": learned, "errors": errors, "learning_rate": rate})
                tqdm.write(f"| {step} | " + " | ".join(f"{learned[k]:.1f}" for k in K_ENTRIES) + " | "
                           + " | ".join(f"{100 * errors[k]:+.1f} %" for k in K_ENTRIES) + " |")  # above the bar

        if not args.fixed_k:
            print(f"learned K (px), mean of the batch K over each {args.log_every} steps")
            print("| step | fx | fy | cx | cy | err fx | err fy | err cx | err cy |")
            print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
            trainer.after_step_hooks.append(record)
        trainer.train()
        diagnosis = per_sample_diagnosis(trainer, root, true)
        print_diagnosis(diagnosis)

    report = {
        "benchmark": "intrinsics_curve",
        "head_input": "none: Monodepth2's fixed K (--fixed_k)" if args.fixed_k
        else "constant (--one_k)" if args.one_k else "pose bottleneck",
        "data": {"motion": args.motion, "principal_point": args.principal_point, "drives": args.drives,
                 "frames_per_drive": args.frames, "native_size": list(NATIVE_SIZE), "seed": args.seed},
        "training": {"steps": args.steps, "batch_size": args.batch_size, "height": args.height, "width": args.width,
                     "learning_rate": args.learning_rate, "rate_drop": args.rate_drop, "frame_ids": args.frame_ids,
                     "intrinsics_warmup_steps": args.intrinsics_warmup_steps, "torch_threads": torch.get_num_threads(),
                     "resumed_from": str(args.resume) if args.resume else None, "resume_step": args.resume_step},
        "true_K_px": true,
        "curve": rows,
        "per_sample_diagnosis": diagnosis,
        "total_wall_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
