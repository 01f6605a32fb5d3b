"""Evaluate a depth model on a KITTI test split with Monodepth2's protocol and option names.

    python -m training.export_gt_depth --data_path kitti_data --split eigen        # once
    python -m training.evaluate_depth --load_weights_folder models/mono_640x192 --data_path kitti_data \
        --eval_split eigen --eval_mono [--post_process]

Exactly one of ``--eval_mono`` (per-image median scaling) and ``--eval_stereo`` (×5.4, no median
scaling). Images are read as ``.jpg`` like Monodepth2's evaluation (KITTI PNGs converted at quality 92,
4:2:0); ``--png`` reads ``.png`` instead, e.g. for ``training.synthetic_kitti`` data. Each image is
resized with PIL LANCZOS to the model's input size (from the weights folder's metadata), and the
prediction is the *scaled* disparity of ``disp_to_depth`` with the model's min/max depth (default
0.1/100). ``--eval_split`` is a split name in ``--splits_dir`` or a folder path (see
``training.export_gt_depth``); the folder holds ``test_files.txt`` and ``gt_depths.npz``, and its name
chooses the mask (``eigen``: Garg crop and 80 m cap; others: gt > 0). ``benchmark`` writes KITTI
depth-benchmark PNGs instead of scoring. By default the network's own depth is scored;
``--mask_adjust_test`` applies the Mask R-CNN disparity adjustment of ``--mask_rcnn`` training at test time
(COCO detector on the network input; the paper's numbers silently included it) and labels the result
``+mask_adjust``. Results go to ``eval_<split>[_pp][_mask_adjust].json`` in the weights folder (or beside
``--ext_disp_to_eval``), written atomically. Progress bars show on a terminal only. Bad
input (missing or malformed files, mismatched counts, unusable weights) ends with one error line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from depth_ros.atomic_io import atomic_write_bytes, atomic_write_text
from depth_ros.checkpoint import CheckpointError, load_depth_network
from depth_ros.geometry import STEREO_SCALE_FACTOR
from depth_ros.kitti import KittiFormatError
from depth_ros.networks.resnet_encoder import PretrainedWeightsError
from training.datasets.splits import DEFAULT_SPLITS_DIR, TEST_FILE, SplitError, read_frame_lines, resolve_split_dir
from training.depth_prediction import predict_disparities, raw_image_path, save_array
from training.gt_depth import GT_FILE, GtDepthError, load_gt_depths
from training.mask_adjustment import build_detector
from training.metrics import METRIC_NAMES, EvalError, evaluate_predictions
from training.report import markdown_table

BENCHMARK_SIZE = (1216, 352)  # (width, height) of KITTI depth-benchmark submissions
BENCHMARK_MAX_DEPTH = 80.0  # metres
BENCHMARK_DEPTH_SCALE = 256.0  # uint16 PNG value per metre
EIGEN_TO_BENCHMARK_IDS = Path("benchmark") / "eigen_to_benchmark_ids.npy"


def load_external_disparities(path: str | Path, eigen_to_benchmark_ids: Path | None = None) -> np.ndarray:
    """N×H×W scaled disparities from a ``.npy`` file, optionally re-indexed from Eigen to eigen_benchmark order."""
    try:
        disps = np.load(path, allow_pickle=False)
        if eigen_to_benchmark_ids is not None:
            disps = disps[np.load(eigen_to_benchmark_ids, allow_pickle=False)]
    except (OSError, ValueError, IndexError) as error:
        raise EvalError(f"cannot use disparities from {path}: {error}") from None
    if disps.ndim != 3:
        raise EvalError(f"{path} holds an array of shape {disps.shape}; expected N×H×W disparities")
    return disps


def write_benchmark_pngs(pred_disps: np.ndarray, out_dir: str | Path) -> Path:
    """Write ``<index:010d>.png``: depth = 5.4 / disparity at 1216×352, clipped to [0, 80] m, uint16 ×256.

    Always ×5.4, also for mono models, as Monodepth2's script.
    """
    out_dir = Path(out_dir)
    for index, disp in enumerate(tqdm(pred_disps, desc="benchmark png", unit="img", disable=None)):
        depth = np.clip(STEREO_SCALE_FACTOR / cv2.resize(disp, BENCHMARK_SIZE), 0, BENCHMARK_MAX_DEPTH)
        ok, png = cv2.imencode(".png", (depth * BENCHMARK_DEPTH_SCALE).astype(np.uint16))
        if not ok:
            raise EvalError(f"cannot encode benchmark prediction {index} as PNG")
        atomic_write_bytes(out_dir / f"{index:010d}.png", png.tobytes())
    return out_dir


def print_results(metrics: dict[str, float], ratios: dict[str, float] | None) -> None:
    """Monodepth2's printout: the scaling ratios (mono), the metric header and the LaTeX row."""
    if ratios is not None:
        print(f" Scaling ratios | med: {ratios['median']:0.3f} | std: {ratios['std']:0.3f}")
    print("\n  " + "".join(f"{name:>8} | " for name in METRIC_NAMES))
    print("".join(f"&{metrics[name]: 8.3f}  " for name in METRIC_NAMES) + "\\\\")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load_weights_folder", help="weights folder (encoder.pth, depth.pth, depth_ros.json)")
    parser.add_argument("--data_path", help="KITTI raw root holding <date>/<drive>/image_0N/data")
    parser.add_argument("--eval_split", default="eigen", help="eigen | eigen_benchmark | benchmark | folder path")
    parser.add_argument("--splits_dir", default=str(DEFAULT_SPLITS_DIR), help="where split names are looked up")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--eval_mono", action="store_true", help="per-image median scaling")
    mode.add_argument("--eval_stereo", action="store_true", help="depth ×5.4, no median scaling")
    parser.add_argument("--post_process", action="store_true", help="blend with the flipped image's prediction")
    parser.add_argument("--save_pred_disps", action="store_true", help="save disps_<split>_split.npy")
    parser.add_argument("--ext_disp_to_eval", help="N×H×W .npy of scaled disparities to score instead of a model")
    parser.add_argument(
        "--eval_eigen_to_benchmark",
        action="store_true",
        help="re-index --ext_disp_to_eval from Eigen to eigen_benchmark order",
    )
    parser.add_argument("--disable_median_scaling", action="store_true")
    parser.add_argument("--pred_depth_scale_factor", type=float, default=1.0, help="multiply predicted depths")
    parser.add_argument("--no_eval", action="store_true", help="stop after predicting (with --save_pred_disps)")
    parser.add_argument(
        "--mask_adjust_test",
        action="store_true",
        help="adjust the predictions with Mask R-CNN object masks detected on the network input (COCO weights "
        "from the torch hub cache); labelled +mask_adjust",
    )
    parser.add_argument("--png", action="store_true", help="read .png images instead of .jpg")
    parser.add_argument("--num_layers", type=int, choices=(18, 34, 50, 101, 152),
                        help="the encoder's ResNet depth, checked against the weights (default: read from them)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--no_cuda", action="store_true")
    return parser.parse_args(argv)


