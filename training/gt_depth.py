"""Ground-truth depth of KITTI frames: Velodyne scans projected as KITTI's devkit does, the depth benchmark's
annotated PNGs, and Monodepth2's ``gt_depths.npz`` (all depths in metres, 0 = none)."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from depth_ros.atomic_io import atomic_write
from depth_ros.errors import first_line
from depth_ros.kitti import load_velodyne_points, rectified_image_size, velo_to_image
from training.datasets.splits import SplitLine

GT_FILE = "gt_depths.npz"
FLAT_KEY, SHAPES_KEY = "depths", "shapes"  # ours: every value, concatenated, and each map's (H, W)
MONODEPTH2_KEY = "data"  # Monodepth2's: an object array of maps (a pickle)

ANNOTATED_DEPTH_SCALE = 256.0  # KITTI depth-benchmark PNGs store uint16 metres × 256


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


def frame_gt_depth(data_path: str | Path, ref: SplitLine, gt_source: str) -> np.ndarray:
    """Ground-truth depth map of one KITTI raw split line, from ``velodyne`` (x) or ``annotated`` PNGs."""
    drive = Path(data_path) / ref.folder
    if gt_source == "annotated":
        return load_annotated_depth(
            drive / "proj_depth" / "groundtruth" / f"image_0{ref.cam}" / f"{ref.frame_index:010d}.png"
        )
    calib_dir = Path(data_path) / ref.folder.split("/")[0]
    velo_file = drive / "velodyne_points" / "data" / f"{ref.frame_index:010d}.bin"
    return generate_depth_map(calib_dir, velo_file, cam=ref.cam, vel_depth=True)


class GtDepthError(ValueError):
    """A ``gt_depths.npz`` that is not a list of numeric depth maps (or holds code: refused, never run)."""


def save_gt_depths(path: str | Path, depths: Sequence[np.ndarray]) -> Path:
    """Write maps of any sizes as ``gt_depths.npz`` without pickles, atomically: ``depths`` (the maps' float32
    values, concatenated) and ``shapes`` (N×2 int64 (H, W)); :func:`load_gt_depths` also reads Monodepth2's."""
    maps = [np.asarray(depth, dtype=np.float32) for depth in depths]
    shapes = np.array([depth.shape for depth in maps], dtype=np.int64).reshape(len(maps), 2)
    flat = np.concatenate([depth.ravel() for depth in maps]) if maps else np.zeros(0, np.float32)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as stream:
            np.savez_compressed(stream, **{FLAT_KEY: flat, SHAPES_KEY: shapes})

    return atomic_write(path, write)


def load_gt_depths(path: str | Path) -> list[np.ndarray]:
    """The H×W float32 maps (metres) of ``gt_depths.npz``: ours (``depths`` + ``shapes``) or Monodepth2's (an object
    array under ``data``, whose pickle is read by :class:`_NumericArrayUnpickler`: numeric arrays only).

    Never unpickles anything else: a file holding other objects raises GtDepthError before any of them is built.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; create it with: python -m training.export_gt_depth --data_path <kitti_data> "
            f"--split {path.parent}"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if {FLAT_KEY, SHAPES_KEY} <= keys:
                return _split_maps(archive[FLAT_KEY], archive[SHAPES_KEY], path)
        if keys == {MONODEPTH2_KEY}:
            return _read_monodepth2_maps(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, GtDepthError):
            raise
        raise GtDepthError(f"cannot read {path}: {first_line(exc)}") from None
    raise GtDepthError(f"{path} holds {sorted(keys)}: expected '{FLAT_KEY}' and '{SHAPES_KEY}', or Monodepth2's "
                       f"'{MONODEPTH2_KEY}'")  # fmt: skip


def _split_maps(flat: np.ndarray, shapes: np.ndarray, path: Path) -> list[np.ndarray]:
    """Cut the concatenated values back into maps of ``shapes``."""
    if shapes.ndim != 2 or shapes.shape[1] != 2 or (shapes < 0).any() or flat.size != int(shapes.prod(1).sum()):
        raise GtDepthError(f"{path}: {flat.size} values do not fill the {len(shapes)} listed map shapes")
    ends = np.cumsum(shapes.prod(1))
    return [flat[end - h * w : end].astype(np.float32).reshape(h, w) for end, (h, w) in zip(ends, shapes)]


class _NumericArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (and their dtypes) only: any other global, such as ``os.system``, is refused."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise GtDepthError(f"refusing a pickled {module}.{name}: only numeric arrays are read")
        return super().find_class(module, name)


def _read_monodepth2_maps(path: Path) -> list[np.ndarray]:
    """Monodepth2's ``data`` object array, its pickle read by :class:`_NumericArrayUnpickler`."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{MONODEPTH2_KEY}.npy") as stream:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(stream)
        if not dtype.hasobject:
            raise GtDepthError(f"{path}: '{MONODEPTH2_KEY}' is a {dtype} array, expected one map per image")
        try:
            maps = _NumericArrayUnpickler(stream).load()
        except GtDepthError as exc:
            raise GtDepthError(f"{path}: {exc}") from None
        except (pickle.UnpicklingError, AttributeError, TypeError, IndexError) as exc:
            raise GtDepthError(f"{path}: corrupt '{MONODEPTH2_KEY}' ({exc})") from None
    if not isinstance(maps, np.ndarray) or any(
        not isinstance(depth, np.ndarray) or depth.dtype.kind not in "fiu" or depth.ndim != 2 for depth in maps
    ):
        raise GtDepthError(f"{path}: '{MONODEPTH2_KEY}' must hold 2-D numeric depth maps")
    return [depth.astype(np.float32) for depth in maps]
