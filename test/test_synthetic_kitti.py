"""The synthetic KITTI generator: its ground truth must be mutually consistent and in KITTI's formats.

Calibration is parsed here with a tiny parser of our own (not depth_ros.kitti), so a shared bug cannot hide;
true poses come from depth_ros.kitti.camera_poses (oxts + calibration), as every consumer will get them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros import kitti
from training import synthetic_kitti

WIDTH, HEIGHT, DRIVES, FRAMES = 416, 128, 2, 6
DATE = "2011_09_26"
BASELINE_M = 0.54
SEQUENCE_DIRS = (
    "image_02/data",
    "image_03/data",
    "velodyne_points/data",
    "oxts/data",
    "proj_depth/groundtruth/image_02",
    "proj_depth/groundtruth/image_03",
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic_kitti")
    synthetic_kitti.generate(out, drives=DRIVES, frames=FRAMES, seed=0, width=WIDTH, height=HEIGHT, date=DATE)
    return out


@pytest.fixture(scope="module")
def drives(root: Path) -> list[Path]:
    return sorted((root / DATE).glob(f"{DATE}_drive_*_sync"))


@pytest.fixture(scope="module")
def calib(root: Path) -> dict[str, np.ndarray]:
    return read_calib(root / DATE)


def read_calib(date_dir: Path) -> dict[str, np.ndarray]:
    """calib_cam_to_cam.txt and calib_velo_to_cam.txt merged (velo_to_cam keys prefixed ``velo_``)."""
    values = parse_calib(date_dir / "calib_cam_to_cam.txt")
    values.update({f"velo_{k}": v for k, v in parse_calib(date_dir / "calib_velo_to_cam.txt").items()})
    return values


# ------------------------------------------------------------------------------------------------ helpers


def parse_calib(path: Path) -> dict[str, np.ndarray]:
    """Independent ``key: numbers`` parser; lines with non-numbers (calib_time) are skipped."""
    values = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        try:
            values[key] = np.array([float(v) for v in rest.split()])
        except ValueError:
            continue
    return values


def projection(calib: dict[str, np.ndarray], cam: int) -> np.ndarray:
    return calib[f"P_rect_0{cam}"].reshape(3, 4)


def velo_to_image(calib: dict[str, np.ndarray], cam: int) -> np.ndarray:
    """P_rect_0N · R_rect_00 · T_velo→cam (3×4)."""
    rectify = np.eye(4)
    rectify[:3, :3] = calib["R_rect_00"].reshape(3, 3)
    velo_to_cam = np.eye(4)
    velo_to_cam[:3, :3] = calib["velo_R"].reshape(3, 3)
    velo_to_cam[:3, 3] = calib["velo_T"]
    return projection(calib, cam) @ rectify @ velo_to_cam


def read_rgb(path: Path) -> np.ndarray:
    """H×W×3 float32 in [0, 1]."""
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255.0


def read_depth(path: Path) -> np.ndarray:
    """KITTI depth PNG → metres, 0 = invalid."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    return raw.astype(np.float64) / 256.0


def frame_path(drive: Path, sequence: str, frame: int, suffix: str = ".png") -> Path:
    return drive / sequence / f"{frame:010d}{suffix}"


