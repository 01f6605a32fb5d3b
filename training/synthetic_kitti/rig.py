"""The KITTI recording car as the generator builds it: cameras, Velodyne and IMU placement, rotations, and the
calibration files (``calib_cam_to_cam.txt``, ``calib_velo_to_cam.txt``, ``calib_imu_to_velo.txt``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

KITTI_WIDTH_PX = 1242
KITTI_FOCAL_PX = 721.5377  # rectified fx = fy of the KITTI 2011_09_26 calibration at 1242 px wide
# (cx/W, cy/H) of that calibration's P_rect_02 (609.5593, 172.8540 px at 1242×375): left of and above the centre
KITTI_PRINCIPAL_POINT = (609.5593 / 1242, 172.8540 / 375)
IMAGE_CENTRE = (0.5, 0.5)
CAMERA_HEIGHT_M = 1.65  # rectified cameras above the road with the vehicle level
VELODYNE_HEIGHT_M = 1.73
IMU_HEIGHT_M = 0.93
STEREO_BASELINE_M = 0.54  # image_02 ↔ image_03
# Optical centres of cameras 0..3 along the rectified cam-0 x axis (right); cam 2 is 6 cm left of cam 0.
CAMERA_CENTRE_X_M = (0.0, 0.54, -0.06, -0.06 + STEREO_BASELINE_M)
# Mounting in the IMU frame (x forward, y left, z up).
VELODYNE_IN_IMU_M = (0.81, -0.32, VELODYNE_HEIGHT_M - IMU_HEIGHT_M)
CAMERA0_IN_IMU_M = (1.08, -0.32, CAMERA_HEIGHT_M - IMU_HEIGHT_M)
CAMERA2_IN_IMU_M = (CAMERA0_IN_IMU_M[0], CAMERA0_IN_IMU_M[1] - CAMERA_CENTRE_X_M[2], CAMERA0_IN_IMU_M[2])
# Small mounting rotations (rotation vectors, rad), of KITTI's magnitude, so that every calibration
# matrix matters: R_rect_00, the IMU→Velodyne rotation, and the unrectified cameras' R_0N.
RECTIFICATION_ROTVEC = (0.0043, -0.0074, 0.0098)
IMU_TO_VELODYNE_ROTVEC = (-0.0008, 0.0020, 0.0007)
UNRECTIFIED_CAMERA_ROTVECS = ((0.0, 0.0, 0.0), (0.0012, -0.0021, 0.0005), (-0.0009, 0.0016, 0.0011),
                              (0.0014, -0.0008, -0.0013))
UNRECTIFIED_DISTORTION = (-0.3728755, 0.2037299, 0.002219027, 0.001383707, -0.07233722)
CORNER_DIST_M = 0.0995
# Optical axes: camera x = −vehicle y, camera y = −vehicle z, camera z = vehicle x.
VEHICLE_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
VELODYNE_BEAMS = 64
VELODYNE_ELEVATION_DEG = (-24.9, 2.0)
VELODYNE_AZIMUTH_STEP_DEG = 0.2
MAX_RANGE_M = 120.0  # lidar range; dense depth beyond it is stored as 0 (invalid)


def rotation_from_rotvec(rotvec: Sequence[float]) -> np.ndarray:
    """3×3 rotation matrix of a rotation vector (axis × angle in radians)."""
    return Rotation.from_rotvec(rotvec).as_matrix()


def rotation_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """OXTS body orientation ``Rz(yaw)·Ry(pitch)·Rx(roll)`` (radians).

    Composed by hand, not with scipy's ``Rotation.from_euler("ZYX", …)``: that rounds differently in the last bit,
    and the generator's drives must stay byte-identical to those rendered so far.
    """
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    return rz @ ry @ rx


def rigid_transform(rotation: np.ndarray, translation: Sequence[float]) -> np.ndarray:
    """4×4 homogeneous transform ``[R | t]``."""
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = translation
    return transform


def as_written(values: np.ndarray) -> np.ndarray:
    """``values`` rounded as KITTI's ``%e`` calibration format stores them (7 significant digits)."""
    array = np.asarray(values, np.float64)
    return np.array([float(f"{v:e}") for v in array.ravel()]).reshape(array.shape)


@dataclass(frozen=True)
class Calibration:
    """The rig, with every matrix exactly as written to (and read back from) the calibration files."""

    height_px: int
    width_px: int
    K: np.ndarray  # 3×3 rectified intrinsics (pixels), identical for cameras 0..3
    R_rect_00: np.ndarray  # 3×3 unrectified → rectified cam 0
    P_rect: tuple[np.ndarray, ...]  # 3×4 per camera 0..3, in the rectified cam-0 frame
    R_unrect: tuple[np.ndarray, ...]  # 3×3 R_0N: cam 0 → unrectified cam N
    T_unrect: tuple[np.ndarray, ...]  # 3 T_0N (metres)
    R_rect: tuple[np.ndarray, ...]  # 3×3 R_rect_0N: unrectified cam N → rectified
    velo_from_imu: np.ndarray  # 4×4
    cam0_from_velo: np.ndarray  # 4×4, unrectified cam 0

    def camera_from_imu(self, cam: int) -> np.ndarray:
        """4×4 IMU → rectified camera ``cam`` (optical frame), composed from the written matrices."""
        rectify = rigid_transform(self.R_rect_00, (0.0, 0.0, 0.0))
        shift = rigid_transform(np.eye(3), np.linalg.solve(self.K, self.P_rect[cam][:, 3]))
        return shift @ rectify @ self.cam0_from_velo @ self.velo_from_imu


