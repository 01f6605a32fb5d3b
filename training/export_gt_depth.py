"""Export the ground-truth depth maps of a KITTI test split to ``gt_depths.npz`` (Monodepth2's format).

    python -m training.export_gt_depth --data_path kitti_data --split eigen
    python -m training.export_gt_depth --data_path kitti_data --split eigen_benchmark
    python -m training.export_gt_depth --data_path synth --split synth/splits/synthetic --gt_source annotated

A split is a folder holding ``test_files.txt``: a bare name (no ``/``) is looked up in ``--splits_dir``
(default ``training/splits``, where users copy Monodepth2's official ``splits/``); anything containing a
``/`` is the folder itself. The folder's name is the split's name: ``eigen`` takes Velodyne GT (the
Velodyne x coordinate, Eigen's convention), ``eigen_benchmark`` the depth benchmark's annotated PNGs
(``proj_depth/groundtruth/image_0N``, uint16 / 256); any other split says which with ``--gt_source``.
The output is ``np.savez_compressed(data=object array of H×W float32 maps in metres)``, written
atomically next to ``test_files.txt`` unless ``--output`` says otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from depth_ros.kitti import KittiFormatError
from training.datasets.splits import DEFAULT_SPLITS_DIR, TEST_FILE, SplitError, read_frame_lines, resolve_split_dir
from training.gt_depth import GT_FILE, frame_gt_depth, save_gt_depths

GT_SOURCES = {"eigen": "velodyne", "eigen_benchmark": "annotated"}


def split_gt_source(split_name: str, gt_source: str | None) -> str:
    """The GT source of a split: fixed for eigen/eigen_benchmark, required (``gt_source``) for the others."""
    fixed = GT_SOURCES.get(split_name)
    if fixed is not None and gt_source not in (None, fixed):
        raise SplitError(f"split {split_name} is evaluated on {fixed} ground truth; drop --gt_source {gt_source}")
    if fixed is None and gt_source is None:
        raise SplitError(f"split {split_name!r}: say which ground truth with --gt_source velodyne|annotated")
    return fixed or gt_source


def export_gt_depths(
    data_path: str | Path, split_dir: str | Path, gt_source: str, output: str | Path | None = None
) -> Path:
    """Export the GT of every line of ``split_dir/test_files.txt``; returns the written ``.npz`` path."""
    refs = read_frame_lines(Path(split_dir) / TEST_FILE)
    depths = [
        frame_gt_depth(data_path, ref, gt_source) for ref in tqdm(refs, desc="gt depth", unit="img", disable=None)
    ]
    return save_gt_depths(output or Path(split_dir) / GT_FILE, depths)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_path", required=True, help="KITTI raw root (holding <date>/<drive>)")
    parser.add_argument("--split", required=True, help="eigen | eigen_benchmark | a split folder path")
    parser.add_argument("--splits_dir", default=str(DEFAULT_SPLITS_DIR), help="where split names are looked up")
    parser.add_argument("--gt_source", choices=("velodyne", "annotated"), help="GT for splits other than eigen*")
    parser.add_argument("--output", help="output file (default: gt_depths.npz next to test_files.txt)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        split_dir = resolve_split_dir(args.split, args.splits_dir, files=(TEST_FILE,))
        gt_source = split_gt_source(split_dir.name, args.gt_source)
        path = export_gt_depths(args.data_path, split_dir, gt_source, args.output)
    except (SplitError, KittiFormatError, OSError) as error:
        print(f"export_gt_depth: error: {error}", file=sys.stderr)
        return 2
    print(f"-> Saved {gt_source} ground truth to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
