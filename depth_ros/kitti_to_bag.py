"""Convert one KITTI raw drive into a rosbag2 (MCAP) bag for ``ros2 bag play``.

Usage::

    python -m depth_ros.kitti_to_bag --drive 2011_09_26/2011_09_26_drive_0001_sync --out drive_0001 [--camera 2 3]

The drive directory is ``<root>/<date>/<date>_drive_NNNN_sync``; the calibration files
(``calib_cam_to_cam.txt``, ``calib_velo_to_cam.txt``, ``calib_imu_to_velo.txt``) are read from its
parent ``<root>/<date>``. Topics and frames follow kitti2bag:

* ``/kitti/camera_color_left/image_raw`` (``sensor_msgs/Image``, **bgr8** as kitti2bag, the PNG pixels
  unchanged) and ``/kitti/camera_color_left/camera_info`` for ``image_02``, frame ``camera_color_left``;
  ``/kitti/camera_color_right/...`` for ``image_03`` (frame ``camera_color_right``).
  The ``_sync`` images are rectified, so CameraInfo has d = 0, k = P_rect[:3, :3], r = R_rect_0N,
  p = P_rect_0N (as kitti2mcap).
* ``/tf_static`` (``tf2_msgs/TFMessage``, offered transient-local, depth 1): ``base_link → imu_link``
  (identity), ``imu_link → velo_link`` and ``imu_link → camera_color_left/right`` from the calibration
  chain. The camera frames are optical frames (z forward, x right, y down) without the ``_optical``
  suffix, as in kitti2bag.

Every message's header stamp and bag log time is the camera's real acquisition time from
``image_0N/timestamps.txt`` (exact nanoseconds); ``/tf_static`` is stamped with the first image time.
The bag is written with ``version=8`` metadata so ROS 2 Humble can read it, into a temporary sibling
directory that is renamed onto ``--out`` only when complete. An existing output is never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from depth_ros import kitti
from depth_ros.atomic_io import staged_directory
from depth_ros.interface import RECORDED_QOS, STATIC_QOS
from depth_ros.kitti import KittiFormatError
from depth_ros.messages import (
    make_camera_info,
    make_header,
    rgb_to_image,
    rosbags_message_types,
    rosbags_qos,
    rosbags_typestore,
    serialize,
)

__all__ = ["CAMERA_FRAMES", "TF_STATIC_TOPIC", "camera_topics", "convert_drive", "main"]

CAMERA_FRAMES = {2: "camera_color_left", 3: "camera_color_right"}
TF_STATIC_TOPIC = "/tf_static"
BASE_FRAME = "base_link"
IMU_FRAME = "imu_link"
VELO_FRAME = "velo_link"
IMAGE_ENCODING = "bgr8"


def camera_topics(cam: int) -> tuple[str, str]:
    """(image topic, camera_info topic) of KITTI camera ``cam`` (2 = colour left, 3 = colour right)."""
    prefix = f"/kitti/{CAMERA_FRAMES[cam]}"
    return f"{prefix}/image_raw", f"{prefix}/camera_info"


@dataclass(frozen=True)
class _CameraStream:
    """One camera of a drive: its PNG frames, their stamps (ns) and its rectified calibration."""

    cam: int
    images: list[Path]
    stamps_ns: list[int]
    size_hw: tuple[int, int]
    projection: np.ndarray  # 3×4 P_rect_0N
    rectification: np.ndarray  # 3×3 R_rect_0N


def _load_camera(drive_dir: Path, calib_dir: Path, cam: int) -> _CameraStream:
    """Index ``image_0{cam}`` and read its calibration; KittiFormatError if anything is missing."""
    image_dir = drive_dir / f"image_0{cam}"
    images = sorted((image_dir / "data").glob("*.png"))
    if not images:
        raise KittiFormatError(f"{image_dir / 'data'}: no PNG images found")
    stamps_ns = kitti.read_timestamps(image_dir / "timestamps.txt")
    if len(stamps_ns) != len(images):
        raise KittiFormatError(f"{image_dir}: {len(images)} images but {len(stamps_ns)} lines in timestamps.txt")
    key = f"R_rect_0{cam}"
    rectification = kitti.load_cam_to_cam(calib_dir).get(key)
    if rectification is None or rectification.size != 9:
        raise KittiFormatError(f"{calib_dir / 'calib_cam_to_cam.txt'}: missing or malformed key '{key}'")
    return _CameraStream(
        cam=cam,
        images=images,
        stamps_ns=stamps_ns,
        size_hw=kitti.rectified_image_size(calib_dir, cam),
        projection=kitti.rectified_projection(calib_dir, cam),
        rectification=rectification.reshape(3, 3),
    )


def _quaternion_xyzw(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (x, y, z, w), w ≥ 0, of a 3×3 rotation matrix."""
    return tuple(float(v) for v in Rotation.from_matrix(rotation).as_quat(canonical=True))


