"""KITTI raw parsers on small hand-written files with hand-computed answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from depth_ros import kitti

EARTH_RADIUS_M = 6378137.0
# Velodyne (x forward, y left, z up) → camera (x right, y down, z forward), 8 cm up and 27 cm back.
VELO_TO_CAM_R = "0 -1 0 0 0 -1 1 0 0"
VELO_TO_CAM_T = "0 -0.08 -0.27"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def oxts_line(lat=0.0, lon=0.0, alt=0.0, roll=0.0, pitch=0.0, yaw=0.0) -> str:
    rest = ["0"] * 17 + ["0.05", "0.02", "4", "10", "4", "4", "0"]
    return " ".join([repr(lat), repr(lon), repr(alt), repr(roll), repr(pitch), repr(yaw), *rest]) + "\n"


def packet(**fields) -> kitti.OxtsPacket:
    values = dict.fromkeys(kitti.OxtsPacket._fields, 0.0)
    values.update(fields)
    return kitti.OxtsPacket(**values)


def rot_x(a):
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def rot_y(a):
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def rot_z(a):
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


@pytest.fixture
def calib_dir(tmp_path: Path) -> Path:
    """A date directory with the three calibration files; R_rect_00 is a 90° turn about z."""
    date = tmp_path / "2011_09_26"
    write(
        date / "calib_velo_to_cam.txt",
        f"calib_time: 15-Mar-2012 11:37:16\nR: {VELO_TO_CAM_R}\nT: {VELO_TO_CAM_T}\n"
        "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n",
    )
    write(date / "calib_imu_to_velo.txt",
          "calib_time: 25-May-2012 16:47:16\nR: 1 0 0 0 1 0 0 0 1\nT: -1 0 -0.5\n")
    write(
        date / "calib_cam_to_cam.txt",
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        "S_rect_02: 1.242000e+03 3.750000e+02\n"
        "R_rect_00: 0 -1 0 1 0 0 0 0 1\n"
        "P_rect_02: 7.000000e+02 0 6.000000e+02 4.200000e+01 0 7.000000e+02 1.800000e+02 0 0 0 1 0\n",
    )
    return date


def test_read_calib_file_parses_numbers_and_skips_text(calib_dir: Path):
    calib = kitti.read_calib_file(calib_dir / "calib_cam_to_cam.txt")
    assert "calib_time" not in calib
    assert calib["corner_dist"].dtype == np.float64
    np.testing.assert_array_equal(calib["corner_dist"], [0.0995])
    np.testing.assert_array_equal(calib["S_rect_02"], [1242.0, 375.0])
    assert calib["P_rect_02"].shape == (12,)


def test_missing_calibration_raises(tmp_path: Path):
    with pytest.raises(kitti.KittiFormatError, match=r"calib_velo_to_cam\.txt"):
        kitti.load_velo_to_cam(tmp_path)
    with pytest.raises(kitti.KittiFormatError, match="not found"):
        kitti.read_calib_file(tmp_path / "nothing.txt")


def test_missing_key_raises(tmp_path: Path):
    write(tmp_path / "calib_imu_to_velo.txt", "R: 1 0 0 0 1 0 0 0 1\n")
    with pytest.raises(kitti.KittiFormatError, match="'T'"):
        kitti.load_imu_to_velo(tmp_path)


def test_rigid_calibrations(calib_dir: Path):
    velo_to_cam = kitti.load_velo_to_cam(calib_dir)
    expected = np.array([[0, -1, 0, 0], [0, 0, -1, -0.08], [1, 0, 0, -0.27], [0, 0, 0, 1]])
    np.testing.assert_array_equal(velo_to_cam, expected)
    imu_to_velo = kitti.load_imu_to_velo(calib_dir)
    np.testing.assert_array_equal(imu_to_velo[:3, 3], [-1, 0, -0.5])
    assert kitti.load_cam_to_cam(calib_dir)["R_rect_00"].size == 9


def test_rectified_camera(calib_dir: Path):
    P = kitti.rectified_projection(calib_dir, 2)
    assert P.shape == (3, 4) and P[0, 3] == 42.0
    np.testing.assert_array_equal(kitti.rectified_intrinsics(calib_dir, 2),
                                  [[700, 0, 600], [0, 700, 180], [0, 0, 1]])
    assert kitti.rectified_image_size(calib_dir, 2) == (375, 1242)


def test_velo_to_image_applies_velo_to_cam_then_rectification_then_projection(calib_dir: Path):
    # velo (10, 1, 0.5) → cam0 (−1, −0.58, 9.73) → R_rect (0.58, −1, 9.73)
    # → (700·0.58 + 600·9.73 + 42, 700·(−1) + 180·9.73, 9.73)
    projected = kitti.velo_to_image(calib_dir, 2) @ np.array([10.0, 1.0, 0.5, 1.0])
    np.testing.assert_allclose(projected, [6286.0, 1051.4, 9.73], atol=1e-9)


def test_velo_to_camera_is_the_metric_version_of_velo_to_image(calib_dir: Path):
    # rectified cam 0 (0.58, −1, 9.73), then cam 2's offset K⁻¹·P_rect_02[:, 3] = (0.06, 0, 0)
    in_camera = kitti.velo_to_camera(calib_dir, 2) @ np.array([10.0, 1.0, 0.5, 1.0])
    np.testing.assert_allclose(in_camera, [0.64, -1.0, 9.73, 1.0], atol=1e-12)


def test_camera_poses_from_oxts_and_calibration(calib_dir: Path):
    """IMU → velo: velo 1 m ahead and 0.5 m above; cam 0 is 8 cm below and 27 cm ahead of the velo.
    P_rect_02[0, 3] = 42 = 700·0.06 puts cam 2 6 cm along −x of the rectified frame, which R_rect_00 (a 90°
    turn about the optical axis) maps to cam 0's −y, i.e. 6 cm further down."""
    drive = calib_dir / "2011_09_26_drive_0001_sync"
    ten_metres_east_deg = math.degrees(10.0 / EARTH_RADIUS_M)
    write(drive / "oxts" / "data" / "0000000000.txt", oxts_line())
    write(drive / "oxts" / "data" / "0000000001.txt", oxts_line(lon=ten_metres_east_deg))
    poses = kitti.camera_poses(drive, cam=2)
    assert poses.shape == (2, 4, 4)
    centre_in_imu = np.array([1.0 + 0.27, 0.0, 0.5 - 0.08 - 0.06])
    np.testing.assert_allclose(poses[0, :3, 3], centre_in_imu, atol=1e-9)
    np.testing.assert_allclose(poses[1, :3, 3], centre_in_imu + np.array([10.0, 0.0, 0.0]), atol=1e-6)
    # Camera axes in the world: the velo→cam permutation, then R_rect_00 (x_cam = y_cam0, y_cam = −x_cam0).
    world_from_cam0 = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    rect = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(poses[1, :3, :3], world_from_cam0 @ rect.T, atol=1e-12)