def backproject_depth(depth_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """3×(H·W) camera-frame points of every pixel (integer pixel coordinates are pixel centres)."""
    height, width = depth_m.shape
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    return np.linalg.solve(K, pixels) * depth_m.ravel()


def project_by_pose(
    target_depth_m: np.ndarray, K: np.ndarray, source_from_target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each target pixel lands in the source view: u, v (pixels) and depth z (metres), all H×W."""
    points = source_from_target[:3, :3] @ backproject_depth(target_depth_m, K) + source_from_target[:3, 3:]
    projected = K @ points
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = projected[0] / projected[2], projected[1] / projected[2]
    shape = target_depth_m.shape
    return u.reshape(shape), v.reshape(shape), points[2].reshape(shape)


def project_by_disparity(
    target_depth_m: np.ndarray, focal_px: float, baseline_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each left-image pixel lands in the right image: disparity = f·B / depth, same depth."""
    height, width = target_depth_m.shape
    with np.errstate(divide="ignore"):
        disparity = np.where(target_depth_m > 0, focal_px * baseline_m / target_depth_m, 0.0)
    u = np.arange(width)[None, :] - disparity
    return u, np.broadcast_to(np.arange(height, dtype=float)[:, None], (height, width)), target_depth_m


def resample(
    source: np.ndarray, u: np.ndarray, v: np.ndarray, target_depth_m: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``source`` bilinearly sampled at (u, v) and the mask of target pixels that land inside it."""
    height, width = source.shape[:2]
    valid = (target_depth_m > 0) & (z > 0.5) & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    map_u, map_v = np.where(valid, u, -1).astype(np.float32), np.where(valid, v, -1).astype(np.float32)
    return cv2.remap(source, map_u, map_v, cv2.INTER_LINEAR), valid


def visible(source_depth_m: np.ndarray, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Target pixels whose point is the one the source camera sees (not occluded there), by z-test."""
    height, width = source_depth_m.shape
    column = np.clip(np.round(np.nan_to_num(u)), 0, width - 1).astype(int)
    row = np.clip(np.round(np.nan_to_num(v)), 0, height - 1).astype(int)
    return np.abs(source_depth_m[row, column] - z) < 0.05 * np.abs(z)


def photometric_error(target: np.ndarray, warped: np.ndarray, mask: np.ndarray) -> float:
    assert mask.mean() > 0.3, "too few pixels to compare"
    return float(np.abs(target - warped)[mask].mean())


def planar_neighbourhood(depth_m: np.ndarray, tolerance: float = 0.005) -> np.ndarray:
    """Pixels whose 3×3 neighbourhood is valid and lies on one plane (inverse depth affine in u, v)."""
    valid = depth_m > 0
    inverse = np.where(valid, 1.0 / np.where(valid, depth_m, 1.0), 0.0)
    flat = np.zeros_like(valid)
    second_u = np.abs(inverse[1:-1, :-2] - 2 * inverse[1:-1, 1:-1] + inverse[1:-1, 2:])
    second_v = np.abs(inverse[:-2, 1:-1] - 2 * inverse[1:-1, 1:-1] + inverse[2:, 1:-1])
    allowed = tolerance * inverse[1:-1, 1:-1]
    flat[1:-1, 1:-1] = (second_u <= allowed) & (second_v <= allowed)
    flat &= valid
    return cv2.erode(flat.astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=0).astype(bool)


# ------------------------------------------------------------------------------------------------ layout


def test_every_expected_file_exists(root: Path, drives: list[Path]):
    for name in ("calib_cam_to_cam.txt", "calib_velo_to_cam.txt", "calib_imu_to_velo.txt"):
        assert (root / DATE / name).is_file()
    assert [d.name for d in drives] == [f"{DATE}_drive_{n:04d}_sync" for n in range(1, DRIVES + 1)]
    for drive in drives:
        for sequence in SEQUENCE_DIRS:
            suffix = {"velodyne_points/data": ".bin", "oxts/data": ".txt"}.get(sequence, ".png")
            expected = [f"{frame:010d}{suffix}" for frame in range(FRAMES)]
            assert sorted(p.name for p in (drive / sequence).iterdir()) == expected, sequence
        for sensor in ("image_02", "image_03", "velodyne_points", "oxts"):
            assert len(kitti.read_timestamps(drive / sensor / "timestamps.txt")) == FRAMES
        fields = [line.split(":")[0] for line in (drive / "oxts" / "dataformat.txt").read_text().splitlines()]
        assert tuple(fields) == kitti.OxtsPacket._fields


def test_calibration_files_look_like_kitti(root: Path, calib: dict[str, np.ndarray]):
    text = (root / DATE / "calib_cam_to_cam.txt").read_text()
    assert text.startswith("calib_time: ")
    assert re.search(r"^P_rect_02: (-?\d\.\d{6}e[+-]\d{2} ){11}-?\d\.\d{6}e[+-]\d{2}$", text, re.MULTILINE)
    for cam in range(4):
        for key in ("S", "K", "D", "R", "T", "S_rect", "R_rect", "P_rect"):
            assert f"{key}_0{cam}" in calib
    K = projection(calib, 2)[:, :3]
    assert K[0, 2] == WIDTH / 2 and K[1, 2] == HEIGHT / 2, "principal point must be the image centre"
    assert K[0, 0] == pytest.approx(721.5377 * WIDTH / 1242, rel=1e-6) and K[1, 1] == K[0, 0]
    assert not np.allclose(calib["R_rect_00"].reshape(3, 3), np.eye(3), atol=1e-3), "R_rect_00 must matter"
    np.testing.assert_array_equal(calib["S_rect_02"], [WIDTH, HEIGHT])
    for name in ("calib_velo_to_cam.txt", "calib_imu_to_velo.txt"):
        values = parse_calib(root / DATE / name)
        rotation = values["R"].reshape(3, 3)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)


def test_stereo_baseline_from_projections(calib: dict[str, np.ndarray]):
    P2, P3 = projection(calib, 2), projection(calib, 3)
    focal = P2[0, 0]
    # P = K·[I | −C]: camera centres along the rectified x axis.
    centre_2, centre_3 = -P2[0, 3] / focal, -P3[0, 3] / focal
    assert centre_2 == pytest.approx(-0.06, abs=1e-5), "cam 2 sits 6 cm left of cam 0 as in KITTI"
    assert centre_3 - centre_2 == pytest.approx(BASELINE_M, abs=1e-5)


def test_depth_pngs_are_kitti_encoded(drives: list[Path]):
    for drive in drives:
        for cam in (2, 3):
            path = frame_path(drive, f"proj_depth/groundtruth/image_0{cam}", 0)
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert raw.dtype == np.uint16 and raw.shape == (HEIGHT, WIDTH)
            assert (raw == 0).mean() > 0.02, "sky must be invalid (0)"
            assert (raw > 0).mean() > 0.5
            assert raw.max() / 256.0 <= 120.0
            assert raw[raw > 0].min() / 256.0 > 1.0
    image = cv2.imread(str(frame_path(drives[0], "image_02/data", 0)), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.shape == (HEIGHT, WIDTH, 3)


def test_splits(root: Path, drives: list[Path]):
    split_dir = root / "splits" / "synthetic"
    lines = {name: (split_dir / f"{name}_files.txt").read_text().splitlines()
             for name in ("train", "val", "test")}
    assert all(lines.values())
    test_drive, other_drives = drives[-1].name, {d.name for d in drives[:-1]}
    seen = set()
    for name, split in lines.items():
        for line in split:
            folder, frame, side = line.split()
            assert side in ("l", "r") and folder.startswith(f"{DATE}/")
            drive = root / folder
            assert 1 <= int(frame) <= FRAMES - 2, "every frame needs both neighbours"
            for neighbour in (int(frame) - 1, int(frame) + 1):
                assert frame_path(drive, f"image_0{2 if side == 'l' else 3}/data", neighbour).is_file()
            if name == "test":
                assert drive.name == test_drive and side == "l" and re.fullmatch(r"\d{10}", frame)
            else:
                assert drive.name in other_drives
            seen.add((name, drive.name, int(frame)))
    assert {frame for name, _, frame in seen if name == "test"} == set(range(1, FRAMES - 1))
    train_val = [(d, f) for name, d, f in seen if name != "test"]
    assert len(train_val) == len(set(train_val)) == len(other_drives) * (FRAMES - 2), "train, val overlap"


# ------------------------------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("cam", [2, 3])
@pytest.mark.parametrize("motion", ["gentle", "turning"])
def test_velodyne_projects_onto_dense_depth(request: pytest.FixtureRequest, motion: str, cam: int):
    """Velodyne points projected with P_rect · R_rect_00 · T_velo→cam land where the dense depth map has
    the same depth. Compared on planar neighbourhoods by bilinear interpolation of inverse depth (exact on
    planes), so sub-pixel misregistration shows up rather than hiding in the nearest pixel's depth step.
    The turning drive's cameras have KITTI's principal point, off the image centre."""
    drives = request.getfixturevalue("drives") if motion == "gentle" else [request.getfixturevalue("turning_drive")]
    calib = read_calib(drives[0].parent)
    principal_point = synthetic_kitti.IMAGE_CENTRE if motion == "gentle" else synthetic_kitti.KITTI_PRINCIPAL_POINT
    K = projection(calib, cam)
    assert (K[0, 2], K[1, 2]) == pytest.approx((principal_point[0] * WIDTH, principal_point[1] * HEIGHT), abs=1e-3)
    to_image = velo_to_image(calib, cam)
    for drive in drives:
        for frame in (0, FRAMES - 1):
            scan = np.fromfile(frame_path(drive, "velodyne_points/data", frame, ".bin"), "<f4").reshape(-1, 4)
            assert len(scan) > 20000 and np.linalg.norm(scan[:, :3], axis=1).max() <= 120.0 + 1e-3
            projected = to_image @ np.column_stack([scan[:, :3], np.ones(len(scan))]).T
            depth_lidar = projected[2]
            with np.errstate(divide="ignore", invalid="ignore"):
                u, v = projected[0] / depth_lidar, projected[1] / depth_lidar
            inside = (depth_lidar > 1.0) & (u >= 1) & (u < WIDTH - 2) & (v >= 1) & (v < HEIGHT - 2)
            dense = read_depth(frame_path(drive, f"proj_depth/groundtruth/image_0{cam}", frame))
            planar = planar_neighbourhood(dense)
            u0, v0 = np.floor(u[inside]).astype(int), np.floor(v[inside]).astype(int)
            usable = planar[v0, u0] & planar[v0, u0 + 1] & planar[v0 + 1, u0] & planar[v0 + 1, u0 + 1]
            u0, v0 = u0[usable], v0[usable]
            fu, fv = u[inside][usable] - u0, v[inside][usable] - v0
            inverse = 1.0 / np.where(dense > 0, dense, np.inf)
            inverse_at = (
                (1 - fu) * (1 - fv) * inverse[v0, u0]
                + fu * (1 - fv) * inverse[v0, u0 + 1]
                + (1 - fu) * fv * inverse[v0 + 1, u0]
                + fu * fv * inverse[v0 + 1, u0 + 1]
            )
            relative_error = np.abs(depth_lidar[inside][usable] * inverse_at - 1.0)
            assert usable.sum() > 1000, f"{drive.name}/{frame}: only {usable.sum()} comparable points"
            assert np.median(relative_error) < 0.01
            assert (relative_error < 0.01).mean() >= 0.95, f"{drive.name}/{frame} cam {cam}"


def test_next_frame_warps_onto_current_with_true_pose(drives: list[Path], calib: dict[str, np.ndarray]):
    """Frame t+1 resampled into frame t with frame t's true depth and the oxts + calibration pose
    reproduces frame t, far better than with a pose that is 0.5 m off or with no motion at all.
    Compared on the target pixels the source camera truly sees (valid depth, in view, not occluded)."""
    K = projection(calib, 2)[:, :3]
    for drive in drives:
        poses = kitti.camera_poses(drive, cam=2)
        for frame in (0, FRAMES // 2):
            target = read_rgb(frame_path(drive, "image_02/data", frame))
            source = read_rgb(frame_path(drive, "image_02/data", frame + 1))
            depth = read_depth(frame_path(drive, "proj_depth/groundtruth/image_02", frame))
            source_depth = read_depth(frame_path(drive, "proj_depth/groundtruth/image_02", frame + 1))
            true_pose = np.linalg.inv(poses[frame + 1]) @ poses[frame]
            assert 0.5 < np.linalg.norm(true_pose[:3, 3]) < 1.5, "the car moves about 1 m per frame"
            off_pose = true_pose.copy()
            off_pose[2, 3] += 0.5
            u, v, z = project_by_pose(depth, K, true_pose)
            warped, inside = resample(source, u, v, depth, z)
            mask = inside & visible(source_depth, u, v, z)
            true_error = photometric_error(target, warped, mask)
            wrong_errors = []
            for wrong_pose in (off_pose, np.eye(4)):
                u, v, z = project_by_pose(depth, K, wrong_pose)
                warped, inside = resample(source, u, v, depth, z)
                wrong_errors.append(photometric_error(target, warped, mask & inside))
            assert true_error < 0.02, (true_error, wrong_errors)
            assert all(true_error <= error / 3 for error in wrong_errors), (true_error, wrong_errors)


def test_right_image_warps_onto_left_with_baseline(drives: list[Path], calib: dict[str, np.ndarray]):
    """image_03 resampled into image_02 with disparity = f·0.54 m / depth reproduces image_02, far better
    than with a baseline 20 % too short or 25 % too long."""
    focal = projection(calib, 2)[0, 0]
    for drive in drives:
        for frame in (0, FRAMES - 1):
            left = read_rgb(frame_path(drive, "image_02/data", frame))
            right = read_rgb(frame_path(drive, "image_03/data", frame))
            depth = read_depth(frame_path(drive, "proj_depth/groundtruth/image_02", frame))
            right_depth = read_depth(frame_path(drive, "proj_depth/groundtruth/image_03", frame))
            u, v, z = project_by_disparity(depth, focal, BASELINE_M)
            warped, inside = resample(right, u, v, depth, z)
            mask = inside & visible(right_depth, u, v, z)
            true_error = photometric_error(left, warped, mask)
            wrong_errors = []
            for baseline in (0.8 * BASELINE_M, 1.25 * BASELINE_M):
                u, v, z = project_by_disparity(depth, focal, baseline)
                warped, inside = resample(right, u, v, depth, z)
                wrong_errors.append(photometric_error(left, warped, mask & inside))
            assert true_error < 0.02, (true_error, wrong_errors)
            assert all(true_error <= error / 3 for error in wrong_errors), (true_error, wrong_errors)


@pytest.fixture(scope="module")
def turning_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic_kitti_turning")
    return synthetic_kitti.generate(out, drives=1, frames=FRAMES, seed=0, width=WIDTH, height=HEIGHT, date=DATE,
                                    motion=synthetic_kitti.TURNING,
                                    principal_point=synthetic_kitti.KITTI_PRINCIPAL_POINT)[0]


@pytest.mark.parametrize("motion", ["gentle", "turning"])
def test_oxts_motion_is_consistent(request: pytest.FixtureRequest, motion: str):
    """10 Hz stamps; the OXTS speed (vf) times 0.1 s is the distance between consecutive IMU poses (to 0.1 %: the
    speed varies within a step as the car weaves); and the car drives where it points: a step's direction in the
    IMU frame is half its heading change."""
    drives = request.getfixturevalue("drives") if motion == "gentle" else [request.getfixturevalue("turning_drive")]
    for drive in drives:
        packets = [kitti.read_oxts(p) for p in sorted((drive / "oxts" / "data").glob("*.txt"))]
        poses = kitti.oxts_to_poses(packets)
        stamps = kitti.read_timestamps(drive / "oxts" / "timestamps.txt")
        assert set(np.diff(stamps)) == {100_000_000}
        for i in range(FRAMES - 1):
            step = np.linalg.inv(poses[i]) @ poses[i + 1]
            assert np.linalg.norm(step[:3, 3]) == pytest.approx(packets[i].vf * 0.1, rel=1e-3)
            heading_change = np.arctan2(step[1, 0], step[0, 0])
            assert np.arctan2(step[1, 3], step[0, 3]) == pytest.approx(heading_change / 2, abs=2e-3)
            assert np.hypot(packets[i].vn, packets[i].ve) == pytest.approx(packets[i].vf, rel=1e-6)
            assert packets[i].au == pytest.approx(9.81, abs=0.05)


def median_rotation_deg(motion: synthetic_kitti.DriveMotion) -> float:
    """Median rotation between consecutive IMU poses over a few drives (degrees)."""
    rotations_deg = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        scene = synthetic_kitti.build_scene(rng, path_length_m=60.0, motion=motion)
        poses = synthetic_kitti.drive_trajectory(scene.path, rng, frames=50, motion=motion).world_from_imu
        for a, b in itertools.pairwise(poses):
            relative = a[:3, :3].T @ b[:3, :3]
            rotations_deg.append(np.degrees(np.arccos(np.clip((np.trace(relative) - 1.0) / 2.0, -1.0, 1.0))))
    return float(np.median(rotations_deg))


def test_turning_drives_rotate_more_between_frames():
    """Learned intrinsics are identifiable only from rotation between frames: GENTLE drives (the default, like
    KITTI's mostly straight roads) turn about 0.25° per frame on median, TURNING ones ≥ 0.4°."""
    assert 0.1 <= median_rotation_deg(synthetic_kitti.GENTLE) <= 0.35
    assert median_rotation_deg(synthetic_kitti.TURNING) >= 0.4


# A camera rolling ±0.1 rad about its own centre every 3–5 m (hand-held or gimballed), and the same camera panning.
CAMERA_ROLL = dataclasses.replace(synthetic_kitti.TURNING, roll_sway_rad=0.1, pitch_sway_rad=0.01,
                                  body_sway_wavelength_m=(3.0, 5.0),
                                  sway_pivot_in_imu_m=synthetic_kitti.CAMERA2_IN_IMU_M)  # fmt: skip
CAMERA_ROLL_AND_PAN = dataclasses.replace(CAMERA_ROLL, yaw_sway_rad=0.05)


def test_roll_and_pitch_sway_are_separate():
    """The OXTS roll and pitch (columns 3 and 4) follow their own amplitudes: a roll-only sway leaves pitch at 0."""
    motion = dataclasses.replace(synthetic_kitti.TURNING, roll_sway_rad=0.05, pitch_sway_rad=0.0)
    rng = np.random.default_rng(0)
    scene = synthetic_kitti.build_scene(rng, path_length_m=60.0, motion=motion)
    rows = np.array(synthetic_kitti.drive_trajectory(scene.path, rng, frames=50, motion=motion).oxts)
    assert np.all(rows[:, 4] == 0.0)
    assert 0.03 < np.abs(rows[:, 3]).max() <= 0.05


@pytest.mark.parametrize(("pivot", "camera_moves"), [("camera", False), ("imu", True)])
def test_sway_pivot(pivot: str, camera_moves: bool):
    """Swaying about the camera (CAMERA_ROLL) turns the view without moving the camera: its centre follows the path of
    the same drive without sway (to 1e-6 m); about the IMU (a car body), the lever arm moves it by centimetres."""
    about_imu = dataclasses.replace(CAMERA_ROLL, sway_pivot_in_imu_m=(0.0, 0.0, 0.0))
    swaying = CAMERA_ROLL if pivot == "camera" else about_imu
    level = dataclasses.replace(swaying, roll_sway_rad=0.0, pitch_sway_rad=0.0)
    imu_from_camera = np.linalg.inv(synthetic_kitti.make_calibration(WIDTH, HEIGHT).camera_from_imu(2))
    centres, orientations = [], []
    for motion in (swaying, level):
        rng = np.random.default_rng(3)
        scene = synthetic_kitti.build_scene(rng, path_length_m=40.0, motion=motion)
        poses = synthetic_kitti.drive_trajectory(scene.path, rng, frames=30, motion=motion).world_from_imu
        centres.append((poses @ imu_from_camera)[:, :3, 3])
        orientations.append(poses[:, :3, :3])
    offset_m = np.linalg.norm(centres[0] - centres[1], axis=1).max()
    assert offset_m > 0.02 if camera_moves else offset_m < 1e-6
    assert np.abs(orientations[0] - orientations[1]).max() > 0.05


def test_yaw_sway_turns_the_camera_not_its_travel():
    """CAMERA_ROLL_AND_PAN is CAMERA_ROLL with the body panning ±0.05 rad about the camera: the OXTS yaw (column 5)
    moves by up to the amplitude, roll and pitch (3, 4) and the ground velocity (vn, ve: 6, 7) do not, the velocity
    gains a lateral part in the body frame (vl: 9), and the camera's centre stays on the same path."""
    imu_from_camera = np.linalg.inv(synthetic_kitti.make_calibration(WIDTH, HEIGHT).camera_from_imu(2))
    rows, centres = [], []
    for motion in (CAMERA_ROLL, CAMERA_ROLL_AND_PAN):
        rng = np.random.default_rng(5)
        scene = synthetic_kitti.build_scene(rng, path_length_m=40.0, motion=motion)
        trajectory = synthetic_kitti.drive_trajectory(scene.path, rng, frames=30, motion=motion)
        rows.append(np.array(trajectory.oxts))
        centres.append((trajectory.world_from_imu @ imu_from_camera)[:, :3, 3])
    rocking, wobbling = rows
    yaw_sway = np.angle(np.exp(1j * (wobbling[:, 5] - rocking[:, 5])))
    assert 0.03 < np.abs(yaw_sway).max() <= CAMERA_ROLL_AND_PAN.yaw_sway_rad + 1e-9
    np.testing.assert_allclose(wobbling[:, [3, 4, 6, 7]], rocking[:, [3, 4, 6, 7]], atol=1e-12)
    assert np.abs(rocking[:, 9]).max() < 1e-9 < 0.1 < np.abs(wobbling[:, 9]).max()
    assert np.linalg.norm(centres[0] - centres[1], axis=1).max() < 1e-6


def test_motion_option_picks_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    chosen = []
    monkeypatch.setattr("training.synthetic_kitti.__main__.generate", lambda *args: chosen.append(args[7]))
    for name, motion in {"gentle": synthetic_kitti.GENTLE, "turning": synthetic_kitti.TURNING}.items():
        synthetic_kitti.main(["--out", str(tmp_path), "--motion", name])
        assert chosen[-1] is motion
    synthetic_kitti.main(["--out", str(tmp_path)])
    assert chosen[-1] is synthetic_kitti.GENTLE
    profile = tmp_path / "camera_roll_and_pan.json"
    profile.write_text(json.dumps({**dataclasses.asdict(CAMERA_ROLL_AND_PAN), "sway_pivot_in_imu_m": "camera"}))
    synthetic_kitti.main(["--out", str(tmp_path), "--motion_file", str(profile)])
    assert chosen[-1] == CAMERA_ROLL_AND_PAN  # lists back to tuples, "camera" to the camera's centre


def test_a_bad_motion_file_is_one_line_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture):
    profile = tmp_path / "typo.json"
    profile.write_text(json.dumps({"curve_radius_m": [80.0, 200.0], "roll_sway": 0.1}))
    with pytest.raises(SystemExit):
        synthetic_kitti.main(["--out", str(tmp_path), "--motion_file", str(profile)])
    assert "unknown field(s) ['roll_sway']" in capsys.readouterr().err


def test_mounting_matches_kitti(root: Path, drives: list[Path], calib: dict[str, np.ndarray]):
    """Calibration encodes KITTI's rig (Velodyne 0.81 m ahead of, 0.32 m right of and 0.80 m above the
    IMU), and the rendered road lies 1.65 m below the cameras and 1.73 m below the Velodyne."""
    imu_to_velo = parse_calib(root / DATE / "calib_imu_to_velo.txt")
    velo_in_imu = -imu_to_velo["R"].reshape(3, 3).T @ imu_to_velo["T"]
    np.testing.assert_allclose(velo_in_imu, [0.81, -0.32, 0.80], atol=1e-4)
    K = projection(calib, 2)[:, :3]
    for drive in drives:
        depth = read_depth(frame_path(drive, "proj_depth/groundtruth/image_02", 0))
        rows = slice(HEIGHT - 4, HEIGHT)
        columns = slice(WIDTH // 2 - 10, WIDTH // 2 + 10)  # the road just ahead of the car
        road = backproject_depth(depth, K).reshape(3, HEIGHT, WIDTH)[:, rows, columns]
        assert np.median(road[1]) == pytest.approx(1.65, abs=0.05)
        scan = np.fromfile(frame_path(drive, "velodyne_points/data", 0, ".bin"), "<f4").reshape(-1, 4)
        ahead = (np.abs(scan[:, 1]) < 1.0) & (scan[:, 0] > 4.0) & (scan[:, 0] < 8.0)
        assert np.median(scan[ahead, 2]) == pytest.approx(-1.73, abs=0.05)


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path):
    def first_image(seed: int, name: str) -> bytes:
        drives = synthetic_kitti.generate(tmp_path / name, drives=1, frames=5, seed=seed, width=96, height=32)
        drive = drives[0]
        return frame_path(drive, "image_02/data", 1).read_bytes()

    reference = first_image(0, "a")
    assert first_image(0, "b") == reference
    assert first_image(1, "c") != reference


def test_preview_contact_sheet(root: Path, tmp_path: Path):
    sheet = synthetic_kitti.preview(root, tmp_path / "sheet.png", n=3)
    image = cv2.imread(str(sheet), cv2.IMREAD_COLOR)
    assert image.shape == (3 * HEIGHT, 2 * WIDTH, 3)
