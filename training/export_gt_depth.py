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
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from depth_ros.atomic_io import atomic_write
from depth_ros.kitti import KittiFormatError, load_velodyne_points, rectified_image_size, velo_to_image

DEFAULT_SPLITS_DIR = Path(__file__).resolve().parent / "splits"
SPLIT_FILE = "test_files.txt"
GT_FILE = "gt_depths.npz"
SIDE_TO_CAM = {"2": 2, "3": 3, "l": 2, "r": 3}
ANNOTATED_DEPTH_SCALE = 256.0  # KITTI depth-benchmark PNGs store uint16 metres × 256
GT_SOURCES = {"eigen": "velodyne", "eigen_benchmark": "annotated"}


class SplitError(ValueError):
    """A split folder or file is missing or malformed, or the options do not fit the split."""


@dataclasses.dataclass(frozen=True)
class FrameRef:
    """One split line ``<folder> <frame index> <side>``: a KITTI raw drive (``<date>/<drive>``) or odometry
    sequence number, the frame index, and the side (``l``/``r``/``2``/``3``)."""

    folder: str
    frame_index: int
    side: str

    @property
    def cam(self) -> int:
        """KITTI camera number: 2 (left colour) or 3 (right colour)."""
        return SIDE_TO_CAM[self.side]


def resolve_split(split: str, splits_dir: str | Path = DEFAULT_SPLITS_DIR) -> Path:
    """Folder of a split: ``splits_dir/<split>`` for a bare name, else ``split`` itself (it contains a ``/``)."""
    folder = Path(split) if os.sep in split or "/" in split else Path(splits_dir) / split
    if not folder.is_dir():
        raise SplitError(f"split folder {folder} does not exist (copy Monodepth2's splits/ into {splits_dir}?)")
    return folder


def read_split_file(path: str | Path) -> list[FrameRef]:
    """Parse a split file; every non-empty line must be ``<folder> <frame index> <l|r|2|3>``."""
    path = Path(path)
    if not path.is_file():
        raise SplitError(f"split file {path} does not exist")
    refs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 3 or not tokens[1].isdigit() or tokens[2] not in SIDE_TO_CAM:
            raise SplitError(f"{path}:{number}: expected '<folder> <frame index> <l|r>', got {line.strip()!r}")
        refs.append(FrameRef(tokens[0], int(tokens[1]), tokens[2]))
    if not refs:
        raise SplitError(f"split file {path} lists no frames")
    return refs


def project_velodyne_to_depth(
    points: np.ndarray, velo_to_pixels: np.ndarray, image_size: tuple[int, int], vel_depth: bool = False
) -> np.ndarray:
    """Sparse H×W float32 depth (metres, 0 = none) from N×4 Velodyne points, exactly as KITTI's devkit.

    ``velo_to_pixels`` is the 3×4 Velodyne → homogeneous-pixel projection, ``image_size`` (H, W). Points
    behind the Velodyne (x < 0) are dropped; pixel = round(u) − 1, round(v) − 1 (MATLAB's 1-based
    indices, kept for bit-identical GT); depth is camera z, or the Velodyne x with ``vel_depth``. Where
    points share a pixel the last one is written, then every group of equal ``v·(W−1) + u − 1`` (the
    devkit's non-unique ``sub2ind``) writes its minimum at its first member's pixel; negatives become 0.
    """
    height, width = image_size
    points = points[points[:, 0] >= 0].copy()
    points[:, 3] = 1.0  # reflectance → homogeneous coordinate
    projected = np.dot(velo_to_pixels, points.T).T
    projected[:, :2] = projected[:, :2] / projected[:, 2][..., np.newaxis]
    if vel_depth:
        projected[:, 2] = points[:, 0]
    projected[:, :2] = np.round(projected[:, :2]) - 1
    inside = (projected[:, 0] >= 0) & (projected[:, 1] >= 0) & (projected[:, 0] < width) & (projected[:, 1] < height)
    projected = projected[inside]
    cols, rows, values = projected[:, 0].astype(np.int64), projected[:, 1].astype(np.int64), projected[:, 2]
    depth = np.zeros((height, width))
    depth[rows, cols] = values
    index = rows * (width - 1) + cols - 1
    unique, first, inverse, counts = np.unique(index, return_index=True, return_inverse=True, return_counts=True)
    group_min = np.full(len(unique), np.inf)
    np.minimum.at(group_min, inverse, values)
    duplicated = counts > 1
    depth[rows[first[duplicated]], cols[first[duplicated]]] = group_min[duplicated]
    depth[depth < 0] = 0
    return depth.astype(np.float32)