def test_camera_poses_without_oxts_raises(calib_dir: Path):
    with pytest.raises(kitti.KittiFormatError, match="no OXTS"):
        kitti.camera_poses(calib_dir / "missing_drive", cam=2)


def test_velodyne_points(tmp_path: Path):
    scan = np.array([[1.0, 2.0, 3.0, 0.5], [-4.0, 5.5, -0.25, 1.0]], "<f4")
    scan.tofile(tmp_path / "scan.bin")
    points = kitti.load_velodyne_points(tmp_path / "scan.bin")
    assert points.dtype == np.float32 and points.shape == (2, 4)
    np.testing.assert_array_equal(points, scan)


def test_truncated_velodyne_scan_raises(tmp_path: Path):
    (tmp_path / "scan.bin").write_bytes(np.zeros(9, "<f4").tobytes())  # 36 bytes: 2¼ points
    with pytest.raises(kitti.KittiFormatError, match="truncated"):
        kitti.load_velodyne_points(tmp_path / "scan.bin")
    with pytest.raises(kitti.KittiFormatError, match="not found"):
        kitti.load_velodyne_points(tmp_path / "missing.bin")


def test_timestamps_are_exact_nanoseconds(tmp_path: Path):
    path = write(
        tmp_path / "timestamps.txt",
        "2011-09-26 13:02:25.964389445\n2011-09-26 13:02:26.074415291\n1970-01-01 00:00:00.000000001\n",
    )
    # 2011-09-26 00:00:00 UTC is 1316995200 s; 13:02:25 adds 46945 s.
    assert kitti.read_timestamps(path) == [1317042145_964389445, 1317042146_074415291, 1]


