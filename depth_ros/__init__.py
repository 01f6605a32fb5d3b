"""depth_ros: self-supervised monocular depth (Monodepth2 and extensions) for ROS 2.

The runtime half: networks, checkpoints, the inference pipeline and its backends, message
conversion, and the ROS 2 / rosbag2 adapters. Importable without ROS; nothing here imports
``training``.
"""

__version__ = "0.1.0"
