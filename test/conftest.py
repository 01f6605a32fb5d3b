"""Fixtures shared by several test modules."""

import os
from pathlib import Path

import pytest
import torch

# Where `make test` found the ROS 2 runtime, a test skipped for want of ROS is a failure, not a skip.
ROS_MODULES = ("rclpy", "launch_ros", "launch_testing", "cv_bridge", "sensor_msgs")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("DEPTH_ROS_REQUIRE_ROS2"):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if any(f"'{module}'" in reason for module in ROS_MODULES):
            report.outcome = "failed"
            report.longrepr = f"DEPTH_ROS_REQUIRE_ROS2 is set but this ROS 2 test skipped: {reason}"


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: stable timings on a shared 2-core machine (and bit-stable results)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def kitti_drive_416x128(tmp_path_factory) -> Path:
    """One synthetic KITTI raw drive (seed 0, 5 frames, 416×128, with its date folder's calibration), rendered once
    and shared read-only by the modules that convert, process or score it: copy it before changing it."""
    from training import synthetic_kitti

    root = tmp_path_factory.mktemp("kitti_drive_416x128")
    return synthetic_kitti.generate(root, drives=1, frames=5, seed=0, width=416, height=128)[0]