def generate_depth_map(
    calib_dir: str | Path, velo_filename: str | Path, cam: int = 2, vel_depth: bool = False
) -> np.ndarray:
    """H×W float32 depth map (metres, 0 = no return) of one Velodyne scan in rectified camera ``cam``.

    ``calib_dir`` is the date folder holding ``calib_cam_to_cam.txt`` and ``calib_velo_to_cam.txt``.
    Depth is camera z (training-time GT), or the Velodyne x with ``vel_depth`` (Eigen evaluation GT).
    The image size is ``S_rect_0{cam}`` (the devkit always reads ``S_rect_02``; KITTI's are identical).
    """
    return project_velodyne_to_depth(
        load_velodyne_points(velo_filename),
        velo_to_image(calib_dir, cam),
        rectified_image_size(calib_dir, cam),
        vel_depth=vel_depth,
    )


def load_annotated_depth(path: str | Path) -> np.ndarray:
    """H×W float32 depth (metres, 0 = none) from a KITTI depth-benchmark uint16 PNG."""
    with Image.open(path) as image:
        return np.asarray(image, dtype=np.float32) / ANNOTATED_DEPTH_SCALE


def frame_gt_depth(data_path: str | Path, ref: FrameRef, gt_source: str) -> np.ndarray:
    """Ground-truth depth map of one KITTI raw split line, from ``velodyne`` (x) or ``annotated`` PNGs."""
    drive = Path(data_path) / ref.folder
    if gt_source == "annotated":
        return load_annotated_depth(
            drive / "proj_depth" / "groundtruth" / f"image_0{ref.cam}" / f"{ref.frame_index:010d}.png"
        )
    calib_dir = Path(data_path) / ref.folder.split("/")[0]
    velo_file = drive / "velodyne_points" / "data" / f"{ref.frame_index:010d}.bin"
    return generate_depth_map(calib_dir, velo_file, cam=ref.cam, vel_depth=True)


def save_gt_depths(path: str | Path, depths: Sequence[np.ndarray]) -> Path:
    """Write maps of any sizes as Monodepth2's ``gt_depths.npz`` (1-D object array under ``data``), atomically."""
    data = np.empty(len(depths), dtype=object)
    for index, depth in enumerate(depths):
        data[index] = depth

    def write(tmp: Path) -> None:
        with tmp.open("wb") as stream:
            np.savez_compressed(stream, data=data)

    return atomic_write(path, write)


def load_gt_depths(path: str | Path) -> list[np.ndarray]:
    """Read ``gt_depths.npz`` (ours or Monodepth2's). Pickle is needed for its object array: trusted files only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; create it with: python -m training.export_gt_depth --data_path <kitti_data> "
            f"--split {path.parent}"
        )
    with np.load(path, allow_pickle=True) as archive:
        return [np.asarray(depth, dtype=np.float32) for depth in archive["data"]]


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
    refs = read_split_file(Path(split_dir) / SPLIT_FILE)
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
        split_dir = resolve_split(args.split, args.splits_dir)
        gt_source = split_gt_source(split_dir.name, args.gt_source)
        path = export_gt_depths(args.data_path, split_dir, gt_source, args.output)
    except (SplitError, KittiFormatError, OSError) as error:
        print(f"export_gt_depth: error: {error}", file=sys.stderr)
        return 2
    print(f"-> Saved {gt_source} ground truth to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