def _static_transforms(calib_dir: Path, cameras: Sequence[int]) -> list[tuple[str, str, np.ndarray]]:
    """(parent, child, 4×4 T_parent_child) edges of the static tree, as kitti2bag publishes them.

    ``T_parent_child`` maps points in the child frame into the parent frame, which is what a
    ``geometry_msgs/TransformStamped`` from ``header.frame_id`` to ``child_frame_id`` holds.
    """
    edges = [
        (BASE_FRAME, IMU_FRAME, np.eye(4)),
        (IMU_FRAME, VELO_FRAME, np.linalg.inv(kitti.load_imu_to_velo(calib_dir))),
    ]
    edges += [(IMU_FRAME, CAMERA_FRAMES[cam], np.linalg.inv(kitti.imu_to_camera(calib_dir, cam))) for cam in cameras]
    return edges


def _tf_message(edges: list[tuple[str, str, np.ndarray]], stamp_ns: int) -> Any:
    """``tf2_msgs/TFMessage`` (rosbags class) holding the static edges."""
    types = rosbags_typestore().types
    transforms = []
    for parent, child, transform in edges:
        qx, qy, qz, qw = _quaternion_xyzw(transform[:3, :3])
        tx, ty, tz = (float(v) for v in transform[:3, 3])
        transforms.append(
            types["geometry_msgs/msg/TransformStamped"](
                header=make_header(stamp_ns, parent, rosbags_message_types()),
                child_frame_id=child,
                transform=types["geometry_msgs/msg/Transform"](
                    translation=types["geometry_msgs/msg/Vector3"](x=tx, y=ty, z=tz),
                    rotation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw),
                ),
            )
        )
    return types["tf2_msgs/msg/TFMessage"](transforms=transforms)


