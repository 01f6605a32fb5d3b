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
from depth_ros.interface import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    INPUT_CAMERA_INFO_TOPIC,
    INPUT_IMAGE_TOPIC,
    INPUT_QOS,
    NODE_NAME,
    OUTPUT_QOS,
    POINT_CLOUD_TYPE,
    QosSettings,
    published_outputs,
)
from depth_ros.messages import default_message_types

__all__ = ["DepthNode", "main"]



def rclpy_qos(settings: QosSettings) -> QoSProfile:
    """rclpy's profile of one of the interface's QoS settings."""
    return QoSProfile(
        history=QoSHistoryPolicy.KEEP_LAST,
        depth=settings.depth,
        reliability=QoSReliabilityPolicy.RELIABLE if settings.reliable else QoSReliabilityPolicy.BEST_EFFORT,
        durability=QoSDurabilityPolicy.TRANSIENT_LOCAL if settings.transient_local else QoSDurabilityPolicy.VOLATILE,
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

        classes = {IMAGE_TYPE: types.Image, CAMERA_INFO_TYPE: types.CameraInfo, POINT_CLOUD_TYPE: types.PointCloud2}
        self._output_publishers = {
            output.field: self.create_publisher(classes[output.msgtype], output.topic, rclpy_qos(OUTPUT_QOS))
            for output in published_outputs(self.config.publish_points)
        }
        self._camera_info: Any = None
        self._frames = LatestSlot()
        self._errors = ThrottledErrorLog(self.get_logger().warning)
        self._latency = LatencyTracker(self.config.latency_log_period_s)
        image_sub = self.create_subscription(types.Image, INPUT_IMAGE_TOPIC, self._frames.put, rclpy_qos(INPUT_QOS))
        self.get_logger().info(f"subscribed to {image_sub.topic_name} with sensor-data QoS (best effort, keep last 1)")
        if self.config.use_camera_info:
            info_sub = self.create_subscription(
                types.CameraInfo, INPUT_CAMERA_INFO_TOPIC, self._on_camera_info, rclpy_qos(INPUT_QOS)
            )
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
                for field, publisher in self._output_publishers.items():
                    message = getattr(outputs, field)
                    if message is not None:  # camera_info and points need intrinsics
                        publisher.publish(message)
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
