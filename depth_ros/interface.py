"""The depth node's interface, stated once: its name, what it subscribes to and publishes, and with which QoS.

The node (``node.py``) creates its publishers from :data:`OUTPUTS`; the bag processor (``process_bag.py``) writes
the same topics (absolute, as the node publishes them without a namespace) with the same offered QoS; the KITTI
converter (``kitti_to_bag.py``) records its topics with the QoS a driver offers. ROS-free: each adapter turns a
:class:`QosSettings` into its own QoS type.
"""

from __future__ import annotations

import dataclasses

NODE_NAME = "depth_node"
IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD_TYPE = "sensor_msgs/msg/PointCloud2"


@dataclasses.dataclass(frozen=True)
class QosSettings:
    """The QoS policies that differ between our topics (history is always keep-last, lifespans unlimited)."""

    depth: int
    reliable: bool = True
    transient_local: bool = False


# Inputs: sensor-data QoS (best effort, volatile) but only the newest image: older ones are stale.
INPUT_QOS = QosSettings(depth=1, reliable=False)
# Outputs: reliable, so that RViz's default (reliable) subscriptions receive them.
OUTPUT_QOS = QosSettings(depth=5)
# What a camera driver or `ros2 bag record` offers: reliable; latched for /tf_static.
RECORDED_QOS = QosSettings(depth=10)
STATIC_QOS = QosSettings(depth=1, transient_local=True)


@dataclasses.dataclass(frozen=True)
class OutputTopic:
    """One published output: the :class:`~depth_ros.depth_processor.DepthOutputs` field it carries, its topic
    relative to the node's namespace, and its message type."""

    field: str
    topic: str
    msgtype: str


OUTPUTS = (
    OutputTopic("depth", "depth/image", IMAGE_TYPE),
    OutputTopic("camera_info", "depth/camera_info", CAMERA_INFO_TYPE),
    OutputTopic("colorized", "depth/colorized", IMAGE_TYPE),
    OutputTopic("points", "points", POINT_CLOUD_TYPE),  # only with publish_points
)
INPUT_IMAGE_TOPIC, INPUT_CAMERA_INFO_TOPIC = "image", "camera_info"


def published_outputs(publish_points: bool) -> tuple[OutputTopic, ...]:
    """The outputs a node with ``publish_points`` publishes."""
    return tuple(output for output in OUTPUTS if publish_points or output.field != "points")
