"""KITTI raw data formats: calibration, Velodyne scans, OXTS packets, timestamps, and the frames tying them.

Frames (all lengths in metres, angles in radians):

* ``velo``: Velodyne, x forward, y left, z up.
* ``imu``: the OXTS unit, x forward, y left, z up.
* ``cam0``: unrectified camera 0, optical frame (x right, y down, z forward).
* rectified camera N: the common rectified orientation (``R_rect_00`` applied to cam0), centred on camera N's
  optical centre. ``P_rect_0N = K·[I | t_N]`` projects points given in the rectified cam-0 frame.
* ``world``: the OXTS pose of the first frame of a drive (KITTI devkit ``convertOxtsToPose``).

A drive directory is ``<root>/<date>/<date>_drive_NNNN_sync``; its calibration files live in
``<root>/<date>``.
"""

from __future__ import annotations

import calendar
import math
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = [
    "KittiFormatError",
    "OxtsPacket",
    "camera_poses",
    "imu_to_camera",
    "load_cam_to_cam",
    "load_imu_to_velo",
    "load_velo_to_cam",
    "load_velodyne_points",
    "oxts_to_poses",
    "read_calib_file",
    "read_oxts",
    "read_timestamps",
    "rectified_image_size",
    "rectified_intrinsics",
    "rectified_projection",
    "velo_to_camera",
    "velo_to_image",
]

EARTH_RADIUS_M = 6378137.0
VELODYNE_POINT_BYTES = 16  # four float32: x, y, z, reflectance
NANOSECONDS_PER_SECOND = 1_000_000_000


class KittiFormatError(ValueError):
    """A KITTI file is missing, truncated or not in the expected format."""


# --------------------------------------------------------------------------------------------- calibration