def check_options(args: argparse.Namespace) -> None:
    """Refuse option combinations that Monodepth2 would silently ignore or crash on."""
    if args.ext_disp_to_eval is None and (args.load_weights_folder is None or args.data_path is None):
        raise EvalError("give --load_weights_folder and --data_path, or --ext_disp_to_eval")
    if args.mask_adjust_test and args.ext_disp_to_eval is not None:
        raise EvalError("--mask_adjust_test needs the network's input images; it cannot adjust --ext_disp_to_eval")
    if args.eval_eigen_to_benchmark and args.ext_disp_to_eval is None:
        raise EvalError("--eval_eigen_to_benchmark re-indexes --ext_disp_to_eval; give that too")
    if args.eval_stereo and args.pred_depth_scale_factor != 1.0:
        raise EvalError("--eval_stereo scales depth by 5.4 itself; drop --pred_depth_scale_factor")
    if args.batch_size < 1:
        raise EvalError("--batch_size must be at least 1")


def obtain_disparities(args: argparse.Namespace, split_dir: Path) -> tuple[np.ndarray, Path, str, dict]:
    """Scaled disparities from ``--ext_disp_to_eval`` or from the model on the split's images.

    Returns (N×H×W disparities, output folder, source for the label, prediction settings for the record).
    """
    if args.ext_disp_to_eval is not None:
        out_dir = Path(args.load_weights_folder or Path(args.ext_disp_to_eval).parent)
        ids = Path(args.splits_dir) / EIGEN_TO_BENCHMARK_IDS if args.eval_eigen_to_benchmark else None
        print(f"-> Loading predictions from {args.ext_disp_to_eval}")
        settings = dict.fromkeys(("input_size", "depth_range", "image_ext"))
        return load_external_disparities(args.ext_disp_to_eval, ids), out_dir, str(args.ext_disp_to_eval), settings
    out_dir = Path(args.load_weights_folder)
    try:
        refs = read_frame_lines(split_dir / TEST_FILE)
    except SplitError as error:
        hint = (
            "; the benchmark split's 'image N' lines need --ext_disp_to_eval" if split_dir.name == "benchmark" else ""
        )
        raise SplitError(f"{error}{hint}") from None
    device = torch.device("cuda" if torch.cuda.is_available() and not args.no_cuda else "cpu")
    print(f"-> Loading weights from {out_dir}")
    network, metadata = load_depth_network(out_dir, device)
    if args.num_layers is not None and args.num_layers != metadata.num_layers:
        raise EvalError(
            f"--num_layers {args.num_layers} does not match {out_dir}: its encoder is a ResNet-{metadata.num_layers} "
            f"(drop --num_layers to read it from the weights)"
        )
    detector = build_detector().to(device) if args.mask_adjust_test else None
    print(f"-> Computing predictions with size {metadata.width}x{metadata.height}")
    ext = ".png" if args.png else ".jpg"
    pred_disps = predict_disparities(
        network,
        [raw_image_path(args.data_path, ref, ext) for ref in refs],
        (metadata.height, metadata.width),
        (metadata.min_depth, metadata.max_depth),
        args.batch_size,
        args.post_process,
        device,
        detector,
    )
    settings = {
        "input_size": [metadata.height, metadata.width],
        "depth_range": [metadata.min_depth, metadata.max_depth],
        "image_ext": ext,
    }
    return pred_disps, out_dir, str(out_dir), settings


