"""KITTI drive → MCAP rosbag2 conversion, checked by reading the bag back with rosbags."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from depth_ros import kitti
from depth_ros.kitti import KittiFormatError
from depth_ros.kitti_to_bag import _quaternion_xyzw, camera_topics, convert_drive, main
from depth_ros.messages import deserialize, image_to_rgb, stamp_to_ns
from training import synthetic_kitti

FRAMES = 5
WIDTH, HEIGHT = 416, 128


@pytest.fixture(scope="module")
def drive(kitti_drive_416x128) -> Path:
    """The shared FRAMES-frame WIDTH×HEIGHT drive (conftest); tests that break it work on a copy."""
    assert len(list((kitti_drive_416x128 / "image_02" / "data").glob("*.png"))) == FRAMES
    return kitti_drive_416x128


@pytest.fixture(scope="module")
def bag(drive, tmp_path_factory) -> Path:
    return convert_drive(drive, tmp_path_factory.mktemp("bags") / "drive_0001", progress=False)


@pytest.fixture(scope="module")
def messages_by_topic(bag) -> dict[str, list[tuple[int, object]]]:
    """topic → [(log time ns, deserialised message)] in log-time order."""
    out: dict[str, list[tuple[int, object]]] = {}
    with Reader(bag) as reader:
        for connection, log_time_ns, raw in reader.messages():
            out.setdefault(connection.topic, []).append((log_time_ns, deserialize(raw, connection.msgtype)))
    return out


def quaternion_to_rotation(x: float, y: float, z: float, w: float) -> np.ndarray:
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def copy_drive(drive: Path, root: Path, *, with_calibration: bool = True) -> Path:
    """A copy of ``drive`` (and, optionally, its calibration files) under a fresh ``root/<date>``."""
    date_dir = root / drive.parent.name
    shutil.copytree(drive, date_dir / drive.name)
    if with_calibration:
        for calib in drive.parent.glob("calib_*.txt"):
            shutil.copy2(calib, date_dir / calib.name)
    return date_dir / drive.name


# ---------------------------------------------------------------------------------------------- layout


def test_metadata_is_humble_readable_mcap(bag):
    assert sorted(p.name for p in bag.iterdir()) == ["drive_0001.mcap", "metadata.yaml"]
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 8
    assert info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["drive_0001.mcap"]
    # version 8 stores offered_qos_profiles as a YAML string with integer enums (Humble's format)
    qos = {
        t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"]
        for t in info["topics_with_message_count"]
    }
    assert all(isinstance(profile, str) for profile in qos.values())
    (tf_qos,) = yaml.safe_load(qos["/tf_static"])
    assert (tf_qos["durability"], tf_qos["reliability"], tf_qos["history"], tf_qos["depth"]) == (1, 1, 1, 1)


def test_topics_and_types(bag):
    left_image, left_info = camera_topics(2)
    right_image, right_info = camera_topics(3)
    assert (left_image, left_info) == ("/kitti/camera_color_left/image_raw", "/kitti/camera_color_left/camera_info")
    with Reader(bag) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert types == {
        "/tf_static": "tf2_msgs/msg/TFMessage",
        left_image: "sensor_msgs/msg/Image",
        left_info: "sensor_msgs/msg/CameraInfo",
        right_image: "sensor_msgs/msg/Image",
        right_info: "sensor_msgs/msg/CameraInfo",
    }
    assert counts == {"/tf_static": 1, left_image: FRAMES, left_info: FRAMES, right_image: FRAMES, right_info: FRAMES}


@pytest.mark.parametrize("cam", [2, 3])
def test_stamps_are_the_drive_timestamps(drive, messages_by_topic, cam):
    expected = kitti.read_timestamps(drive / f"image_0{cam}" / "timestamps.txt")
    assert len(expected) == FRAMES and expected[0] > 1_300_000_000 * 10**9  # real 2011 epoch stamps
    for topic in camera_topics(cam):
        log_times = [t for t, _ in messages_by_topic[topic]]
        header_stamps = [stamp_to_ns(msg.header) for _, msg in messages_by_topic[topic]]
        assert log_times == expected
        assert header_stamps == expected


@pytest.mark.parametrize(("cam", "frame_id"), [(2, "camera_color_left"), (3, "camera_color_right")])
def test_images_equal_the_pngs(drive, messages_by_topic, cam, frame_id):
    pngs = sorted((drive / f"image_0{cam}" / "data").glob("*.png"))
    images = [msg for _, msg in messages_by_topic[camera_topics(cam)[0]]]
    assert len(pngs) == len(images) == FRAMES
    for png, msg in zip(pngs, images):
        bgr = cv2.imread(str(png), cv2.IMREAD_COLOR)
        assert (msg.encoding, msg.width, msg.height, msg.step) == ("bgr8", WIDTH, HEIGHT, 3 * WIDTH)
        assert msg.header.frame_id == frame_id
        np.testing.assert_array_equal(msg.data.reshape(HEIGHT, WIDTH, 3), bgr)
        np.testing.assert_array_equal(image_to_rgb(msg), bgr[:, :, ::-1])


@pytest.mark.parametrize(("cam", "frame_id"), [(2, "camera_color_left"), (3, "camera_color_right")])
def test_camera_info_is_the_rectified_calibration(drive, messages_by_topic, cam, frame_id):
    calib = kitti.load_cam_to_cam(drive.parent)
    projection = calib[f"P_rect_0{cam}"].reshape(3, 4)
    for _, info in messages_by_topic[camera_topics(cam)[1]]:
        assert (info.width, info.height, info.distortion_model) == (WIDTH, HEIGHT, "plumb_bob")
        assert info.header.frame_id == frame_id
        np.testing.assert_array_equal(info.d, np.zeros(5))
        np.testing.assert_array_equal(info.k.reshape(3, 3), projection[:, :3])
        np.testing.assert_array_equal(info.p.reshape(3, 4), projection)
        np.testing.assert_array_equal(info.r, calib[f"R_rect_0{cam}"])
    # the synthetic rig: fx = fy = 721.5377 · 416/1242, principal point at the image centre
    info = messages_by_topic[camera_topics(cam)[1]][0][1]
    np.testing.assert_allclose(info.k[[0, 4, 2, 5]], [721.5377 * WIDTH / 1242] * 2 + [WIDTH / 2, HEIGHT / 2], atol=1e-3)


def test_tf_static_places_the_sensors(drive, messages_by_topic):
    ((log_time, message),) = messages_by_topic["/tf_static"]
    first_image_ns = kitti.read_timestamps(drive / "image_02" / "timestamps.txt")[0]
    assert log_time <= first_image_ns
    edges = {}
    for transform in message.transforms:
        assert stamp_to_ns(transform.header) == log_time
        q = transform.transform.rotation
        t = transform.transform.translation
        matrix = np.eye(4)
        matrix[:3, :3] = quaternion_to_rotation(q.x, q.y, q.z, q.w)
        matrix[:3, 3] = t.x, t.y, t.z
        assert np.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0)
        edges[(transform.header.frame_id, transform.child_frame_id)] = matrix
    assert set(edges) == {
        ("base_link", "imu_link"),
        ("imu_link", "velo_link"),
        ("imu_link", "camera_color_left"),
        ("imu_link", "camera_color_right"),
    }
    np.testing.assert_allclose(edges[("base_link", "imu_link")], np.eye(4), atol=1e-12)
    # ground truth of the synthetic rig: T_parent_child = inverse of (child ← parent)
    rig = synthetic_kitti.make_calibration(WIDTH, HEIGHT)
    np.testing.assert_allclose(edges[("imu_link", "velo_link")], np.linalg.inv(rig.velo_from_imu), atol=1e-5)
    for cam, frame in ((2, "camera_color_left"), (3, "camera_color_right")):
        np.testing.assert_allclose(edges[("imu_link", frame)], np.linalg.inv(rig.camera_from_imu(cam)), atol=1e-5)
    # and in plain numbers: the left colour camera sits 1.08 m ahead, 0.26 m right and 0.72 m above the IMU,
    # looking forward (optical z = IMU x) with optical x = IMU −y and optical y = IMU −z
    left = edges[("imu_link", "camera_color_left")]
    np.testing.assert_allclose(left[:3, 3], [1.08, -0.26, 0.72], atol=1e-4)
    np.testing.assert_allclose(left[:3, :3], [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-4)


@pytest.mark.parametrize(
    "rotvec",
    [(0.0, 0.0, 0.0), (0.1, -0.2, 0.3), (np.pi, 0.0, 0.0), (0.0, np.pi, 0.0), (0.0, 0.0, np.pi), (2.0, 1.0, -2.5)],
)
def test_quaternion_of_rotation(rotvec):
    rotation = cv2.Rodrigues(np.array(rotvec, dtype=np.float64))[0]
    q = _quaternion_xyzw(rotation)
    assert q[3] >= 0 and np.isclose(np.linalg.norm(q), 1.0)
    np.testing.assert_allclose(quaternion_to_rotation(*q), rotation, atol=1e-12)


def test_camera_selection(drive, tmp_path):
    out = convert_drive(drive, tmp_path / "left_only", cameras=[2], progress=False)
    with Reader(out) as reader:
        assert {c.topic for c in reader.connections} == {"/tf_static", *camera_topics(2)}
        (tf_static,) = [deserialize(raw, c.msgtype) for c, _, raw in reader.messages() if c.topic == "/tf_static"]
    assert "camera_color_right" not in {t.child_frame_id for t in tf_static.transforms}


def test_main_converts(drive, tmp_path, capsys):
    assert main(["--drive", str(drive), "--out", str(tmp_path / "bag"), "--camera", "2", "--no-progress"]) == 0
    assert (tmp_path / "bag" / "metadata.yaml").is_file()
    assert "wrote" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- errors


def test_missing_calibration_is_a_kitti_format_error(drive, tmp_path):
    orphan = copy_drive(drive, tmp_path / "root", with_calibration=False)
    with pytest.raises(KittiFormatError, match="calib"):
        convert_drive(orphan, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def _assert_clean_exit_2(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert error.startswith("kitti_to_bag: error: ") and "\n" not in error and "Traceback" not in error
    return error


def test_main_reports_missing_calibration(drive, tmp_path, capsys):
    orphan = copy_drive(drive, tmp_path / "root", with_calibration=False)
    error = _assert_clean_exit_2(["--drive", str(orphan), "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert "calib_" in error


def test_main_reports_missing_drive(tmp_path, capsys):
    error = _assert_clean_exit_2(["--drive", str(tmp_path / "nope"), "--out", str(tmp_path / "out")], capsys)
    assert "nope" in error


def test_existing_output_is_refused(drive, tmp_path, capsys):
    out = tmp_path / "bag"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError):
        convert_drive(drive, out, progress=False)
    error = _assert_clean_exit_2(["--drive", str(drive), "--out", str(out), "--no-progress"], capsys)
    assert "exists" in error
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"


def test_failure_midway_leaves_nothing_behind(drive, tmp_path):
    broken = copy_drive(drive, tmp_path / "root")
    last_png = sorted((broken / "image_02" / "data").glob("*.png"))[-1]
    last_png.write_bytes(b"not a png")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    with pytest.raises(KittiFormatError, match="cannot read image"):
        convert_drive(broken, outputs / "bag", progress=False)
    assert list(outputs.iterdir()) == []


def test_timestamp_count_mismatch_is_rejected(drive, tmp_path):
    broken = copy_drive(drive, tmp_path / "root")
    stamps = broken / "image_02" / "timestamps.txt"
    stamps.write_text("".join(stamps.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(KittiFormatError, match=r"timestamps\.txt"):
        convert_drive(broken, tmp_path / "out", progress=False)