def read_calib_file(path: str | Path) -> dict[str, np.ndarray]:
    """Parse a KITTI ``key: v1 v2 ...`` calibration file into float64 1-D arrays.

    Lines whose value is not a list of numbers (``calib_time: 09-Jan-2012 13:57:47``) are skipped.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise KittiFormatError(f"{path}: calibration file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KittiFormatError(f"{path}: cannot read calibration file ({error})") from None
    calib: dict[str, np.ndarray] = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if not separator or not value.split():
            continue
        try:
            calib[key.strip()] = np.array([float(v) for v in value.split()], dtype=np.float64)
        except ValueError:
            continue
    return calib


def _calib_entry(calib: dict[str, np.ndarray], key: str, size: int, path: Path) -> np.ndarray:
    """The value of ``key`` with exactly ``size`` numbers, or KittiFormatError naming the file."""
    if key not in calib:
        raise KittiFormatError(f"{path}: missing key '{key}'")
    value = calib[key]
    if value.size != size:
        raise KittiFormatError(f"{path}: key '{key}' has {value.size} values, expected {size}")
    return value


def _rigid_from_calib_file(path: Path) -> np.ndarray:
    """4×4 transform from a file with ``R`` (9, row-major) and ``T`` (3, metres)."""
    calib = read_calib_file(path)
    transform = np.eye(4)
    transform[:3, :3] = _calib_entry(calib, "R", 9, path).reshape(3, 3)
    transform[:3, 3] = _calib_entry(calib, "T", 3, path)
    return transform


def load_velo_to_cam(calib_dir: str | Path) -> np.ndarray:
    """4×4 ``T_cam0_velo``: Velodyne points → unrectified cam-0 frame (``calib_velo_to_cam.txt``)."""
    return _rigid_from_calib_file(Path(calib_dir) / "calib_velo_to_cam.txt")


def load_imu_to_velo(calib_dir: str | Path) -> np.ndarray:
    """4×4 ``T_velo_imu``: IMU (OXTS) points → Velodyne frame (``calib_imu_to_velo.txt``)."""
    return _rigid_from_calib_file(Path(calib_dir) / "calib_imu_to_velo.txt")


def load_cam_to_cam(calib_dir: str | Path) -> dict[str, np.ndarray]:
    """The raw contents of ``calib_cam_to_cam.txt`` (S_0N, K_0N, D_0N, R_0N, T_0N, S/R/P_rect_0N)."""
    return read_calib_file(Path(calib_dir) / "calib_cam_to_cam.txt")


def _cam_to_cam_entry(calib_dir: str | Path, key: str, size: int) -> np.ndarray:
    path = Path(calib_dir) / "calib_cam_to_cam.txt"
    return _calib_entry(read_calib_file(path), key, size, path)


def rectified_projection(calib_dir: str | Path, cam: int) -> np.ndarray:
    """3×4 ``P_rect_0{cam}``: rectified cam-0 frame (metres) → homogeneous pixels of camera ``cam``."""
    return _cam_to_cam_entry(calib_dir, f"P_rect_0{cam}", 12).reshape(3, 4)


def rectified_intrinsics(calib_dir: str | Path, cam: int) -> np.ndarray:
    """3×3 intrinsics K (pixels) of rectified camera ``cam``: the left 3×3 block of ``P_rect_0{cam}``."""
    return rectified_projection(calib_dir, cam)[:, :3].copy()


def rectified_image_size(calib_dir: str | Path, cam: int) -> tuple[int, int]:
    """(height, width) in pixels of rectified camera ``cam`` (``S_rect_0{cam}`` stores width, height)."""
    width, height = _cam_to_cam_entry(calib_dir, f"S_rect_0{cam}", 2)
    return round(height), round(width)


def _rectification(calib_dir: str | Path) -> np.ndarray:
    """4×4 padded ``R_rect_00``: unrectified cam-0 frame → rectified cam-0 frame."""
    rectify = np.eye(4)
    rectify[:3, :3] = _cam_to_cam_entry(calib_dir, "R_rect_00", 9).reshape(3, 3)
    return rectify


def velo_to_image(calib_dir: str | Path, cam: int) -> np.ndarray:
    """3×4 ``P_rect_0{cam} · R_rect_00 · T_cam0_velo``: homogeneous Velodyne points → (u·w, v·w, w) pixels.

    ``w`` is the point's depth (z, metres) in rectified camera ``cam`` when ``P_rect[2] = (0, 0, 1, 0)``.
    """
    return rectified_projection(calib_dir, cam) @ _rectification(calib_dir) @ load_velo_to_cam(calib_dir)


def _rectified_cam0_to_camera(calib_dir: str | Path, cam: int) -> np.ndarray:
    """4×4 translation from the rectified cam-0 frame to rectified camera ``cam``: ``K⁻¹ · P_rect[:, 3]``."""
    projection = rectified_projection(calib_dir, cam)
    transform = np.eye(4)
    transform[:3, 3] = np.linalg.solve(projection[:, :3], projection[:, 3])
    return transform


def velo_to_camera(calib_dir: str | Path, cam: int) -> np.ndarray:
    """4×4 ``T_cam_velo``: Velodyne points → rectified camera ``cam`` (optical frame, metres)."""
    return (
        _rectified_cam0_to_camera(calib_dir, cam) @ _rectification(calib_dir) @ load_velo_to_cam(calib_dir)
    )


def imu_to_camera(calib_dir: str | Path, cam: int) -> np.ndarray:
    """4×4 ``T_cam_imu``: IMU (OXTS) points → rectified camera ``cam`` (optical frame, metres)."""
    return velo_to_camera(calib_dir, cam) @ load_imu_to_velo(calib_dir)


# ------------------------------------------------------------------------------------------------- velodyne


def load_velodyne_points(path: str | Path) -> np.ndarray:
    """N×4 float32 Velodyne scan: x, y, z (metres, velo frame) and reflectance in [0, 1]."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KittiFormatError(f"{path}: Velodyne scan not found") from None
    except OSError as error:
        raise KittiFormatError(f"{path}: cannot read Velodyne scan ({error})") from None
    if len(raw) % VELODYNE_POINT_BYTES:
        raise KittiFormatError(
            f"{path}: truncated Velodyne scan ({len(raw)} bytes is not a multiple of {VELODYNE_POINT_BYTES})"
        )
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 4).copy()


# ----------------------------------------------------------------------------------------------------- oxts


class OxtsPacket(NamedTuple):
    """One OXTS RT3003 record (KITTI ``oxts/dataformat.txt``).

    Degrees for lat/lon, metres for alt, radians for roll/pitch/yaw (yaw 0 = east, counter-clockwise),
    m/s for velocities (n/e: north/east; f/l/u: forward/left/up), m/s² for accelerations (x/y/z: body
    axes; f/l/u: level vehicle axes), rad/s for angular rates, metres for the accuracies.
    """

    lat: float
    lon: float
    alt: float
    roll: float
    pitch: float
    yaw: float
    vn: float
    ve: float
    vf: float
    vl: float
    vu: float
    ax: float
    ay: float
    az: float
    af: float
    al: float
    au: float
    wx: float
    wy: float
    wz: float
    wf: float
    wl: float
    wu: float
    pos_accuracy: float
    vel_accuracy: float
    navstat: int
    numsats: int
    posmode: int
    velmode: int
    orimode: int


OXTS_FIELD_COUNT = len(OxtsPacket._fields)
OXTS_INTEGER_FIELD_COUNT = 5  # navstat, numsats, posmode, velmode, orimode