def _read_bgr(path: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """H×W×3 uint8 BGR pixels of a KITTI PNG, checked against the calibrated image size."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise KittiFormatError(f"{path}: cannot read image")
    if bgr.shape[:2] != size_hw:
        raise KittiFormatError(
            f"{path}: image is {bgr.shape[1]}×{bgr.shape[0]} but the calibration says {size_hw[1]}×{size_hw[0]}"
        )
    return bgr


def convert_drive(
    drive_dir: str | Path,
    out: str | Path,
    *,
    cameras: Sequence[int] | None = None,
    progress: bool = True,
) -> Path:
    """Write the KITTI drive ``drive_dir`` as an MCAP rosbag2 directory ``out`` and return its path.

    ``cameras`` picks KITTI cameras 2 (colour left) and/or 3 (colour right); by default camera 2 and,
    when the drive has ``image_03``, camera 3. Raises :class:`KittiFormatError` for a missing or
    malformed drive or calibration and FileExistsError when ``out`` exists; on any error nothing is
    left at ``out`` and the temporary directory is removed.
    """
    drive_dir, out = Path(drive_dir), Path(out)
    if not drive_dir.is_dir():
        raise KittiFormatError(f"{drive_dir}: KITTI drive directory not found")
    calib_dir = drive_dir.parent
    if cameras is None:
        cameras = [2, 3] if (drive_dir / "image_03" / "data").is_dir() else [2]
    unknown = sorted(set(cameras) - set(CAMERA_FRAMES))
    if unknown or not cameras:
        raise KittiFormatError(f"cameras must be among {sorted(CAMERA_FRAMES)}, got {list(cameras)}")
    streams = [_load_camera(drive_dir, calib_dir, cam) for cam in dict.fromkeys(cameras)]
    frame_counts = {stream.cam: len(stream.images) for stream in streams}
    if len(set(frame_counts.values())) != 1:
        raise KittiFormatError(f"{drive_dir}: cameras have different frame counts {frame_counts}")
    tf_stamp_ns = min(stream.stamps_ns[0] for stream in streams)
    tf_static = _tf_message(_static_transforms(calib_dir, [s.cam for s in streams]), tf_stamp_ns)

    types = rosbags_message_types()
    typestore = rosbags_typestore()
    with staged_directory(out) as staging, Writer(staging, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        tf_connection = writer.add_connection(
            TF_STATIC_TOPIC,
            tf_static.__msgtype__,
            typestore=typestore,
            offered_qos_profiles=[rosbags_qos(STATIC_QOS)],
        )
        writer.write(tf_connection, tf_stamp_ns, serialize(tf_static))
        connections = {}
        for stream in streams:
            image_topic, info_topic = camera_topics(stream.cam)
            connections[stream.cam] = tuple(
                writer.add_connection(
                    topic,
                    msgtype,
                    typestore=typestore,
                    offered_qos_profiles=[rosbags_qos(RECORDED_QOS)],
                )
                for topic, msgtype in (
                    (image_topic, types.Image.__msgtype__),
                    (info_topic, types.CameraInfo.__msgtype__),
                )
            )
        for index in tqdm(range(len(streams[0].images)), desc=drive_dir.name, unit="frame", disable=not progress):
            for stream in streams:
                stamp_ns = stream.stamps_ns[index]
                header = make_header(stamp_ns, CAMERA_FRAMES[stream.cam], types)
                bgr = _read_bgr(stream.images[index], stream.size_hw)
                image = rgb_to_image(bgr[:, :, ::-1], header, encoding=IMAGE_ENCODING, types=types)
                info = make_camera_info(stream.projection[:, :3], bgr.shape[1], bgr.shape[0], header, types)
                info.r = stream.rectification.reshape(-1).copy()
                info.p = stream.projection.reshape(-1).copy()
                image_connection, info_connection = connections[stream.cam]
                writer.write(image_connection, stamp_ns, serialize(image))
                writer.write(info_connection, stamp_ns, serialize(info))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0 on success and 2 (one error line on stderr) on bad input."""
    parser = argparse.ArgumentParser(
        prog="kitti_to_bag", description="Convert a KITTI raw drive into an MCAP rosbag2 bag (Humble-readable)."
    )
    parser.add_argument("--drive", required=True, type=Path, help="<root>/<date>/<date>_drive_NNNN_sync directory")
    parser.add_argument("--out", "-o", required=True, type=Path, help="output bag directory (must not exist)")
    parser.add_argument(
        "--camera",
        type=int,
        nargs="+",
        choices=sorted(CAMERA_FRAMES),
        help="KITTI cameras to convert (2 = colour left, 3 = colour right; default: 2, and 3 when present)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    args = parser.parse_args(argv)
    try:
        out = convert_drive(args.drive, args.out, cameras=args.camera, progress=not args.no_progress)
    except (KittiFormatError, OSError, WriterError) as error:
        print(f"kitti_to_bag: error: {error}", file=sys.stderr)
        return 2
    print(f"kitti_to_bag: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