def make_calibration(width_px: int, height_px: int,
                     principal_point: tuple[float, float] = IMAGE_CENTRE) -> Calibration:
    """KITTI-like calibration for ``width_px × height_px`` images: focal length scaled from KITTI's
    1242 px, principal point at ``principal_point`` = (cx/W, cy/H) (default: exactly the image centre, which
    Monodepth2's fixed K assumes), rectified cameras level with the vehicle."""
    focal_px = KITTI_FOCAL_PX * width_px / KITTI_WIDTH_PX
    cx_px, cy_px = principal_point[0] * width_px, principal_point[1] * height_px
    K = as_written(np.array([[focal_px, 0.0, cx_px], [0.0, focal_px, cy_px], [0.0, 0.0, 1.0]]))
    R_rect_00 = rotation_from_rotvec(RECTIFICATION_ROTVEC)
    imu_to_velo_rotation = rotation_from_rotvec(IMU_TO_VELODYNE_ROTVEC)
    # Chosen so that IMU → rectified cam 0 is exactly the vehicle → optical axis permutation.
    velo_to_cam0_rotation = R_rect_00.T @ VEHICLE_TO_OPTICAL @ imu_to_velo_rotation.T
    velodyne_in_imu = np.array(VELODYNE_IN_IMU_M)
    velo_from_imu = rigid_transform(imu_to_velo_rotation, -imu_to_velo_rotation @ velodyne_in_imu)
    camera0_in_velo = (velo_from_imu @ np.append(CAMERA0_IN_IMU_M, 1.0))[:3]
    cam0_from_velo = rigid_transform(velo_to_cam0_rotation, -velo_to_cam0_rotation @ camera0_in_velo)
    P_rect, R_unrect, T_unrect, R_rect = [], [], [], []
    for centre_x_m, rotvec in zip(CAMERA_CENTRE_X_M, UNRECTIFIED_CAMERA_ROTVECS):
        P_rect.append(as_written(K @ np.hstack([np.eye(3), [[-centre_x_m], [0.0], [0.0]]])))
        rotation = rotation_from_rotvec(rotvec)
        centre_in_cam0 = R_rect_00.T @ np.array([centre_x_m, 0.0, 0.0])
        R_unrect.append(as_written(rotation))
        T_unrect.append(as_written(-rotation @ centre_in_cam0))
        R_rect.append(as_written(R_rect_00 @ rotation.T))
    return Calibration(
        height_px=height_px, width_px=width_px, K=K, R_rect_00=as_written(R_rect_00), P_rect=tuple(P_rect),
        R_unrect=tuple(R_unrect), T_unrect=tuple(T_unrect), R_rect=tuple(R_rect),
        velo_from_imu=as_written(velo_from_imu), cam0_from_velo=as_written(cam0_from_velo),
    )


def _calib_line(key: str, values: Sequence[float] | np.ndarray) -> str:
    return f"{key}: " + " ".join(f"{v:e}" for v in np.ravel(values)) + "\n"


def write_calibration(date_dir: Path, calib: Calibration) -> None:
    """``calib_cam_to_cam.txt``, ``calib_velo_to_cam.txt`` and ``calib_imu_to_velo.txt`` in KITTI's format."""
    size = (calib.width_px, calib.height_px)
    lines = ["calib_time: 09-Jan-2012 13:57:47\n", _calib_line("corner_dist", [CORNER_DIST_M])]
    for cam in range(4):
        lines += [
            _calib_line(f"S_0{cam}", size), _calib_line(f"K_0{cam}", calib.K),
            _calib_line(f"D_0{cam}", UNRECTIFIED_DISTORTION), _calib_line(f"R_0{cam}", calib.R_unrect[cam]),
            _calib_line(f"T_0{cam}", calib.T_unrect[cam]), _calib_line(f"S_rect_0{cam}", size),
            _calib_line(f"R_rect_0{cam}", calib.R_rect_00 if cam == 0 else calib.R_rect[cam]),
            _calib_line(f"P_rect_0{cam}", calib.P_rect[cam]),
        ]
    (date_dir / "calib_cam_to_cam.txt").write_text("".join(lines))
    (date_dir / "calib_velo_to_cam.txt").write_text(
        "calib_time: 15-Mar-2012 11:37:16\n" + _calib_line("R", calib.cam0_from_velo[:3, :3])
        + _calib_line("T", calib.cam0_from_velo[:3, 3]) + _calib_line("delta_f", [0.0, 0.0])
        + _calib_line("delta_c", [0.0, 0.0])
    )
    (date_dir / "calib_imu_to_velo.txt").write_text(
        "calib_time: 25-May-2012 16:47:16\n" + _calib_line("R", calib.velo_from_imu[:3, :3])
        + _calib_line("T", calib.velo_from_imu[:3, 3])
    )

