"""The ROS 2 node ``depth_node``: a thin rclpy adapter over :class:`~depth_ros.depth_processor.DepthImageProcessor`.

Topics (relative names; remap them, e.g. ``image:=/kitti/camera_color_left/image_raw``):

* subscribes ``image`` (``sensor_msgs/Image``, any colour encoding) with sensor-data QoS at depth 1,
  and, with ``use_camera_info``, ``camera_info`` (the latest is kept);
* publishes ``depth/image`` (32FC1, metres, NaN invalid), ``depth/camera_info``, ``depth/colorized``
  (bgr8) and, with ``publish_points``, ``points`` (organized xyz PointCloud2, optical frame), all
  reliable at depth 5, with the input image's header.

Only the latest frame is processed: the subscription callback puts the newest image into a one-item
slot and a worker thread runs the network on it; an image arriving while the worker is busy replaces
the waiting one and is counted as dropped. A bad frame is logged once per kind of error and skipped;
the node carries on. Parameters are those of ``config/depth.yaml`` (see
:class:`~depth_ros.depth_processor.ProcessorConfig`); the ones that shape the model, subscriptions
and publishers are read-only, the others may be changed at runtime.

This is the only module of depth_ros that imports rclpy. Run it with ``ros2 run depth_ros depth_node``
or ``ros2 launch depth_ros depth.launch.py``.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

try:
    import rclpy
    from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
    from rclpy.executors import ExternalShutdownException
    from rclpy.logging import get_logger
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
except ImportError as exc:
    raise ImportError(
        "depth_ros.node is the ROS 2 adapter and needs rclpy: source a ROS 2 Humble/Jazzy setup.bash first "
        "(without ROS, run the same callback path over a bag with python -m depth_ros.process_bag)"
    ) from exc

from depth_ros.backends import BackendUnavailable
from depth_ros.checkpoint import CheckpointError
from depth_ros.depth_processor import (
    DepthImageProcessor,
    FrameError,
    LatencyTracker,
    LatestSlot,
    ProcessorConfig,
    ThrottledErrorLog,
    create_estimator,
)
from depth_ros.messages import default_message_types

__all__ = ["DepthNode", "main"]

NODE_NAME = "depth_node"
# Sensor-data QoS (best effort, volatile) but keep only the newest image: older ones are stale.
IMAGE_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=QoSReliabilityPolicy.BEST_EFFORT,
    durability=QoSDurabilityPolicy.VOLATILE,
)
# Outputs: reliable so that RViz's default (reliable) subscriptions receive them.
OUTPUT_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=QoSReliabilityPolicy.RELIABLE,
    durability=QoSDurabilityPolicy.VOLATILE,
)


class DepthNode(Node):
    """Monocular depth node; raises ValueError / CheckpointError / BackendUnavailable for bad parameters or models."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        fields = ProcessorConfig.parameters()
        for name, field in fields.items():
            descriptor = ParameterDescriptor(
                description=field.metadata["description"],
                read_only=field.metadata["read_only"],
                dynamic_typing=isinstance(field.default, float),  # YAML 2 for 2.0 is fine: validated below
            )
            self.declare_parameter(name, field.default, descriptor)
        self.config = ProcessorConfig.from_parameters({name: self.get_parameter(name).value for name in fields})
        types = default_message_types()
        self.processor = DepthImageProcessor(create_estimator(self.config), self.config, types)
        backend = self.processor.estimator.backend
        self.get_logger().info(
            f"model {self.config.model_path} on {backend.name} ({backend.device}), scale {self.config.scale_strategy}"
        )

        self._depth_pub = self.create_publisher(types.Image, "depth/image", OUTPUT_QOS)
        self._info_pub = self.create_publisher(types.CameraInfo, "depth/camera_info", OUTPUT_QOS)
        self._colour_pub = self.create_publisher(types.Image, "depth/colorized", OUTPUT_QOS)
        self._points_pub = (
            self.create_publisher(types.PointCloud2, "points", OUTPUT_QOS) if self.config.publish_points else None
        )
        self._camera_info: Any = None
        self._frames = LatestSlot()
        self._errors = ThrottledErrorLog(self.get_logger().warning)
        self._latency = LatencyTracker(self.config.latency_log_period_s)
        image_sub = self.create_subscription(types.Image, "image", self._frames.put, IMAGE_QOS)
        self.get_logger().info(f"subscribed to {image_sub.topic_name} with sensor-data QoS (best effort, keep last 1)")
        if self.config.use_camera_info:
            info_sub = self.create_subscription(types.CameraInfo, "camera_info", self._on_camera_info, IMAGE_QOS)
            self.get_logger().info(
                f"subscribed to {info_sub.topic_name} with sensor-data QoS (best effort, keep last 1)"
            )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._worker = threading.Thread(target=self._work, name="depth_worker", daemon=True)
        self._worker.start()

    def _on_camera_info(self, msg: Any) -> None:
        self._camera_info = msg

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Validate runtime changes (read-only ones are refused by rclpy first) and apply them."""
        changes = {p.name: p.value for p in parameters if p.name in ProcessorConfig.parameters()}
        try:
            config = ProcessorConfig.from_parameters({**self.config.as_parameters(), **changes})
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.config = self.processor.config = config
        self._latency.period_s = config.latency_log_period_s
        return SetParametersResult(successful=True)

    def _work(self) -> None:
        """Worker thread: process the latest image until the slot is closed."""
        while (image_msg := self._frames.take()) is not None:
            start = time.perf_counter()
            try:
                outputs = self.processor.process(image_msg, self._camera_info)
                self._depth_pub.publish(outputs.depth)
                self._colour_pub.publish(outputs.colorized)
                if outputs.camera_info is not None:
                    self._info_pub.publish(outputs.camera_info)
                if self._points_pub is not None and outputs.points is not None:
                    self._points_pub.publish(outputs.points)
            except FrameError as exc:
                self._errors.report(exc)
                continue
            except Exception as exc:  # never let one frame stop the node; a failing backend shows in the log
                self.get_logger().error(f"depth processing failed: {exc!r}", throttle_duration_sec=10.0)
                continue
            line = self._latency.add(time.perf_counter() - start)
            if line is not None:
                skipped = self._errors.summary() or "none"
                self.get_logger().info(f"{line}; dropped {self._frames.dropped} frames while busy; skipped: {skipped}")

    def destroy_node(self) -> None:
        """Stop the worker (after its current frame), then destroy the node."""
        self._frames.close()
        self._worker.join()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``depth_node`` entry point: 0 on shutdown, 1 when the parameters or the model are unusable."""
    rclpy.init(args=args)
    node = None
    try:
        node = DepthNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, CheckpointError, BackendUnavailable) as exc:
        get_logger(NODE_NAME).fatal(str(exc))
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