def read_oxts(path: str | Path) -> OxtsPacket:
    """Parse one ``oxts/data/NNNNNNNNNN.txt`` file (30 space-separated numbers)."""
    path = Path(path)
    try:
        fields = path.read_text().split()
    except FileNotFoundError:
        raise KittiFormatError(f"{path}: OXTS file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KittiFormatError(f"{path}: cannot read OXTS file ({error})") from None
    if len(fields) != OXTS_FIELD_COUNT:
        raise KittiFormatError(f"{path}: OXTS record has {len(fields)} fields, expected {OXTS_FIELD_COUNT}")
    try:
        values = [float(v) for v in fields]
    except ValueError:
        raise KittiFormatError(f"{path}: OXTS record contains a non-numeric field") from None
    split = OXTS_FIELD_COUNT - OXTS_INTEGER_FIELD_COUNT
    return OxtsPacket(*values[:split], *(round(v) for v in values[split:]))


def _mercator_pose(packet: OxtsPacket, scale: float) -> np.ndarray:
    """4×4 IMU pose in the Mercator map frame (x east, y north, z up; metres) as ``convertOxtsToPose``."""
    pose = np.eye(4)
    pose[0, 3] = scale * EARTH_RADIUS_M * math.radians(packet.lon)
    pose[1, 3] = scale * EARTH_RADIUS_M * math.log(math.tan(math.radians(90.0 + packet.lat) / 2.0))
    pose[2, 3] = packet.alt
    pose[:3, :3] = Rotation.from_euler("ZYX", [packet.yaw, packet.pitch, packet.roll]).as_matrix()
    return pose


def oxts_to_poses(packets: list[OxtsPacket]) -> list[np.ndarray]:
    """4×4 ``T_world_imu`` per packet; the world frame is the IMU at the first packet (its pose is identity).

    As the KITTI devkit: Mercator scale ``cos(lat_0)``, ``R = Rz(yaw)·Ry(pitch)·Rx(roll)``, and every pose
    premultiplied by the inverse of the first (pykitti instead only subtracts the first translation).
    """
    if not packets:
        return []
    scale = math.cos(math.radians(packets[0].lat))
    mercator = [_mercator_pose(packet, scale) for packet in packets]
    world_from_map = np.linalg.inv(mercator[0])
    return [world_from_map @ pose for pose in mercator]


# ----------------------------------------------------------------------------------------------- timestamps


def _parse_timestamp(text: str, path: Path, line_number: int) -> int:
    """``2011-09-26 13:02:25.964389445`` (UTC) → integer nanoseconds since the Unix epoch."""
    try:
        whole_seconds, _, fraction = text.strip().partition(".")
        moment = datetime.strptime(whole_seconds, "%Y-%m-%d %H:%M:%S")
        if fraction and not (fraction.isascii() and fraction.isdigit() and len(fraction) <= 9):
            raise ValueError(fraction)
    except ValueError:
        raise KittiFormatError(f"{path}:{line_number}: malformed timestamp '{text.strip()}'") from None
    seconds = calendar.timegm(moment.timetuple())
    return seconds * NANOSECONDS_PER_SECOND + int(fraction.ljust(9, "0") or "0")


def read_timestamps(path: str | Path) -> list[int]:
    """A KITTI ``timestamps.txt`` as integer nanoseconds since the Unix epoch (UTC), exact to 1 ns."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise KittiFormatError(f"{path}: timestamps file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KittiFormatError(f"{path}: cannot read timestamps ({error})") from None
    return [_parse_timestamp(line, path, number) for number, line in enumerate(lines, 1) if line.strip()]


# -------------------------------------------------------------------------------------------------- drives


def camera_poses(drive_dir: str | Path, cam: int = 2) -> np.ndarray:
    """F×4×4 ``T_world_cam`` of rectified camera ``cam`` (optical frame) for every frame of a drive.

    Derived only from ``oxts/data/*.txt`` and the calibration files in the drive's parent directory:
    ``T_world_cam = T_world_imu · (T_cam_rect0 · R_rect_00 · T_cam0_velo · T_velo_imu)⁻¹``.
    """
    drive_dir = Path(drive_dir)
    oxts_files = sorted((drive_dir / "oxts" / "data").glob("*.txt"))
    if not oxts_files:
        raise KittiFormatError(f"{drive_dir / 'oxts' / 'data'}: no OXTS files found")
    world_from_imu = oxts_to_poses([read_oxts(path) for path in oxts_files])
    imu_from_camera = np.linalg.inv(imu_to_camera(drive_dir.parent, cam))
    return np.stack([pose @ imu_from_camera for pose in world_from_imu])