def eval_label(source: str, args: argparse.Namespace) -> str:
    """``source`` plus a ``+tag`` for every test-time option that changes the numbers."""
    tags = ["pp"] if args.post_process else []
    if args.mask_adjust_test:
        tags.append("mask_adjust")
    if args.eval_mono and args.disable_median_scaling:
        tags.append("no_median")
    if args.pred_depth_scale_factor != 1.0:
        tags.append(f"x{args.pred_depth_scale_factor:g}")
    return "+".join([source, *tags])


def run(args: argparse.Namespace) -> None:
    """Predict (or load) disparities, then save them, write benchmark PNGs, or score them."""
    check_options(args)
    split_dir = resolve_split_dir(args.eval_split, args.splits_dir, files=())
    split = split_dir.name
    scoring = not args.no_eval and split != "benchmark"
    gt_depths = load_gt_depths(split_dir / GT_FILE) if scoring else None  # fail before the long prediction
    pred_disps, out_dir, source, settings = obtain_disparities(args, split_dir)
    unusable = int((~np.isfinite(pred_disps).any(axis=(1, 2))).sum())
    if unusable:
        raise EvalError(
            f"{unusable} of {len(pred_disps)} predictions of {source} hold only NaN or Inf: corrupt weights or "
            f"disparities; nothing is scored"
        )
    if args.save_pred_disps:
        print(f"-> Saved predicted disparities to {save_array(out_dir / f'disps_{split}_split.npy', pred_disps)}")
    if args.no_eval:
        return
    if split == "benchmark":
        out_dir = write_benchmark_pngs(pred_disps, out_dir / "benchmark_predictions")
        print(f"-> Saved KITTI benchmark predictions to {out_dir}")
        return

    print("-> Evaluating" + ("\n   Mono evaluation - using median scaling" if args.eval_mono else ""))
    result = evaluate_predictions(
        pred_disps, gt_depths, split, args.eval_mono, args.pred_depth_scale_factor, args.disable_median_scaling
    )
    ratios = result.ratio_summary()
    print_results(result.metrics, ratios)
    record = {
        "label": eval_label(source, args),
        "split": split,
        "split_dir": str(split_dir),
        "n_images": result.n_images,
        "mode": "mono" if args.eval_mono else "stereo",
        "post_process": args.post_process,
        "mask_adjust_test": args.mask_adjust_test,
        "median_scaling": ratios is not None,
        "pred_depth_scale_factor": STEREO_SCALE_FACTOR if args.eval_stereo else args.pred_depth_scale_factor,
        "ratios": ratios,
        "metrics": result.metrics,
        "weights_folder": args.load_weights_folder,
        "ext_disp_to_eval": args.ext_disp_to_eval,
        **settings,
    }
    print("\n" + markdown_table([record]))
    suffix = ("_pp" if args.post_process else "") + ("_mask_adjust" if args.mask_adjust_test else "")
    path = out_dir / f"eval_{split}{suffix}.json"
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(f"\n-> Wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cv2.setNumThreads(0)
    try:
        run(args)
    except (EvalError, SplitError, GtDepthError, CheckpointError, KittiFormatError, PretrainedWeightsError,
            OSError) as error:  # fmt: skip
        print(f"evaluate_depth: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
