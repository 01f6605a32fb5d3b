"""How strongly each synthetic drive motion pins down the camera intrinsics a network could learn from it.

Self-supervised training can only learn K through the reprojection it drives: a wrong K is detectable only if no
camera motion reproduces, with it, the correspondences the true K and motion produce. Under pure translation a
principal-point error is exactly absorbed by tilting the translation, and a focal error nearly so; rotation between
frames is what breaks the tie (Gordon et al. 2019). This script measures that tie directly on the generator's
drives, with no network: for pairs (target t, source t ± 1) of one drive it projects the TRUE dense depth of t
into the source with the true K and pose, then perturbs one entry of K by the learned-intrinsics targets of
``benchmarks/ablation.py`` (fx, fy by 5 %, cx, cy by 2 % of the image size; and both focal lengths by 5 % at once,
the focal scale, which a roll about the optical axis cannot reveal), re-fits the 6-DoF pose to those
correspondences by least squares with the depth held at the truth, and reports the RMS reprojection residual left,
in pixels at the training size (256×64). A residual of zero means the perturbation is invisible to the loss; the
larger it is, the more the photometric loss can feel it (depth is held true, so these are upper bounds: a depth
network can absorb part of them).

    python projects/learned_intrinsics/intrinsics_identifiability.py [--frames 30] [--pairs 14]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._report import write_report
from benchmarks._synthetic_training import NATIVE_SIZE
from benchmarks.ablation import TARGET_CENTRE_ERROR, TARGET_FOCAL_ERROR
from depth_ros.kitti import camera_poses, rectified_intrinsics
from projects.learned_intrinsics.study_motions import MOTIONS
from training.gt_depth import load_annotated_depth
from training.synthetic_kitti import KITTI_PRINCIPAL_POINT, generate

RESULTS = Path(__file__).resolve().parent / "results" / "intrinsics_identifiability.json"
TRAINING_SIZE = (256, 64)  # (W, H) of the ablation's learned-intrinsics runs
POINTS_PER_FRAME = 3000
MAX_DEPTH_M = 80.0


@dataclass
class Pair:
    """Correspondences of one (target, source) pair at the training size: target pixels (N×2), their true depth
    (N, metres), where the true K and pose put them in the source (N×2), and the true ``T_source_from_target``."""

    target_px: np.ndarray
    depth_m: np.ndarray
    source_px: np.ndarray
    source_from_target: np.ndarray


def project(K: np.ndarray, source_from_target: np.ndarray, target_px: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
    """Pixels (N×2) of target pixels ``target_px`` at ``depth_m`` seen from the source camera (pinhole ``K``)."""
    rays = np.linalg.solve(K, np.c_[target_px, np.ones(len(target_px))].T)
    points = source_from_target[:3, :3] @ (rays * depth_m) + source_from_target[:3, 3:]
    pixels = K @ points
    return (pixels[:2] / pixels[2]).T


def drive_pairs(drive: Path, K: np.ndarray, pairs: int, rng: np.random.Generator) -> list[Pair]:
    """``pairs`` (t, t ± 1) pairs spread over the drive, with ``POINTS_PER_FRAME`` random valid pixels each."""
    poses = camera_poses(drive)
    scale = np.array([TRAINING_SIZE[0] / NATIVE_SIZE[0], TRAINING_SIZE[1] / NATIVE_SIZE[1]])
    result = []
    for index, target in enumerate(np.linspace(1, len(poses) - 2, pairs).round().astype(int)):
        depth = load_annotated_depth(drive / "proj_depth" / "groundtruth" / "image_02" / f"{target:010d}.png")
        rows, cols = np.nonzero((depth > 0) & (depth < MAX_DEPTH_M))
        chosen = rng.choice(len(rows), size=min(POINTS_PER_FRAME, len(rows)), replace=False)
        target_px = np.c_[cols[chosen], rows[chosen]] * scale
        depth_m = depth[rows[chosen], cols[chosen]].astype(np.float64)
        source = target + (1 if index % 2 else -1)
        source_from_target = np.linalg.inv(poses[source]) @ poses[target]
        result.append(Pair(target_px, depth_m, project(K, source_from_target, target_px, depth_m), source_from_target))
    return result


def refit_residual_px(K: np.ndarray, pair: Pair) -> float:
    """RMS reprojection residual (pixels) left after fitting the pose that best explains ``pair`` with ``K``."""

    def residuals(pose: np.ndarray) -> np.ndarray:
        source_from_target = np.eye(4)
        source_from_target[:3, :3] = Rotation.from_rotvec(pose[:3]).as_matrix()
        source_from_target[:3, 3] = pose[3:]
        return (project(K, source_from_target, pair.target_px, pair.depth_m) - pair.source_px).ravel()

    start = np.r_[Rotation.from_matrix(pair.source_from_target[:3, :3]).as_rotvec(), pair.source_from_target[:3, 3]]
    fit = least_squares(residuals, start, method="lm")
    return float(np.sqrt(np.mean(fit.fun**2)))


def perturbations(K: np.ndarray) -> dict[str, np.ndarray]:
    """The true K with one entry moved by its target tolerance, and with both focal lengths moved at once."""
    width, height = TRAINING_SIZE
    focal = TARGET_FOCAL_ERROR
    moves = {
        f"fx +{focal:.0%}": [(0, 0, focal * K[0, 0])],
        f"fy +{focal:.0%}": [(1, 1, focal * K[1, 1])],
        f"cx +{TARGET_CENTRE_ERROR:.0%} W": [(0, 2, TARGET_CENTRE_ERROR * width)],
        f"cy +{TARGET_CENTRE_ERROR:.0%} H": [(1, 2, TARGET_CENTRE_ERROR * height)],
        f"fx, fy +{focal:.0%}": [(0, 0, focal * K[0, 0]), (1, 1, focal * K[1, 1])],
    }
    result = {}
    for name, entries in moves.items():
        result[name] = K.copy()
        for row, col, delta in entries:
            result[name][row, col] += delta
    return result


def rotation_deg(pair: Pair) -> float:
    return float(np.degrees(np.linalg.norm(Rotation.from_matrix(pair.source_from_target[:3, :3]).as_rotvec())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames of the one drive rendered per motion")
    parser.add_argument("--pairs", type=int, default=14, help="(target, source) pairs measured per motion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.frames < 3 or args.pairs < 1:
        parser.error("need at least 3 frames and 1 pair")
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="identifiability_") as tmp:
        for name, motion in MOTIONS.items():
            root = Path(tmp) / name
            drive = generate(root, drives=1, frames=args.frames, seed=args.seed, width=NATIVE_SIZE[0],
                             height=NATIVE_SIZE[1], motion=motion,
                             principal_point=KITTI_PRINCIPAL_POINT)[0]  # fmt: skip
            native_K = rectified_intrinsics(drive.parent, 2)
            K = np.diag([TRAINING_SIZE[0] / NATIVE_SIZE[0], TRAINING_SIZE[1] / NATIVE_SIZE[1], 1.0]) @ native_K
            pairs = drive_pairs(drive, K, args.pairs, np.random.default_rng(args.seed))
            residuals = {
                label: round(float(np.sqrt(np.mean([refit_residual_px(wrong, pair) ** 2 for pair in pairs]))), 5)
                for label, wrong in perturbations(K).items()
            }
            results[name] = {"median_rotation_deg": round(float(np.median([rotation_deg(p) for p in pairs])), 3),
                             "residual_px": residuals}  # fmt: skip

    labels = list(next(iter(results.values()))["residual_px"])
    width, height = TRAINING_SIZE
    print(f"RMS reprojection residual (px at {width}×{height}) left by a wrong K once the pose is re-fitted, true "
          f"depth; {args.pairs} pairs per motion")
    print("| motion | rotation/frame (median) | " + " | ".join(labels) + " |")
    print("|---|---:|" + "---:|" * len(labels))
    for name, result in results.items():
        print(f"| {name} | {result['median_rotation_deg']:.2f}° | "
              + " | ".join(f"{result['residual_px'][label]:.4f}" for label in labels) + " |")  # fmt: skip
    report = {
        "benchmark": "intrinsics_identifiability",
        "protocol": "true dense depth of the target, true K and pose → source pixels; one K entry moved by its "
                    "target tolerance; 6-DoF pose re-fitted (Levenberg-Marquardt); RMS residual in px at the "
                    "training size",
        "training_size": list(TRAINING_SIZE), "native_size": list(NATIVE_SIZE), "frames": args.frames,
        "pairs": args.pairs, "points_per_frame": POINTS_PER_FRAME, "seed": args.seed,
        "principal_point": "kitti", "motions": results,
        "total_wall_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
