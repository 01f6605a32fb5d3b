"""depth_node, the rclpy adapter. The node tests run only where ROS 2 (rclpy, sensor_msgs) is sourced.

Without ROS the same callback path is covered by test_depth_processor.py and test_process_bag.py.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
from depth_test_models import save_tiny_weights, tiny_network

from depth_ros.messages import default_message_types, make_camera_info, make_header, rgb_to_image, stamp_to_ns

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "depth_ros"
STAMP_NS = 1_317_042_600_802_237_923
OUTPUT_TOPICS = ("depth/image", "depth/camera_info", "depth/colorized", "points")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return {name.split(".")[0] for name in names}


def test_only_the_node_imports_rclpy_and_nothing_imports_training():
    modules = {path.relative_to(PACKAGE_DIR).as_posix(): _imports(path) for path in PACKAGE_DIR.rglob("*.py")}
    assert sorted(name for name, imports in modules.items() if "rclpy" in imports) == ["node.py"]
    assert [name for name, imports in modules.items() if "training" in imports] == []


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is not None, reason="rclpy is installed here")
def test_importing_the_node_without_ros_says_what_to_do():
    with pytest.raises(ImportError, match=r"source a ROS 2 Humble/Jazzy setup\.bash"):
        importlib.import_module("depth_ros.node")


# --------------------------------------------------------------------------------------------------
# With ROS 2


@pytest.fixture
def ros():
    """rclpy, initialised for one test."""
    rclpy = pytest.importorskip("rclpy")
    pytest.importorskip("sensor_msgs.msg")
    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    return save_tiny_weights(tmp_path / "weights", tiny_network())


def _spin_until(executor, done, timeout_s: float = 30.0, each=lambda: None) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        each()
        executor.spin_once(timeout_sec=0.05)


def test_node_publishes_depth_outputs_and_survives_bad_frames(ros, tiny_model):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data

    from depth_ros.node import DepthNode

    types = default_message_types()
    overrides = [
        Parameter("model_path", value=str(tiny_model)),
        Parameter("backend", value="torch"),
        Parameter("scale_strategy", value="fixed"),
        Parameter("latency_log_period_s", value=0.0),
    ]
    node = DepthNode(parameter_overrides=overrides)
    helper = ros.create_node("depth_node_test")
    executor = SingleThreadedExecutor()
    try:
        received: dict[str, object] = {}
        for topic, msgtype in zip(OUTPUT_TOPICS, (types.Image, types.CameraInfo, types.Image, types.PointCloud2)):
            helper.create_subscription(msgtype, topic, lambda msg, topic=topic: received.__setitem__(topic, msg), 5)
        image_pub = helper.create_publisher(types.Image, "image", qos_profile_sensor_data)
        info_pub = helper.create_publisher(types.CameraInfo, "camera_info", qos_profile_sensor_data)
        executor.add_node(node)
        executor.add_node(helper)

        header = make_header(STAMP_NS, "camera_color_left", types)
        rgb = np.random.default_rng(0).integers(0, 256, (128, 416, 3), dtype=np.uint8)
        image = rgb_to_image(rgb, header, encoding="bgr8", types=types)
        K = np.array([[360.0, 0.0, 207.5], [0.0, 360.0, 63.5], [0.0, 0.0, 1.0]])
        info = make_camera_info(K, 416, 128, header, types)
        bad = rgb_to_image(rgb, header, types=types)
        bad.encoding = "32FC1"

        _spin_until(executor, lambda: node._errors.total > 0, each=lambda: image_pub.publish(bad))
        assert node._errors.counts["image"] >= 1

        def publish() -> None:
            info_pub.publish(info)
            image_pub.publish(image)

        _spin_until(executor, lambda: len(received) == len(OUTPUT_TOPICS), each=publish)
        assert set(received) == set(OUTPUT_TOPICS)
        depth = received["depth/image"]
        assert (depth.encoding, depth.width, depth.height) == ("32FC1", 416, 128)
        for msg in received.values():
            assert stamp_to_ns(msg.header) == STAMP_NS and msg.header.frame_id == "camera_color_left"

        assert not node.set_parameters([Parameter("model_path", value="/elsewhere")])[0].successful
        refused = node.set_parameters([Parameter("points_stride", value=0)])[0]
        assert not refused.successful and "points_stride" in refused.reason
        assert node.set_parameters([Parameter("points_stride", value=4)])[0].successful
        assert node.processor.config.points_stride == 4
    finally:
        executor.shutdown()
        helper.destroy_node()
        node.destroy_node()
