"""Synthetic KITTI-raw drives with exact ground truth, written in the real KITTI raw layout and formats.

A procedurally textured street (road plane, kerbs, sidewalks, building façades, parked box cars, poles and
sky) is ray cast from a rectified stereo rig, a 64-beam Velodyne and an OXTS unit mounted as on the KITTI
car. Every drive gets images (image_02, image_03), Velodyne scans, OXTS packets, timestamps, dense true
depth in the KITTI depth-benchmark PNG format; the date directory gets the three calibration files.
Monodepth2 split files go to ``<out>/splits/synthetic``.

World frame: x east, y north, z up, road surface at z = 0 (metres). Texture is a function of world surface
coordinates and shading is Lambertian with a fixed sun, so a surface point looks the same from every pose.

    python -m training.synthetic_kitti --out DIR [--drives 2 --frames 40 --seed 0 --preview sheet.png]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from tqdm import tqdm

from depth_ros.visualize import colorize_depth

# --------------------------------------------------------------------------------------------- the rig

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
NEAR_PLANE_M = 0.05
RENDER_THREADS = 2

# --------------------------------------------------------------------------------------------- the drive

FRAME_PERIOD_NS = 100_000_000  # 10 Hz
DRIVE_INTERVAL_S = 600  # drive k starts at 13:00 + k·10 min (UTC) on the date
SPEED_M_PER_FRAME = (0.8, 1.2)
LANE_WEAVE_WAVELENGTH_M = (40.0, 80.0)
GRAVITY_M_S2 = 9.81
EARTH_RADIUS_M = 6378137.0
ORIGIN_LATITUDE_DEG = 49.009  # Karlsruhe
ORIGIN_LONGITUDE_DEG = 8.437
ORIGIN_ALTITUDE_M = 112.0
SCENE_BEHIND_M = 40.0  # scene extent behind the first frame (for the Velodyne's rear half)
SCENE_AHEAD_M = 130.0  # and ahead of the last frame

# --------------------------------------------------------------------------------------------- the street
# Lateral offsets d (metres, left positive) from the vehicle's path, the centre of the right lane.

LANE_LINES_M = (-1.75, 1.75, 5.25)  # solid right edge line, dashed centre line, solid left edge line
LANE_LINE_WIDTH_M = 0.12
DASH_PERIOD_M, DASH_LENGTH_M = 9.0, 3.0
ROAD_EDGES_M = (-4.0, 7.5)  # kerbs, with a parking strip inside each
KERB_WIDTH_M, KERB_HEIGHT_M = 0.2, 0.15
SIDEWALK_WIDTH_M, SIDEWALK_HEIGHT_M = 3.0, 0.13
STRIP_SEGMENT_M = 8.0  # kerbs and sidewalks follow the curve as straight segments
STRIP_OVERLAP_M = 0.3
PAVING_TILE_M, GROUT_WIDTH_M = 0.6, 0.04
BUILDING_LENGTH_M, BUILDING_DEPTH_M, BUILDING_HEIGHT_M = (8.0, 22.0), (8.0, 14.0), (6.0, 20.0)
BUILDING_SETBACK_M, BUILDING_GAP_M = (0.3, 3.0), (2.0, 8.0)
FLOOR_HEIGHT_M, WINDOW_SPACING_M = 3.2, (2.4, 3.6)
CAR_LENGTH_M, CAR_WIDTH_M, CAR_SPACING_M = (3.9, 4.6), (1.7, 1.85), (5.0, 11.0)  # spacing: centre to centre
CAR_BODY_Z_M, CAR_ROOF_Z_M = (0.2, 1.0), (1.4, 1.55)
CAR_KERB_GAP_M = 0.2
POLE_WIDTH_M, POLE_HEIGHT_M, POLE_SPACING_M = 0.14, (3.5, 6.0), (12.0, 30.0)
POLE_KERB_DISTANCE_M = 0.6

# --------------------------------------------------------------------------------------------- appearance

GROUND, SKY = -1, -2  # surface ids; boxes are 0..N-1
FACADE, KERB, SIDEWALK, CAR_BODY, CAR_GLASS, POLE = range(6)
NOISE_AMPLITUDE = np.array([0.30, 0.25, 0.35, 0.12, 0.20, 0.25], np.float32)  # per material
ROAD_NOISE_AMPLITUDE = 0.45
NOISE_WAVELENGTHS_M = (8.0, 3.0, 1.1, 0.4, 0.15)
NOISE_TILE_TEXELS, NOISE_TILE_CYCLES = 256, 8
REMAP_COLUMNS = 1024
ASPHALT_RGB = (0.30, 0.30, 0.32)
VERGE_RGB = (0.30, 0.38, 0.20)
MARKING_RGB = (0.88, 0.88, 0.84)
KERB_RGB = (0.62, 0.62, 0.60)
SIDEWALK_RGB = (0.58, 0.50, 0.45)
GROUT_RGB = (0.30, 0.28, 0.27)
ROOF_RGB = (0.30, 0.25, 0.24)
WINDOW_RGB = (0.12, 0.15, 0.20)
GLASS_RGB = (0.10, 0.12, 0.15)
POLE_RGB = (0.45, 0.47, 0.50)
FACADE_PALETTE = ((0.78, 0.72, 0.60), (0.65, 0.35, 0.28), (0.82, 0.80, 0.76), (0.55, 0.60, 0.66),
                  (0.70, 0.62, 0.45), (0.50, 0.48, 0.46))
CAR_PALETTE = ((0.70, 0.10, 0.10), (0.10, 0.20, 0.60), (0.85, 0.85, 0.85), (0.15, 0.15, 0.15),
               (0.20, 0.45, 0.25), (0.75, 0.60, 0.10), (0.50, 0.50, 0.55))
SKY_HORIZON_RGB, SKY_ZENITH_RGB = (0.78, 0.84, 0.92), (0.35, 0.55, 0.85)
SUN_DIRECTION = np.array([0.42, 0.30, 0.86]) / np.linalg.norm([0.42, 0.30, 0.86])  # world, towards the sun
AMBIENT, DIFFUSE = 0.45, 0.70

SPLIT_NAME = "synthetic"
PREVIEW_MIN_DEPTH_M = 3.0  # colour-map range of the preview, to 80 m
VAL_FRACTION = 0.1
OXTS_FIELDS = (
    ("lat", "latitude of the oxts-unit (deg)"),
    ("lon", "longitude of the oxts-unit (deg)"),
    ("alt", "altitude of the oxts-unit (m)"),
    ("roll", "roll angle (rad),    0 = level, positive = left side up,      range: -pi   .. +pi"),
    ("pitch", "pitch angle (rad),   0 = level, positive = front down,        range: -pi/2 .. +pi/2"),
    ("yaw", "heading (rad),       0 = east,  positive = counter clockwise, range: -pi   .. +pi"),
    ("vn", "velocity towards north (m/s)"),
    ("ve", "velocity towards east (m/s)"),
    ("vf", "forward velocity, i.e. parallel to earth-surface (m/s)"),
    ("vl", "leftward velocity, i.e. parallel to earth-surface (m/s)"),
    ("vu", "upward velocity, i.e. perpendicular to earth-surface (m/s)"),
    ("ax", "acceleration in x, i.e. in direction of vehicle front (m/s^2)"),
    ("ay", "acceleration in y, i.e. in direction of vehicle left (m/s^2)"),
    ("az", "acceleration in z, i.e. in direction of vehicle top (m/s^2)"),
    ("af", "forward acceleration (m/s^2)"),
    ("al", "leftward acceleration (m/s^2)"),
    ("au", "upward acceleration (m/s^2)"),
    ("wx", "angular rate around x (rad/s)"),
    ("wy", "angular rate around y (rad/s)"),
    ("wz", "angular rate around z (rad/s)"),
    ("wf", "angular rate around forward axis (rad/s)"),
    ("wl", "angular rate around leftward axis (rad/s)"),
    ("wu", "angular rate around upward axis (rad/s)"),
    ("pos_accuracy", "velocity accuracy (north/east in m)"),
    ("vel_accuracy", "velocity accuracy (north/east in m/s)"),
    ("navstat", "navigation status (see navstat_to_string)"),
    ("numsats", "number of satellites tracked by primary GPS receiver"),
    ("posmode", "position mode of primary GPS receiver (see gps_mode_to_string)"),
    ("velmode", "velocity mode of primary GPS receiver (see gps_mode_to_string)"),
    ("orimode", "orientation mode of primary GPS receiver (see gps_mode_to_string)"),
)
OXTS_STATUS = (0.05, 0.02, 4, 10, 4, 4, 0)  # pos_accuracy .. orimode


# ============================================================================================= geometry


def rotation_from_rotvec(rotvec: Sequence[float]) -> np.ndarray:
    """3×3 rotation matrix of a rotation vector (axis × angle in radians), Rodrigues' formula."""
    vector = np.asarray(rotvec, np.float64)
    angle = float(np.linalg.norm(vector))
    if angle == 0.0:
        return np.eye(3)
    x, y, z = vector / angle
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def rotation_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """OXTS body orientation ``Rz(yaw)·Ry(pitch)·Rx(roll)`` (radians)."""
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


