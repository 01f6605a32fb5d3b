"""A synthetic drive written in the KITTI raw layout (images, Velodyne, OXTS, timestamps, depth PNGs), the split
files, and the contact-sheet preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from depth_ros.visualize import colorize_depth
from training.synthetic_kitti.lidar import scan_velodyne, velodyne_rays
from training.synthetic_kitti.motion import (
    DRIVE_INTERVAL_S,
    FRAME_PERIOD_NS,
    GENTLE,
    SPEED_M_PER_FRAME,
    DriveMotion,
    Trajectory,
    drive_trajectory,
)
from training.synthetic_kitti.render import RENDER_THREADS, pixel_rays, render_camera
from training.synthetic_kitti.rig import IMAGE_CENTRE, Calibration, make_calibration, write_calibration
from training.synthetic_kitti.scene import build_scene

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