def test_malformed_timestamp_raises(tmp_path: Path):
    path = write(tmp_path / "timestamps.txt", "2011-09-26 13:02:25.964389445\n2011-09-26 13:02\n")
    with pytest.raises(kitti.KittiFormatError, match=r"timestamps\.txt:2"):
        kitti.read_timestamps(path)


def test_read_oxts(tmp_path: Path):
    path = write(tmp_path / "0000000000.txt", oxts_line(lat=49.0, lon=8.4, alt=116.4, yaw=-2.6))
    packet_read = kitti.read_oxts(path)
    assert (packet_read.lat, packet_read.lon, packet_read.alt, packet_read.yaw) == (49.0, 8.4, 116.4, -2.6)
    assert packet_read.numsats == 10 and isinstance(packet_read.navstat, int)
    write(path, "49.0 8.4 116.4\n")
    with pytest.raises(kitti.KittiFormatError, match="3 fields"):
        kitti.read_oxts(path)


def test_oxts_to_poses_translation_and_heading():
    """At the equator the Mercator scale is 1: 10 m east is lon = 10/r rad; alt is z."""
    ten_metres_east_deg = math.degrees(10.0 / EARTH_RADIUS_M)
    poses = kitti.oxts_to_poses([packet(), packet(lon=ten_metres_east_deg, alt=2.0, yaw=math.pi / 2)])
    np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-12)
    expected = np.array([[0, -1, 0, 10], [1, 0, 0, 0], [0, 0, 1, 2], [0, 0, 0, 1]], float)
    np.testing.assert_allclose(poses[1], expected, atol=1e-9)


def test_oxts_to_poses_are_relative_to_the_first_pose():
    """Both packets face north (yaw 90°); moving 10 m east is 10 m to the vehicle's right (−y)."""
    ten_metres_east_deg = math.degrees(10.0 / EARTH_RADIUS_M)
    poses = kitti.oxts_to_poses([packet(yaw=math.pi / 2), packet(lon=ten_metres_east_deg, yaw=math.pi / 2)])
    np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(poses[1][:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(poses[1][:3, 3], [0.0, -10.0, 0.0], atol=1e-9)


def test_oxts_to_poses_rotation_order_and_mercator_scale():
    roll, pitch, yaw = 0.1, -0.2, 0.3
    poses = kitti.oxts_to_poses(
        [packet(lat=49.0, lon=8.0), packet(lat=49.0, lon=8.001, roll=roll, pitch=pitch, yaw=yaw)]
    )
    np.testing.assert_allclose(poses[1][:3, :3], rot_z(yaw) @ rot_y(pitch) @ rot_x(roll), atol=1e-12)
    east_m = math.cos(math.radians(49.0)) * EARTH_RADIUS_M * math.radians(0.001)
    np.testing.assert_allclose(poses[1][:3, 3], [east_m, 0.0, 0.0], atol=1e-6)
    assert kitti.oxts_to_poses([]) == []