# ============================================================================================= calibration


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


# ============================================================================================= the scene


@dataclass(frozen=True)
class DriveMotion:
    """How the car turns and sways. Learned intrinsics are identifiable only from rotation between frames (forward
    translation leaves them free): fx and cx from yaw, fy and cy from pitch and roll. The learned-intrinsics checks
    drive :data:`TURNING`; other profiles are data (:meth:`from_json`, ``--motion_file``), e.g. the study's in
    ``projects/learned_intrinsics/motions/``."""

    curve_radius_m: tuple[float, float]  # the road is an arc of a radius drawn from this range
    lane_weave_m: float  # amplitude of a sinusoidal weave within the lane (0: the lane centre)
    roll_sway_rad: float  # amplitude of the car body's roll oscillation (about the direction of travel)
    pitch_sway_rad: float  # amplitude of its pitch oscillation: tilts the direction of travel in the camera frame
    body_sway_wavelength_m: tuple[float, float] = (15.0, 30.0)  # drawn per drive for pitch and roll apart
    # amplitude of a yaw oscillation of the body away from the direction of travel: the roll's wavelength, a quarter
    # period behind it (a wobble); 0 keeps the body pointing where it goes
    yaw_sway_rad: float = 0.0
    # The point (IMU frame, metres) the body sways about: the IMU (a car's body), or the camera (a hand-held or
    # gimballed camera: sway then rotates the view without moving the camera). The OXTS velocities and
    # accelerations leave out the pivot's lever arm.
    sway_pivot_in_imu_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def from_json(cls, path: str | Path) -> DriveMotion:
        """A profile from a JSON object of these fields (pairs and triples as lists); ValueError names what is wrong.

        ``"sway_pivot_in_imu_m": "camera"`` sways about the left colour camera's centre (a hand-held or gimballed
        camera)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read motion profile {path}: {exc}") from None
        known = {f.name: f for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - set(known):
            extra = sorted(set(data) - set(known)) if isinstance(data, dict) else "not a JSON object"
            raise ValueError(f"motion profile {path}: unknown field(s) {extra}; known: {', '.join(known)}")
        if data.get("sway_pivot_in_imu_m") == "camera":
            data["sway_pivot_in_imu_m"] = CAMERA2_IN_IMU_M
        try:
            return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in data.items()})
        except TypeError as exc:
            raise ValueError(f"motion profile {path}: {exc}") from None


# ~0.25°/frame
GENTLE = DriveMotion(curve_radius_m=(150.0, 400.0), lane_weave_m=0.0, roll_sway_rad=0.005, pitch_sway_rad=0.005)
# ~0.6°/frame; ≤ 250 m of arc keeps within half a turn (road_coordinates wraps at ±π·R)
TURNING = DriveMotion(curve_radius_m=(80.0, 200.0), lane_weave_m=0.2, roll_sway_rad=0.02, pitch_sway_rad=0.02)
MOTIONS = {"gentle": GENTLE, "turning": TURNING}


@dataclass(frozen=True)
class RoadPath:
    """The vehicle's path: a circular arc in the world plane, parametrised by arc length s (metres)."""

    heading0_rad: float  # heading at s = 0 (0 = east, counter-clockwise), the path starts at the origin
    curvature_per_m: float  # signed, never 0; positive turns left

    def heading(self, s_m: np.ndarray | float) -> np.ndarray:
        return self.heading0_rad + self.curvature_per_m * np.asarray(s_m)

    def position(self, s_m: np.ndarray | float) -> np.ndarray:
        """(..., 2) world x, y of the path at arc length ``s_m``."""
        heading = self.heading(s_m)
        k = self.curvature_per_m
        return np.stack([(np.sin(heading) - math.sin(self.heading0_rad)) / k,
                         (math.cos(self.heading0_rad) - np.cos(heading)) / k], axis=-1)

    def offset_point(self, s_m: float, d_m: float) -> np.ndarray:
        """World x, y of the point ``d_m`` to the left of the path at arc length ``s_m``."""
        heading = float(self.heading(s_m))
        return self.position(s_m) + d_m * np.array([-math.sin(heading), math.cos(heading)])

    def road_coordinates(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc length s and lateral offset d (left positive) of world points, in metres."""
        k = self.curvature_per_m
        centre_x, centre_y = -math.sin(self.heading0_rad) / k, math.cos(self.heading0_rad) / k
        radius = np.hypot(x_m - centre_x, y_m - centre_y)
        start_angle = math.atan2(-centre_y, -centre_x)
        turns = (np.arctan2(y_m - centre_y, x_m - centre_x) - start_angle) / (2.0 * np.pi)
        angle = 2.0 * np.pi * (turns - np.floor(turns + 0.5))  # wrapped to [−π, π)
        return angle / k, 1.0 / k - math.copysign(1.0, k) * radius


@dataclass(frozen=True)
class Boxes:
    """Boxes standing on the world plane, each rotated about z by ``yaw``; arrays over boxes."""

    centre: np.ndarray  # N×3 (metres)
    yaw: np.ndarray  # N (radians)
    half_size: np.ndarray  # N×3 half extents along the box's own x, y, z (metres)
    material: np.ndarray  # N int
    colour: np.ndarray  # N×3 float32 albedo
    texture_offset: np.ndarray  # N: added to the horizontal surface coordinate (metres)
    window_spacing: np.ndarray  # N: façade window pitch (metres)

    def corners(self) -> np.ndarray:
        """N×8×3 world corners; corner k has the +half extent on axis a where bit a of k is set."""
        signs = np.array([[1.0 if k & (1 << a) else -1.0 for a in range(3)] for k in range(8)])
        local = signs[None] * self.half_size[:, None, :]
        c, s = np.cos(self.yaw)[:, None], np.sin(self.yaw)[:, None]
        x = c * local[..., 0] - s * local[..., 1]
        y = s * local[..., 0] + c * local[..., 1]
        return np.stack([x, y, local[..., 2]], axis=-1) + self.centre[:, None, :]


BOX_EDGES = np.array([(k, k | bit) for bit in (1, 2, 4) for k in range(8) if not k & bit])


class BoxBuilder:
    """Collects boxes placed in road coordinates (s along the path, d to its left)."""

    def __init__(self, path: RoadPath) -> None:
        self.path = path
        self.rows: list[tuple] = []

    def add(self, s_m: float, d_m: float, length_m: float, width_m: float, z_range_m: tuple[float, float],
            material: int, colour: Sequence[float], texture_offset_m: float = 0.0,
            window_spacing_m: float = 1.0, yaw_offset_rad: float = 0.0) -> None:
        """A box centred at (s, d), ``length_m`` along the road tangent, ``width_m`` across it."""
        x, y = self.path.offset_point(s_m, d_m)
        z_low, z_high = z_range_m
        self.rows.append(((x, y, (z_low + z_high) / 2.0), float(self.path.heading(s_m)) + yaw_offset_rad,
                          (length_m / 2.0, width_m / 2.0, (z_high - z_low) / 2.0), material, colour,
                          texture_offset_m, window_spacing_m))

    def build(self) -> Boxes:
        centre, yaw, half, material, colour, offset, spacing = zip(*self.rows)
        return Boxes(np.array(centre), np.array(yaw), np.array(half), np.array(material),
                     np.array(colour, np.float32), np.array(offset, np.float32),
                     np.array(spacing, np.float32))


@dataclass(frozen=True)
class Scene:
    """Everything a sensor can see: the ground plane z = 0 (road along ``path``) and the boxes."""

    path: RoadPath
    boxes: Boxes
    corners: np.ndarray  # N×8×3 world box corners
    lookup: BoxLookup
    noise_tile: np.ndarray  # tileable band-limited noise, float32, about zero mean, within [-1, 1]


def _noise_tile(rng: np.random.Generator) -> np.ndarray:
    """Tileable noise with a narrow band around ``NOISE_TILE_CYCLES`` cycles per tile."""
    size = NOISE_TILE_TEXELS
    frequency = np.fft.fftfreq(size) * size
    radius = np.hypot(frequency[:, None], frequency[None, :])
    band = np.exp(-0.5 * ((radius - NOISE_TILE_CYCLES) / (NOISE_TILE_CYCLES / 4.0)) ** 2)
    tile = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) * band))
    return np.clip(tile / (2.5 * tile.std()), -1.0, 1.0).astype(np.float32)


def _add_strips(boxes: BoxBuilder, s_range: tuple[float, float]) -> None:
    """Kerbs and sidewalks along both road edges."""
    for s_start in np.arange(*s_range, STRIP_SEGMENT_M):
        s_mid = s_start + STRIP_SEGMENT_M / 2.0
        length = STRIP_SEGMENT_M + STRIP_OVERLAP_M
        for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
            kerb_d = edge + outward * KERB_WIDTH_M / 2.0
            sidewalk_d = edge + outward * (KERB_WIDTH_M + SIDEWALK_WIDTH_M / 2.0)
            boxes.add(s_mid, kerb_d, length, KERB_WIDTH_M, (0.0, KERB_HEIGHT_M), KERB, KERB_RGB, s_start)
            boxes.add(s_mid, sidewalk_d, length, SIDEWALK_WIDTH_M, (0.0, SIDEWALK_HEIGHT_M), SIDEWALK,
                      SIDEWALK_RGB, s_start)


def _add_buildings(boxes: BoxBuilder, rng: np.random.Generator, s_range: tuple[float, float]) -> None:
    """Rows of façades behind both sidewalks, with occasional gaps."""
    for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
        inner_d = edge + outward * (KERB_WIDTH_M + SIDEWALK_WIDTH_M)
        s = s_range[0] - rng.uniform(0.0, 10.0)
        while s < s_range[1]:
            length, depth = rng.uniform(*BUILDING_LENGTH_M), rng.uniform(*BUILDING_DEPTH_M)
            d = inner_d + outward * (rng.uniform(*BUILDING_SETBACK_M) + depth / 2.0)
            colour = np.array(FACADE_PALETTE[rng.integers(len(FACADE_PALETTE))]) * rng.uniform(0.85, 1.1)
            boxes.add(s + length / 2.0, d, length, depth, (0.0, rng.uniform(*BUILDING_HEIGHT_M)), FACADE,
                      colour, rng.uniform(0.0, 100.0), rng.uniform(*WINDOW_SPACING_M))
            s += length + (0.0 if rng.random() < 0.4 else rng.uniform(*BUILDING_GAP_M))


def _add_parked_cars(boxes: BoxBuilder, rng: np.random.Generator, s_range: tuple[float, float]) -> None:
    """Box cars (body and glass cabin) parked along both kerbs."""
    for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
        s = s_range[0] + rng.uniform(0.0, 10.0)
        while s < s_range[1]:
            length, width = rng.uniform(*CAR_LENGTH_M), rng.uniform(*CAR_WIDTH_M)
            if rng.random() < 0.6:
                d = edge - outward * (CAR_KERB_GAP_M + width / 2.0)
                yaw = rng.uniform(-0.05, 0.05)
                colour = np.array(CAR_PALETTE[rng.integers(len(CAR_PALETTE))])
                boxes.add(s, d, length, width, CAR_BODY_Z_M, CAR_BODY, colour, rng.uniform(0.0, 100.0),
                          yaw_offset_rad=yaw)
                boxes.add(s - 0.1 * length, d, 0.55 * length, width - 0.1,
                          (CAR_BODY_Z_M[1], rng.uniform(*CAR_ROOF_Z_M)), CAR_GLASS, GLASS_RGB,
                          rng.uniform(0.0, 100.0), yaw_offset_rad=yaw)
            s += rng.uniform(*CAR_SPACING_M)


def _add_poles(boxes: BoxBuilder, rng: np.random.Generator, s_range: tuple[float, float]) -> None:
    """Thin poles on both sidewalks."""
    for edge, outward in ((ROAD_EDGES_M[0], -1.0), (ROAD_EDGES_M[1], 1.0)):
        d = edge + outward * (KERB_WIDTH_M + POLE_KERB_DISTANCE_M)
        s = s_range[0] + rng.uniform(0.0, POLE_SPACING_M[1])
        while s < s_range[1]:
            boxes.add(s, d, POLE_WIDTH_M, POLE_WIDTH_M, (0.0, rng.uniform(*POLE_HEIGHT_M)), POLE, POLE_RGB,
                      rng.uniform(0.0, 100.0))
            s += rng.uniform(*POLE_SPACING_M)


def build_scene(rng: np.random.Generator, path_length_m: float, motion: DriveMotion = GENTLE) -> Scene:
    """A random street around a curved path of ``path_length_m`` starting at the world origin."""
    radius = rng.uniform(*motion.curve_radius_m)
    path = RoadPath(heading0_rad=rng.uniform(-math.pi, math.pi),
                    curvature_per_m=(1.0 if rng.random() < 0.5 else -1.0) / radius)
    s_range = (-SCENE_BEHIND_M, path_length_m + SCENE_AHEAD_M)
    builder = BoxBuilder(path)
    _add_strips(builder, s_range)
    _add_buildings(builder, rng, s_range)
    _add_parked_cars(builder, rng, s_range)
    _add_poles(builder, rng, s_range)
    boxes = builder.build()
    return Scene(path=path, boxes=boxes, corners=boxes.corners(), lookup=BoxLookup.from_boxes(boxes),
                 noise_tile=_noise_tile(rng))


# ============================================================================================= ray casting


def _box_hit_depth(scene: Scene, index: int, origin: np.ndarray, ray_x: np.ndarray, ray_y: np.ndarray,
                   ray_z: np.ndarray, inverse_ray_z: np.ndarray) -> np.ndarray:
    """Ray parameter of the entry point into box ``index`` (slab test), +inf where the ray misses it.

    Rays are ``origin + t·ray`` in world coordinates; the origin must lie outside the box.
    """
    boxes = scene.boxes
    cos_yaw, sin_yaw = math.cos(boxes.yaw[index]), math.sin(boxes.yaw[index])
    relative = (origin - boxes.centre[index]).tolist()
    local_origin = (cos_yaw * relative[0] + sin_yaw * relative[1],
                    cos_yaw * relative[1] - sin_yaw * relative[0], relative[2])
    half = boxes.half_size[index].tolist()
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_x = 1.0 / (cos_yaw * ray_x + sin_yaw * ray_y)
        inverse_y = 1.0 / (cos_yaw * ray_y - sin_yaw * ray_x)
        near = far = None
        for inverse, o, h in zip((inverse_x, inverse_y, inverse_ray_z), local_origin, half):
            t_low, t_high = (-h - o) * inverse, (h - o) * inverse
            axis_near, axis_far = np.minimum(t_low, t_high), np.maximum(t_low, t_high)
            if near is None:
                near, far = axis_near, axis_far
            else:
                np.maximum(near, axis_near, out=near)
                np.minimum(far, axis_far, out=far)
        near[(near > far) | (near <= 0.0)] = np.inf
    return near


class Window(NamedTuple):
    """The rays that may hit a box: a rectangle of the ray grid, and a lower bound on the hit's t."""

    box: int
    rows: slice
    cols: slice
    min_t: float


def cast_rays(scene: Scene, origin: np.ndarray, rays: np.ndarray,
              windows: list[Window]) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of the rays ``origin + t·rays`` (rays: 3×H×W world, float32) with the ground and boxes.

    Each box is tested only against the rays of its window, nearest boxes first, and skipped when
    everything in its window is already hit nearer than the box can be.
    Returns t (H×W float32, +inf for sky) and the surface id (H×W int32: box index, GROUND or SKY).
    """
    ray_x, ray_y, ray_z = rays
    with np.errstate(divide="ignore"):
        inverse_ray_z = 1.0 / ray_z
    t = np.where(ray_z < 0.0, -float(origin[2]) * inverse_ray_z, np.inf).astype(np.float32)
    surface = np.where(np.isfinite(t), GROUND, SKY).astype(np.int32)
    for index, rows, cols, min_t in sorted(windows, key=lambda window: window.min_t):
        nearest_t = t[rows, cols]
        if min_t >= nearest_t.max():
            continue
        hit_t = _box_hit_depth(scene, index, origin, ray_x[rows, cols], ray_y[rows, cols], ray_z[rows, cols],
                               inverse_ray_z[rows, cols])
        closer = hit_t < nearest_t
        np.copyto(nearest_t, hit_t, where=closer)
        np.copyto(surface[rows, cols], index, where=closer)
    return t, surface


def camera_box_windows(scene: Scene, camera_from_world: np.ndarray, K: np.ndarray, height_px: int,
                       width_px: int) -> list[Window]:
    """Per box, the pixel rectangle bounding its projection (clipped at the near plane), if not empty;
    t is depth, so the box's nearest corner depth bounds it."""
    corners = scene.corners @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    start, end = corners[:, BOX_EDGES[:, 0]], corners[:, BOX_EDGES[:, 1]]
    start_z, end_z = start[..., 2], end[..., 2]
    crosses = (start_z > NEAR_PLANE_M) != (end_z > NEAR_PLANE_M)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (NEAR_PLANE_M - start_z) / (end_z - start_z)
    crossings = start + np.where(crosses, fraction, 0.0)[..., None] * (end - start)
    points = np.concatenate([corners, crossings], axis=1)
    valid = np.concatenate([corners[..., 2] > NEAR_PLANE_M, crosses], axis=1)
    depth = np.where(valid, np.maximum(points[..., 2], NEAR_PLANE_M), 1.0)
    u = K[0, 0] * points[..., 0] / depth + K[0, 2]
    v = K[1, 1] * points[..., 1] / depth + K[1, 2]
    u_low = np.floor(np.where(valid, u, np.inf).min(axis=1)).clip(-1, width_px) - 1
    u_high = np.ceil(np.where(valid, u, -np.inf).max(axis=1)).clip(-1, width_px) + 2
    v_low = np.floor(np.where(valid, v, np.inf).min(axis=1)).clip(-1, height_px) - 1
    v_high = np.ceil(np.where(valid, v, -np.inf).max(axis=1)).clip(-1, height_px) + 2
    min_depth = np.maximum(corners[..., 2].min(axis=1), NEAR_PLANE_M)
    windows = []
    for index in np.flatnonzero(valid.any(axis=1)):
        u0, u1 = max(int(u_low[index]), 0), min(int(u_high[index]), width_px)
        v0, v1 = max(int(v_low[index]), 0), min(int(v_high[index]), height_px)
        if u0 < u1 and v0 < v1:
            windows.append(Window(int(index), slice(v0, v1), slice(u0, u1), float(min_depth[index])))
    return windows


def lidar_box_windows(scene: Scene, velo_from_world: np.ndarray, columns: int) -> list[Window]:
    """Per box within range, the azimuth columns (all beams) that can see it, wrapping ranges split; t is
    range, bounded below by the distance to the box's bounding sphere."""
    corners = scene.corners @ velo_from_world[:3, :3].T + velo_from_world[:3, 3]
    centre = corners.mean(axis=1)
    reach = np.linalg.norm(corners - centre[:, None], axis=-1).max(axis=1)
    min_range = np.maximum(np.linalg.norm(centre, axis=1) - reach, 0.0)
    centre_azimuth = np.arctan2(centre[:, 1], centre[:, 0])
    relative = np.arctan2(corners[..., 1], corners[..., 0]) - centre_azimuth[:, None]
    relative = (relative + np.pi) % (2.0 * np.pi) - np.pi
    step = math.radians(VELODYNE_AZIMUTH_STEP_DEG)
    first = np.floor((centre_azimuth + relative.min(axis=1) + np.pi) / step).astype(int) - 1
    last = np.ceil((centre_azimuth + relative.max(axis=1) + np.pi) / step).astype(int) + 2
    surrounds = relative.max(axis=1) - relative.min(axis=1) > 0.95 * np.pi
    windows = []
    for index in np.flatnonzero(min_range < MAX_RANGE_M):
        if surrounds[index]:
            windows.append(Window(int(index), slice(None), slice(0, columns), float(min_range[index])))
            continue
        low, high = int(first[index]), int(last[index])
        for shift in (-columns, 0, columns):  # the part of [low, high) in each wrap of the column range
            u0, u1 = max(low + shift, 0), min(high + shift, columns)
            if u0 < u1:
                windows.append(Window(int(index), slice(None), slice(u0, u1), float(min_range[index])))
    return windows


# ============================================================================================= appearance


@dataclass(frozen=True)
class BoxLookup:
    """Per-box float32 tables (channel-first), gathered by the surface id of hit points."""

    cos_yaw: np.ndarray  # N
    sin_yaw: np.ndarray  # N
    centre: np.ndarray  # 3×N (metres)
    inverse_half_size: np.ndarray  # 3×N (1/metres)
    texture_offset: np.ndarray  # N (metres)
    window_spacing: np.ndarray  # N (metres)
    colour: np.ndarray  # 3×N
    noise_amplitude: np.ndarray  # N
    material: np.ndarray  # N

    @classmethod
    def from_boxes(cls, boxes: Boxes) -> BoxLookup:
        return cls(
            cos_yaw=np.cos(boxes.yaw).astype(np.float32), sin_yaw=np.sin(boxes.yaw).astype(np.float32),
            centre=np.ascontiguousarray(boxes.centre.T, np.float32),
            inverse_half_size=np.ascontiguousarray(1.0 / boxes.half_size.T, np.float32),
            texture_offset=boxes.texture_offset, window_spacing=boxes.window_spacing,
            colour=np.ascontiguousarray(boxes.colour.T), noise_amplitude=NOISE_AMPLITUDE[boxes.material],
            material=boxes.material,
        )


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[..., index]`` (np.take is several times faster than 2-D fancy indexing)."""
    return np.take(values, index, axis=-1)


def _scatter(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``target[..., index] = values``, row by row (1-D fancy assignment is the fast path)."""
    values = np.broadcast_to(values, (*target.shape[:-1], index.size))
    for row in np.ndindex(target.shape[:-1]):
        target[row][index] = values[row]


def _fraction(x: np.ndarray) -> np.ndarray:
    """x − floor(x) (much faster than np.mod)."""
    return x - np.floor(x)


def _box_filter_interval(x: np.ndarray, low: float, high: float, blur: np.ndarray) -> np.ndarray:
    """Fraction of the footprint ``[x − blur/2, x + blur/2]`` inside ``[low, high]`` (anti-aliased step)."""
    overlap = np.minimum(x + blur / 2.0, high) - np.maximum(x - blur / 2.0, low)
    return np.clip(overlap / blur, 0.0, 1.0)


def _periodic_coverage(x: np.ndarray, period: np.ndarray | float, low: float, high: float,
                       blur: np.ndarray) -> np.ndarray:
    """Anti-aliased indicator of ``low ≤ frac(x / period) < high`` (low, high in [0, 1])."""
    phase = _fraction(x / period)
    blur = np.minimum(blur / period, 1.0)
    return sum(_box_filter_interval(phase, low + wrap, high + wrap, blur) for wrap in (-1.0, 0.0, 1.0))


def _fractal_noise(tile: np.ndarray, u_m: np.ndarray, v_m: np.ndarray, footprint_m: np.ndarray,
                   seed_offset: float) -> np.ndarray:
    """Sum of octaves of the noise tile at surface coordinates (metres), each octave faded out as its
    wavelength approaches two pixel footprints (so textures do not alias)."""
    total = np.zeros(u_m.shape, np.float32)
    if total.size == 0:
        return total
    texels_per_wavelength = NOISE_TILE_TEXELS / NOISE_TILE_CYCLES
    half_inverse_footprint = 0.5 / footprint_m
    # cv2.remap wants maps under 32767 rows and columns: sample on a padded 2-D layout.
    padded = -(-total.size // REMAP_COLUMNS) * REMAP_COLUMNS
    map_u, map_v = np.zeros(padded, np.float32), np.zeros(padded, np.float32)
    for octave, wavelength in enumerate(NOISE_WAVELENGTHS_M):
        weight = np.clip(wavelength * half_inverse_footprint - 1.0, 0.0, 1.0)
        tiles_per_m = texels_per_wavelength / wavelength / NOISE_TILE_TEXELS
        offset = (seed_offset + 37.0 * octave) / NOISE_TILE_TEXELS
        map_u[: total.size] = _fraction(u_m * tiles_per_m + offset) * NOISE_TILE_TEXELS
        map_v[: total.size] = _fraction(v_m * tiles_per_m + 0.61 * offset) * NOISE_TILE_TEXELS
        sample = cv2.remap(tile, map_u.reshape(-1, REMAP_COLUMNS), map_v.reshape(-1, REMAP_COLUMNS),
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        total += weight * sample.ravel()[: total.size]
    return total


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise dot product of 3×N arrays."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _blend(base: np.ndarray, overlay_rgb: Sequence[float] | np.ndarray, amount: np.ndarray) -> np.ndarray:
    """(1 − amount)·base + amount·overlay for channel-first colours (3×N)."""
    overlay = np.asarray(overlay_rgb, np.float32).reshape(3, -1)
    return base + amount * (overlay - base)


def _ground_albedo(scene: Scene, x_m: np.ndarray, y_m: np.ndarray, footprint_m: np.ndarray) -> np.ndarray:
    """3×N albedo: asphalt with lane markings between the kerbs, grass verge outside them."""
    s, d = scene.path.road_coordinates(x_m, y_m)
    on_road = (d > ROAD_EDGES_M[0]) & (d < ROAD_EDGES_M[1])
    gain = 1.0 + ROAD_NOISE_AMPLITUDE * _fractal_noise(scene.noise_tile, x_m, y_m, footprint_m, 0.0)
    albedo = np.stack([np.where(on_road, asphalt, verge) * gain
                       for asphalt, verge in zip(np.float32(ASPHALT_RGB), np.float32(VERGE_RGB))])
    half_width = LANE_LINE_WIDTH_M / 2.0
    right_line, centre_line, left_line = (_box_filter_interval(d, line - half_width, line + half_width,
                                                               footprint_m) for line in LANE_LINES_M)
    dashes = _periodic_coverage(s, DASH_PERIOD_M, 0.0, DASH_LENGTH_M / DASH_PERIOD_M, footprint_m)
    marking = np.maximum(np.maximum(right_line, left_line), centre_line * dashes) * on_road
    return _blend(albedo, MARKING_RGB, marking)


def _box_surface(lookup: BoxLookup, points: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, ...]:
    """For hit points (3×N world) on boxes: world normal (3×N), top-face mask, and surface coordinates
    u (horizontal along the face) and v (height on side faces), in metres."""
    cos_yaw, sin_yaw = lookup.cos_yaw[box], lookup.sin_yaw[box]
    relative_x, relative_y, relative_z = points - _gather(lookup.centre, box)
    local_x = cos_yaw * relative_x + sin_yaw * relative_y
    local_y = cos_yaw * relative_y - sin_yaw * relative_x
    extent_x, extent_y, extent_z = (np.abs(local) * lookup.inverse_half_size[axis][box]
                                    for axis, local in enumerate((local_x, local_y, relative_z)))
    on_x = (extent_x >= extent_y) & (extent_x >= extent_z)
    on_top = ~on_x & (extent_z > extent_y)
    on_y = ~on_x & ~on_top
    sign_x, sign_y = np.sign(local_x) * on_x, np.sign(local_y) * on_y
    normal = np.stack([cos_yaw * sign_x - sin_yaw * sign_y, sin_yaw * sign_x + cos_yaw * sign_y,
                       np.sign(relative_z) * on_top])
    u = np.where(on_x, local_y, local_x) + lookup.texture_offset[box]
    v = np.where(on_top, local_y, points[2])
    return normal, on_top, u, v


def _box_albedo(scene: Scene, box: np.ndarray, on_top: np.ndarray, u: np.ndarray, v: np.ndarray,
                footprint_m: np.ndarray) -> np.ndarray:
    """3×N albedo: noise-modulated box colours, façade windows and roofs, sidewalk paving."""
    lookup = scene.lookup
    material = lookup.material[box]
    noise = _fractal_noise(scene.noise_tile, u, v, footprint_m, 101.0)
    albedo = _gather(lookup.colour, box) * (1.0 + lookup.noise_amplitude[box] * noise)
    side = np.flatnonzero((material == FACADE) & ~on_top)
    windows = (_periodic_coverage(u[side], lookup.window_spacing[box[side]], 0.25, 0.75, footprint_m[side])
               * _periodic_coverage(v[side], FLOOR_HEIGHT_M, 0.3, 0.8, footprint_m[side])
               * (v[side] > FLOOR_HEIGHT_M))
    window_rgb = np.float32(WINDOW_RGB)[:, None] * (1.0 + 0.3 * noise[side])
    _scatter(albedo, side, _blend(_gather(albedo, side), window_rgb, windows))
    roof = np.flatnonzero((material == FACADE) & on_top)
    _scatter(albedo, roof, np.float32(ROOF_RGB)[:, None] * (1.0 + 0.3 * noise[roof]))
    paving = np.flatnonzero((material == SIDEWALK) & on_top)
    grout_fraction = GROUT_WIDTH_M / PAVING_TILE_M
    grout = np.maximum(_periodic_coverage(u[paving], PAVING_TILE_M, 0.0, grout_fraction, footprint_m[paving]),
                       _periodic_coverage(v[paving], PAVING_TILE_M, 0.0, grout_fraction, footprint_m[paving]))
    _scatter(albedo, paving, _blend(_gather(albedo, paving), GROUT_RGB, grout))
    return albedo


def surface_appearance(scene: Scene, points: np.ndarray, box: np.ndarray, ray_unit: np.ndarray,
                       footprint_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (3×N float32, ~[0, 1]) and world normal (3×N) of hit points (3×N world, metres).

    The points are ordered ground hits first, then the hits on boxes, whose box indices ``box`` lists.
    ``footprint_m`` is the sampling footprint at normal incidence; it is widened for oblique surfaces.
    """
    albedo = np.empty_like(points)
    normal = np.zeros_like(points)
    ground = slice(0, points.shape[1] - box.size)
    on_box = slice(ground.stop, None)
    normal[2, ground] = 1.0
    obliquity = np.sqrt(np.maximum(np.abs(ray_unit[2, ground]), 0.05))
    albedo[:, ground] = _ground_albedo(scene, points[0, ground], points[1, ground],
                                       footprint_m[ground] / obliquity)
    box_normal, on_top, u, v = _box_surface(scene.lookup, points[:, on_box], box)
    normal[:, on_box] = box_normal
    obliquity = np.sqrt(np.maximum(np.abs(_dot(normal[:, on_box], ray_unit[:, on_box])), 0.05))
    albedo[:, on_box] = _box_albedo(scene, box, on_top, u, v, footprint_m[on_box] / obliquity)
    return albedo, normal


# ============================================================================================= sensors


def pixel_rays(K: np.ndarray, height_px: int, width_px: int) -> np.ndarray:
    """3×(H·W) camera-frame rays through pixel centres (integer coordinates), scaled to z = 1."""
    u = (np.arange(width_px, dtype=np.float64) - K[0, 2]) / K[0, 0]
    v = (np.arange(height_px, dtype=np.float64) - K[1, 2]) / K[1, 1]
    rays = np.stack([np.broadcast_to(u[None], (height_px, width_px)),
                     np.broadcast_to(v[:, None], (height_px, width_px)), np.ones((height_px, width_px))])
    return rays.reshape(3, -1).astype(np.float32)


def _rotate(rotation: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``rotation @ vectors`` for 3×N float32 vectors, row by row (BLAS is slow for this shape)."""
    return np.stack([sum(float(rotation[row, col]) * vectors[col] for col in range(3)) for row in range(3)])


def _trace(scene: Scene, world_from_sensor: np.ndarray, sensor_rays: np.ndarray, grid_shape: tuple[int, int],
           windows: list[Window], footprint_per_m: float) -> dict[str, np.ndarray]:
    """Cast 3×M sensor-frame rays (laid out as ``grid_shape``) and shade their hits.

    Returns world rays (3×M), ray parameter t (M, +inf for sky), the hit indices, and albedo and normal
    (3×K) of those hits; ``footprint_per_m`` is the pixel footprint per metre of range.
    """
    origin = world_from_sensor[:3, 3]
    rays = _rotate(world_from_sensor[:3, :3], sensor_rays)
    t, surface = cast_rays(scene, origin, rays.reshape(3, *grid_shape), windows)
    t, surface = t.ravel(), surface.ravel()
    on_box = np.flatnonzero(surface >= 0)
    hit = np.concatenate([np.flatnonzero(surface == GROUND), on_box])  # as surface_appearance wants them
    hit_rays, hit_t = _gather(rays, hit), t[hit]
    ray_length = np.sqrt(_dot(hit_rays, hit_rays))
    points = origin.astype(np.float32)[:, None] + hit_t * hit_rays
    albedo, normal = surface_appearance(scene, points, surface[on_box], hit_rays / ray_length,
                                        hit_t * ray_length * np.float32(footprint_per_m))
    return {"rays": rays, "t": t, "hit": hit, "albedo": albedo, "normal": normal}


def render_camera(scene: Scene, world_from_camera: np.ndarray, K: np.ndarray, camera_rays: np.ndarray,
                  height_px: int, width_px: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB image (H×W×3 uint8) and depth (H×W float32 metres along the optical axis, 0 = invalid).

    ``camera_rays`` are :func:`pixel_rays`; with their z = 1 the ray parameter is the depth.
    """
    windows = camera_box_windows(scene, np.linalg.inv(world_from_camera), K, height_px, width_px)
    traced = _trace(scene, world_from_camera, camera_rays, (height_px, width_px), windows, 1.0 / K[0, 0])
    rays, depth, hit = traced["rays"], traced["t"], traced["hit"]
    lambert = np.maximum(SUN_DIRECTION.astype(np.float32) @ traced["normal"], 0.0)
    colour = np.empty((3, depth.size), np.float32)
    _scatter(colour, hit, traced["albedo"] * (AMBIENT + DIFFUSE * lambert))
    sky = np.flatnonzero(~np.isfinite(depth))
    sky_rays = _gather(rays, sky)
    elevation = np.clip(2.5 * sky_rays[2] / np.sqrt(_dot(sky_rays, sky_rays)), 0.0, 1.0)
    _scatter(colour, sky, _blend(np.float32(SKY_HORIZON_RGB)[:, None], SKY_ZENITH_RGB, elevation))
    channels = np.clip(colour * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8).reshape(3, height_px, width_px)
    depth = np.where(depth <= MAX_RANGE_M, depth, 0.0).astype(np.float32).reshape(height_px, width_px)
    return cv2.merge(list(channels)), depth


def velodyne_rays() -> np.ndarray:
    """3×(64·C) unit ray directions of the Velodyne (velo frame), beam-major from the top beam, each beam
    sweeping azimuth from −π in ``VELODYNE_AZIMUTH_STEP_DEG`` steps."""
    elevation = np.radians(np.linspace(VELODYNE_ELEVATION_DEG[1], VELODYNE_ELEVATION_DEG[0], VELODYNE_BEAMS))
    azimuth = -np.pi + (np.arange(velodyne_columns()) + 0.5) * math.radians(VELODYNE_AZIMUTH_STEP_DEG)
    rays = np.stack([np.cos(elevation)[:, None] * np.cos(azimuth)[None],
                     np.cos(elevation)[:, None] * np.sin(azimuth)[None],
                     np.broadcast_to(np.sin(elevation)[:, None], (VELODYNE_BEAMS, azimuth.size))])
    return rays.reshape(3, -1).astype(np.float32)


def velodyne_columns() -> int:
    return round(360.0 / VELODYNE_AZIMUTH_STEP_DEG)


def scan_velodyne(scene: Scene, world_from_velo: np.ndarray, lidar_rays: np.ndarray) -> np.ndarray:
    """N×4 float32 Velodyne points (x, y, z in the velo frame, metres; reflectance in [0, 1]) within range."""
    columns = velodyne_columns()
    windows = lidar_box_windows(scene, np.linalg.inv(world_from_velo), columns)
    traced = _trace(scene, world_from_velo, lidar_rays, (VELODYNE_BEAMS, columns), windows,
                    math.radians(VELODYNE_AZIMUTH_STEP_DEG))
    distance = traced["t"][traced["hit"]]
    kept = np.flatnonzero(distance <= MAX_RANGE_M)
    kept = kept[np.argsort(traced["hit"][kept])]  # firing order: beam by beam, azimuth from −π
    points = distance[kept] * _gather(lidar_rays, traced["hit"][kept])
    reflectance = np.clip(_gather(traced["albedo"], kept).mean(axis=0), 0.0, 1.0)
    return np.column_stack([points.T, reflectance]).astype(np.float32)


# ============================================================================================= the drive


@dataclass(frozen=True)
class Trajectory:
    """A drive's IMU poses (world frame of the scene) and the OXTS packets describing them."""

    world_from_imu: np.ndarray  # F×4×4
    oxts: list[list[float]]  # F rows of the 30 OXTS fields


def _mercator_to_geodetic(x_m: np.ndarray, y_m: np.ndarray, latitude0_deg: float,
                          longitude0_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Latitude, longitude (deg) of local east/north offsets, inverting the devkit's Mercator projection
    with scale ``cos(latitude0)`` (the first packet's latitude)."""
    scaled_radius = math.cos(math.radians(latitude0_deg)) * EARTH_RADIUS_M
    east = scaled_radius * math.radians(longitude0_deg) + x_m
    north = scaled_radius * math.log(math.tan(math.radians(90.0 + latitude0_deg) / 2.0)) + y_m
    return np.degrees(2.0 * np.arctan(np.exp(north / scaled_radius))) - 90.0, np.degrees(east / scaled_radius)


def drive_trajectory(path: RoadPath, rng: np.random.Generator, frames: int, motion: DriveMotion = GENTLE) -> Trajectory:
    """IMU poses at a steady pace along the road, weaving within the lane with a gentle body sway, and the
    matching OXTS packets."""
    speed_m_per_frame = rng.uniform(*SPEED_M_PER_FRAME)
    speed = speed_m_per_frame * 1e9 / FRAME_PERIOD_NS  # m/s
    s = np.arange(frames) * speed_m_per_frame
    sway_wavenumber = 2.0 * np.pi / rng.uniform(*motion.body_sway_wavelength_m, size=2)
    sway_phase = rng.uniform(0.0, 2.0 * np.pi, size=2)
    sway = list(zip(sway_wavenumber, sway_phase))
    amplitudes = (motion.roll_sway_rad, motion.pitch_sway_rad)
    roll, pitch = (a * np.sin(k * s + phase) for a, (k, phase) in zip(amplitudes, sway))
    roll_rate, pitch_rate = (a * k * speed * np.cos(k * s + phase) for a, (k, phase) in zip(amplitudes, sway))
    weave_wavenumber = 2.0 * np.pi / rng.uniform(*LANE_WEAVE_WAVELENGTH_M)
    weave_phase = rng.uniform(0.0, 2.0 * np.pi)
    lateral = motion.lane_weave_m * np.sin(weave_wavenumber * s + weave_phase)  # left of the path (m)
    lateral_slope = motion.lane_weave_m * weave_wavenumber * np.cos(weave_wavenumber * s + weave_phase)
    lateral_curvature = -weave_wavenumber**2 * lateral
    travel = path.heading(s) + np.arctan(lateral_slope)  # heading of the velocity
    roll_k, roll_phase = sway[0]
    yaw_sway_phase = roll_k * s + roll_phase - np.pi / 2.0  # a quarter period behind the roll
    yaw = travel + motion.yaw_sway_rad * np.sin(yaw_sway_phase)  # the body's heading
    yaw_sway_rate = motion.yaw_sway_rad * roll_k * speed * np.cos(yaw_sway_phase)
    path_xy = np.stack([path.offset_point(float(s_i), float(d_i)) for s_i, d_i in zip(s, lateral)])
    rotations = [rotation_from_rpy(r, p, y) for r, p, y in zip(roll, pitch, yaw)]
    levels = [rotation_from_rpy(0.0, 0.0, y) for y in yaw]
    # The body sways about the pivot: the pivot stays where the level car pointing along its travel would carry it,
    # the IMU moves about it.
    pivot = np.array(motion.sway_pivot_in_imu_m)
    position = np.c_[path_xy, np.full(frames, IMU_HEIGHT_M)] + np.stack(
        [(rotation_from_rpy(0.0, 0.0, t) - rotation) @ pivot for t, rotation in zip(travel, rotations)])
    latitude0 = round(ORIGIN_LATITUDE_DEG + rng.uniform(-0.01, 0.01), 6)
    longitude0 = round(ORIGIN_LONGITUDE_DEG + rng.uniform(-0.01, 0.01), 6)
    latitude, longitude = _mercator_to_geodetic(position[:, 0], position[:, 1], latitude0, longitude0)
    # Speed over ground (m/s): the lane offset stretches the path by (1 − κ·d) and the weave by its slope.
    ground_speed = speed * np.hypot(1.0 - path.curvature_per_m * lateral, lateral_slope)
    travel_rates = (path.curvature_per_m + lateral_curvature / (1.0 + lateral_slope**2)) * speed  # rad/s
    yaw_rates = travel_rates + yaw_sway_rate
    poses, rows = [], []
    for i, (rotation, level) in enumerate(zip(rotations, levels)):
        poses.append(rigid_transform(rotation, position[i]))
        yaw_rate = yaw_rates[i]
        velocity = ground_speed[i] * np.array([math.cos(travel[i]), math.sin(travel[i]), 0.0])
        specific_force = ground_speed[i] * travel_rates[i] * np.array([-math.sin(travel[i]), math.cos(travel[i]), 0.0])
        specific_force[2] += GRAVITY_M_S2
        body_rates = np.array([roll_rate[i], pitch_rate[i], 0.0]) + yaw_rate * rotation[2]  # Rᵀ·(0, 0, ω)
        level_rates = np.array([roll_rate[i], pitch_rate[i], yaw_rate])
        rows.append([latitude[i], longitude[i], ORIGIN_ALTITUDE_M + position[i, 2], roll[i], pitch[i],
                     (yaw[i] + np.pi) % (2.0 * np.pi) - np.pi, velocity[1], velocity[0],
                     *(level.T @ velocity), *(rotation.T @ specific_force), *(level.T @ specific_force),
                     *body_rates, *level_rates, *OXTS_STATUS])
    return Trajectory(world_from_imu=np.stack(poses), oxts=rows)


def _format_oxts(row: Sequence[float]) -> str:
    floats = len(row) - 5
    return " ".join([f"{v:.14g}" for v in row[:floats]] + [str(int(v)) for v in row[floats:]]) + "\n"


def _format_timestamp(nanoseconds: int) -> str:
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, tz=timezone.utc):%Y-%m-%d %H:%M:%S}.{fraction:09d}"


def _write_png(path: Path, image: np.ndarray) -> None:
    """RGB uint8 or single-channel uint16 PNG."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), pixels):
        raise OSError(f"{path}: could not write PNG")


def _depth_png(depth_m: np.ndarray) -> np.ndarray:
    """KITTI depth-benchmark encoding: uint16 metres × 256, 0 = invalid."""
    return np.clip(np.round(depth_m * 256.0), 0, 65535).astype(np.uint16)


def _drive_directories(drive_dir: Path) -> dict[str, Path]:
    names = {
        "image_02": drive_dir / "image_02" / "data",
        "image_03": drive_dir / "image_03" / "data",
        "velodyne": drive_dir / "velodyne_points" / "data",
        "oxts": drive_dir / "oxts" / "data",
        "depth_02": drive_dir / "proj_depth" / "groundtruth" / "image_02",
        "depth_03": drive_dir / "proj_depth" / "groundtruth" / "image_03",
    }
    for directory in names.values():
        directory.mkdir(parents=True, exist_ok=True)
    return names


def _write_drive_metadata(drive_dir: Path, trajectory: Trajectory, start_ns: int) -> None:
    """Timestamps for every sensor and ``oxts/dataformat.txt``."""
    stamps = "".join(_format_timestamp(start_ns + i * FRAME_PERIOD_NS) + "\n"
                     for i in range(len(trajectory.oxts)))
    for sensor in ("image_02", "image_03", "velodyne_points", "oxts"):
        (drive_dir / sensor / "timestamps.txt").write_text(stamps)
    (drive_dir / "oxts" / "dataformat.txt").write_text(
        "".join(f"{f'{name}:':<14}{description}\n" for name, description in OXTS_FIELDS))


def generate_drive(drive_dir: Path, calib: Calibration, rng: np.random.Generator, frames: int,
                   start_ns: int, progress: tqdm, motion: DriveMotion = GENTLE) -> None:
    """Render and write one drive of ``frames`` frames."""
    trajectory_length = (frames - 1) * SPEED_M_PER_FRAME[1]
    scene = build_scene(rng, trajectory_length, motion)
    trajectory = drive_trajectory(scene.path, rng, frames, motion)
    directories = _drive_directories(drive_dir)
    _write_drive_metadata(drive_dir, trajectory, start_ns)
    camera_rays = pixel_rays(calib.K, calib.height_px, calib.width_px)
    lidar_rays = velodyne_rays()
    imu_from_camera = {cam: np.linalg.inv(calib.camera_from_imu(cam)) for cam in (2, 3)}
    imu_from_velo = np.linalg.inv(calib.velo_from_imu)
    # numpy, cv2.remap and PNG encoding release the GIL: the two cameras, the scan and the previous
    # frame's file writes run on RENDER_THREADS threads.
    with ThreadPoolExecutor(max_workers=RENDER_THREADS) as pool:
        writes: list[Future] = []
        for frame, world_from_imu in enumerate(trajectory.world_from_imu):
            name = f"{frame:010d}"
            renders = {cam: pool.submit(render_camera, scene, world_from_imu @ imu_from_camera[cam], calib.K,
                                        camera_rays, calib.height_px, calib.width_px) for cam in (2, 3)}
            scan = pool.submit(scan_velodyne, scene, world_from_imu @ imu_from_velo, lidar_rays)
            (directories["oxts"] / f"{name}.txt").write_text(_format_oxts(trajectory.oxts[frame]))
            for future in writes:
                future.result()
            points = scan.result().astype("<f4")
            writes = [pool.submit(points.tofile, directories["velodyne"] / f"{name}.bin")]
            for cam, render in renders.items():
                image, depth = render.result()
                writes += [pool.submit(_write_png, directories[f"image_0{cam}"] / f"{name}.png", image),
                           pool.submit(_write_png, directories[f"depth_0{cam}"] / f"{name}.png",
                                       _depth_png(depth))]
            progress.update(1)
        for future in writes:
            future.result()


# ============================================================================================= splits


def split_lines(date: str, drive_names: Sequence[str], frames: int,
                rng: np.random.Generator) -> dict[str, list[str]]:
    """Monodepth2 ``train``/``val``/``test`` lines ``<date>/<drive> <frame> <side>`` over frames with both
    neighbours. The last drive is held out for test (``%010d`` frames, left camera); with one drive the
    frames are cut into contiguous train / val / test blocks."""
    inner = list(range(1, frames - 1))
    if len(drive_names) > 1:
        candidates = [(drive, frame) for drive in drive_names[:-1] for frame in inner]
        order = rng.permutation(len(candidates))
        val_count = max(1, round(VAL_FRACTION * len(candidates)))
        val = sorted(candidates[i] for i in order[:val_count])
        train = sorted(candidates[i] for i in order[val_count:])
        test = [(drive_names[-1], frame) for frame in inner]
    else:
        val_count, test_count = max(1, round(0.1 * len(inner))), max(1, round(0.2 * len(inner)))
        train_count = len(inner) - val_count - test_count
        if train_count < 1:
            raise ValueError(f"one drive of {frames} frames is too short to split; use at least 5 frames")
        val_end = train_count + val_count
        blocks = inner[:train_count], inner[train_count:val_end], inner[val_end:]
        train, val, test = ([(drive_names[0], frame) for frame in block] for block in blocks)
    sides = "lr"
    return {
        "train": [f"{date}/{drive} {frame} {sides[rng.integers(2)]}" for drive, frame in train],
        "val": [f"{date}/{drive} {frame} {sides[rng.integers(2)]}" for drive, frame in val],
        "test": [f"{date}/{drive} {frame:010d} l" for drive, frame in test],
    }


def write_splits(out_dir: Path, lines: dict[str, list[str]]) -> Path:
    split_dir = out_dir / "splits" / SPLIT_NAME
    split_dir.mkdir(parents=True, exist_ok=True)
    for name, split in lines.items():
        (split_dir / f"{name}_files.txt").write_text("".join(line + "\n" for line in split))
    return split_dir


# ============================================================================================= entry points


def generate(out_dir: str | Path, drives: int = 2, frames: int = 40, seed: int = 0, width: int = 1242,
             height: int = 375, date: str = "2011_09_26", motion: DriveMotion = GENTLE,
             principal_point: tuple[float, float] = IMAGE_CENTRE) -> list[Path]:
    """Write ``drives`` synthetic drives of ``frames`` frames under ``out_dir/<date>``; return their dirs.

    ``principal_point``: (cx/W, cy/H) of the rectified cameras, e.g. :data:`KITTI_PRINCIPAL_POINT`.
    Deterministic in ``seed``; drive k depends only on (seed, k, frames, size, motion, principal point).
    """
    if drives < 1 or frames < 3:
        raise ValueError(f"need at least 1 drive of at least 3 frames, got {drives} × {frames}")
    start = datetime.strptime(date, "%Y_%m_%d").replace(hour=13, tzinfo=timezone.utc)
    # One random stream per drive (drive k's does not depend on how many drives there are), one for splits.
    streams = np.random.SeedSequence(seed).spawn(drives + 1)
    drive_names = [f"{date}_drive_{number:04d}_sync" for number in range(1, drives + 1)]
    splits = split_lines(date, drive_names, frames, np.random.default_rng(streams[-1]))
    out_dir = Path(out_dir)
    date_dir = out_dir / date
    date_dir.mkdir(parents=True, exist_ok=True)
    calib = make_calibration(width, height, principal_point)
    write_calibration(date_dir, calib)
    drive_dirs = []
    with tqdm(total=drives * frames, desc="synthetic KITTI", unit="frame") as progress:
        for number, (name, stream) in enumerate(zip(drive_names, streams), 1):
            rng = np.random.default_rng(stream)
            start_s = int(start.timestamp()) + DRIVE_INTERVAL_S * number
            start_ns = start_s * 1_000_000_000 + int(rng.integers(1_000_000_000))
            generate_drive(date_dir / name, calib, rng, frames, start_ns, progress, motion)
            drive_dirs.append(date_dir / name)
    write_splits(out_dir, splits)
    return drive_dirs


def preview(data_dir: str | Path, out_png: str | Path, n: int = 4) -> Path:
    """Contact sheet: ``n`` rows of image_02 | colour-mapped true depth, spread over all frames found.

    ``data_dir`` is a drive directory or a directory containing ``<date>/<date>_drive_*_sync`` drives.
    """
    data_dir = Path(data_dir)
    drives = [data_dir] if (data_dir / "image_02").is_dir() else sorted(data_dir.glob("*/*_drive_*_sync"))
    images = [path for drive in drives for path in sorted((drive / "image_02" / "data").glob("*.png"))]
    if not images:
        raise FileNotFoundError(f"{data_dir}: no image_02 frames found")
    rows = []
    for index in np.linspace(0, len(images) - 1, min(n, len(images))).round().astype(int):
        image_path = images[index]
        depth_path = image_path.parents[2] / "proj_depth" / "groundtruth" / "image_02" / image_path.name
        rgb = cv2.imread(str(image_path), cv2.IMREAD_COLOR)[:, :, ::-1]
        depth_m = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256.0
        rows.append(np.hstack([rgb, colorize_depth(depth_m, min_depth_m=PREVIEW_MIN_DEPTH_M)]))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    _write_png(out_png, np.vstack(rows))
    return out_png


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output root (the KITTI raw root)")
    parser.add_argument("--drives", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=1242)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--date", default="2011_09_26", help="YYYY_MM_DD, names the date directory")
    parser.add_argument("--preview", type=Path, help="also write a contact sheet PNG here")
    motion = parser.add_mutually_exclusive_group()
    motion.add_argument("--motion", choices=list(MOTIONS), default="gentle",
                        help="gentle: KITTI-like, ~0.25°/frame; turning: tighter curves, a weave within the lane "
                             "(~0.6°/frame). Learned intrinsics need rotation")
    motion.add_argument("--motion_file", type=Path,
                        help="a drive profile as JSON (DriveMotion's fields), instead of --motion")
    parser.add_argument("--kitti_principal_point", action="store_true",
                        help="the principal point of KITTI's calibration (left of and above the centre) instead "
                             "of exactly the image centre")
    args = parser.parse_args(argv)
    try:
        motion = DriveMotion.from_json(args.motion_file) if args.motion_file else MOTIONS[args.motion]
    except ValueError as exc:
        parser.error(str(exc))
    generate(args.out, args.drives, args.frames, args.seed, args.width, args.height, args.date,
             motion, KITTI_PRINCIPAL_POINT if args.kitti_principal_point else IMAGE_CENTRE)
    if args.preview:
        preview(args.out, args.preview)


if __name__ == "__main__":
    main()
