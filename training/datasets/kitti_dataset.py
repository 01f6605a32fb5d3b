"""KITTI datasets of Monodepth2: raw drives (Velodyne ground truth), odometry sequences, raw + annotated depth.

Every class uses Monodepth2's fixed normalised intrinsics (``KITTI_K_NORM``: fx 0.58, fy 1.92, principal
point at the image centre) and reports ``depth_gt`` at ``full_res_shape`` = 1242×375, resized with nearest
neighbour. That ground truth is for training-time logging only; evaluation builds its own
(``training.export_gt_depth``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from depth_ros.geometry import KITTI_K_NORM
from training.datasets.mono_dataset import MonoDataset
from training.datasets.splits import SIDE_TO_CAM, SplitLine
from training.gt_depth import generate_depth_map, load_annotated_depth

KITTI_FULL_RES_SHAPE = (1242, 375)  # (width, height) of depth_gt


def resize_depth_nearest(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H×W float32 depth → ``size`` = (width, height) with PIL nearest neighbour (no value interpolation)."""
    if depth.shape[::-1] == tuple(size):
        return depth.astype(np.float32, copy=False)
    return np.asarray(Image.fromarray(depth.astype(np.float32), mode="F").resize(size, Image.NEAREST))


class KITTIDataset(MonoDataset):
    """Common KITTI settings: the normalised intrinsics and the ground-truth size."""

    K_norm = KITTI_K_NORM
    full_res_shape = KITTI_FULL_RES_SHAPE

    def velodyne_path(self, folder: str, frame_index: int) -> Path:
        return self.data_path / folder / "velodyne_points" / "data" / f"{frame_index:010d}.bin"

    def check_depth(self) -> bool:
        line = SplitLine.parse(self.filenames[0])
        return self.velodyne_path(line.folder, line.frame_index).is_file()


class KITTIRAWDataset(KITTIDataset):
    """KITTI raw: ``<data_path>/<date>/<drive>/image_0{2,3}/data/%010d<ext>``; GT from the Velodyne scan.

    The training-time GT is Velodyne points projected with the official calibration, depth = camera z
    (Monodepth2's ``generate_depth_map(..., vel_depth=False)``).
    """

    def get_image_path(self, folder: str, frame_index: int, side: str | None) -> Path:
        return self.data_path / folder / f"image_0{SIDE_TO_CAM[side]}" / "data" / f"{frame_index:010d}{self.img_ext}"

    def required_files(self, line: SplitLine) -> list[Path]:
        """The images, and with Velodyne ground truth the scan and the date folder's calibration files."""
        paths = super().required_files(line)
        if self.load_depth:
            calib_dir = self.data_path / line.folder.split("/")[0]
            paths += [self.velodyne_path(line.folder, line.frame_index), calib_dir / "calib_cam_to_cam.txt",
                      calib_dir / "calib_velo_to_cam.txt"]  # fmt: skip
        return paths

    def get_depth(self, folder: str, frame_index: int, side: str | None) -> np.ndarray:
        calib_dir = self.data_path / folder.split("/")[0]
        depth = generate_depth_map(calib_dir, self.velodyne_path(folder, frame_index), cam=SIDE_TO_CAM[side])
        return resize_depth_nearest(depth, self.full_res_shape)


class KITTIOdomDataset(KITTIDataset):
    """KITTI odometry: ``<data_path>/sequences/%02d/image_{2,3}/%06d<ext>``; no ground truth."""

    def get_image_path(self, folder: str, frame_index: int, side: str | None) -> Path:
        return (self.data_path / "sequences" / f"{int(folder):02d}" / f"image_{SIDE_TO_CAM[side]}"
                / f"{frame_index:06d}{self.img_ext}")

    def check_depth(self) -> bool:
        return False


class KITTIDepthDataset(KITTIDataset):
    """KITTI raw images with the depth benchmark's annotated GT in ``<drive>/proj_depth/groundtruth/``.

    Unlike Monodepth2 (which inherits the Velodyne check), ``check_depth`` looks for the annotated PNG.
    """

    def get_image_path(self, folder: str, frame_index: int, side: str | None) -> Path:
        return self.data_path / folder / f"image_0{SIDE_TO_CAM[side]}" / "data" / f"{frame_index:010d}{self.img_ext}"

    def depth_path(self, folder: str, frame_index: int, side: str | None) -> Path:
        return (self.data_path / folder / "proj_depth" / "groundtruth" / f"image_0{SIDE_TO_CAM[side]}"
                / f"{frame_index:010d}.png")

    def check_depth(self) -> bool:
        line = SplitLine.parse(self.filenames[0])
        return line.side is not None and self.depth_path(line.folder, line.frame_index, line.side).is_file()

    def get_depth(self, folder: str, frame_index: int, side: str | None) -> np.ndarray:
        return resize_depth_nearest(load_annotated_depth(self.depth_path(folder, frame_index, side)),
                                    self.full_res_shape)
