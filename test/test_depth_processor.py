"""DepthImageProcessor (the node's and the bag processor's shared callback), its config and log helpers.

The network is replaced by a backend returning a known disparity, injected through
``DepthEstimator(backend, metadata, ...)``; messages are the rosbags typestore classes.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from depth_test_models import ConstantBackend

from depth_ros.checkpoint import ModelMetadata
from depth_ros.depth_processor import (
    DepthImageProcessor,
    FrameError,
    LatencyTracker,
    LatestSlot,
    ProcessorConfig,
    ThrottledErrorLog,
    create_estimator,
    percentiles,
)
from depth_ros.geometry import scale_intrinsics
from depth_ros.messages import (
    camera_info_to_K,
    image_to_depth,
    image_to_rgb,
    make_camera_info,
    make_header,
    pointcloud2_to_points,
    rgb_to_image,
    rosbags_message_types,
)
from depth_ros.pipeline import DepthEstimator
from depth_ros.process_bag import load_parameters

TYPES = rosbags_message_types()
STAMP_NS = 1_317_384_506_123_456_789
FRAME_ID = "camera_color_left"
WIDTH, HEIGHT = 80, 40  # input image
NET_WIDTH, NET_HEIGHT = 64, 32
METADATA = ModelMetadata(height=NET_HEIGHT, width=NET_WIDTH, min_depth=0.1, max_depth=100.0)
DEPTH_M = 10.0
K_PX = np.array([[60.0, 0.0, 39.5], [0.0, 62.0, 19.5], [0.0, 0.0, 1.0]])
CONFIG_YAML = Path(__file__).resolve().parents[1] / "config" / "depth.yaml"


def sigmoid_disparity(depth: float | np.ndarray) -> np.ndarray:
    """The network output (sigmoid disparity) that Monodepth2's disp_to_depth maps to ``depth``."""
    min_disp, max_disp = 1.0 / METADATA.max_depth, 1.0 / METADATA.min_depth
    return ((1.0 / np.asarray(depth) - min_disp) / (max_disp - min_disp)).astype(np.float32)


def make_processor(
    disparity: np.ndarray | None = None,
    *,
    intrinsics_norm: list[list[float]] | None = None,
    scale_strategy: str = "fixed",
    **config: object,
) -> DepthImageProcessor:
    """Processor over ConstantBackend: a flat DEPTH_M plane unless ``disparity`` is given; fixed scale 1."""
    if disparity is None:
        disparity = np.full((NET_HEIGHT, NET_WIDTH), sigmoid_disparity(DEPTH_M), np.float32)
    metadata = ModelMetadata(**{**METADATA.__dict__, "intrinsics_norm": intrinsics_norm})
    estimator = DepthEstimator(
        ConstantBackend(disparity), metadata, scale_strategy=scale_strategy, scale_factor=1.0, camera_height_m=1.65
    )
    return DepthImageProcessor(estimator, ProcessorConfig(**config), TYPES)


def image_msg(encoding: str = "rgb8"):
    rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return rgb_to_image(rgb, make_header(STAMP_NS, FRAME_ID, TYPES), encoding=encoding, types=TYPES)


def camera_info_msg(K: np.ndarray = K_PX, width: int = WIDTH, height: int = HEIGHT):
    """A CameraInfo whose d and p[3] differ from make_camera_info's defaults, to tell it apart."""
    info = make_camera_info(K, width, height, make_header(STAMP_NS, FRAME_ID, TYPES), TYPES)
    info.d = np.array([0.1, -0.2, 0.0, 0.0, 0.05])
    info.p[3] = -30.0
    return info


# --------------------------------------------------------------------------------------------------
# Outputs


def test_outputs_copy_the_input_header_and_are_rep118_depth():
    outputs = make_processor().process(image_msg(), camera_info_msg())
    for msg in (outputs.depth, outputs.camera_info, outputs.colorized, outputs.points):
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(STAMP_NS, 10**9)
        assert msg.header.frame_id == FRAME_ID
    depth = outputs.depth
    assert (depth.encoding, depth.width, depth.height, depth.step, depth.is_bigendian) == (
        "32FC1",
        WIDTH,
        HEIGHT,
        4 * WIDTH,
        0,
    )
    np.testing.assert_allclose(image_to_depth(depth), DEPTH_M, rtol=1e-5)
    colour = outputs.colorized
    assert (colour.encoding, colour.width, colour.height) == ("bgr8", WIDTH, HEIGHT)
    assert outputs.prediction.depth_m.shape == (HEIGHT, WIDTH)


def test_frame_id_override_replaces_only_the_frame_id():
    outputs = make_processor(frame_id_override="cam_optical").process(image_msg(), camera_info_msg())
    for msg in (outputs.depth, outputs.camera_info, outputs.colorized, outputs.points):
        assert msg.header.frame_id == "cam_optical"
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(STAMP_NS, 10**9)


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8"])
def test_any_colour_encoding_is_accepted(encoding):
    outputs = make_processor().process(image_msg(encoding), camera_info_msg())
    assert outputs.depth.width == WIDTH


def test_output_size_resizes_depth_and_scales_camera_info():
    outputs = make_processor(output_width=40, output_height=20).process(image_msg(), camera_info_msg())
    assert (outputs.depth.width, outputs.depth.height) == (40, 20)
    assert (outputs.colorized.width, outputs.colorized.height) == (40, 20)
    info = outputs.camera_info
    assert (info.width, info.height) == (40, 20)
    np.testing.assert_allclose(camera_info_to_K(info), scale_intrinsics(K_PX, 0.5, 0.5))
    np.testing.assert_allclose(info.d, [0.1, -0.2, 0.0, 0.0, 0.05])  # the input's, scaled
    assert info.p[3] == pytest.approx(-15.0)


def test_invalid_depth_is_nan_in_depth_and_points():
    disparity = np.full((NET_HEIGHT, NET_WIDTH), sigmoid_disparity(DEPTH_M), np.float32)
    disparity[8:16, 16:32] = np.nan  # a broken network output: depth cannot be trusted there
    outputs = make_processor(disparity, points_stride=1).process(image_msg(), camera_info_msg())
    depth = image_to_depth(outputs.depth)
    assert np.isnan(depth[15, 30]) and np.isnan(depth[HEIGHT // 2 - 8, WIDTH // 2 - 10])
    assert np.isfinite(depth[35:, :]).all() and np.isfinite(depth[:, 60:]).all()
    points = pointcloud2_to_points(outputs.points)
    np.testing.assert_array_equal(np.isnan(points).any(axis=-1), np.isnan(depth))
    assert outputs.points.is_dense is False
    colour = image_to_rgb(outputs.colorized)
    assert (colour[np.isnan(depth)] == 0).all()


def test_learned_intrinsics_take_precedence_over_camera_info():
    learned = [[0.5, 0.0, 0.5], [0.0, 1.6, 0.5], [0.0, 0.0, 1.0]]
    processor = make_processor(intrinsics_norm=learned, output_width=40, output_height=20)
    info = processor.process(image_msg(), camera_info_msg()).camera_info
    np.testing.assert_allclose(camera_info_to_K(info), scale_intrinsics(np.array(learned), 40, 20))
    assert (info.width, info.height) == (40, 20)
    np.testing.assert_array_equal(info.d, np.zeros(5))  # built from K, not copied from the input
    assert make_processor(intrinsics_norm=learned).process(image_msg(), None).points is not None


def test_without_any_intrinsics_there_is_no_camera_info_or_points():
    outputs = make_processor().process(image_msg(), None)
    assert outputs.camera_info is None and outputs.points is None
    assert outputs.depth.width == WIDTH


def test_use_camera_info_false_ignores_the_camera_info():
    bad_size = camera_info_msg(width=WIDTH * 2)
    outputs = make_processor(use_camera_info=False).process(image_msg(), bad_size)
    assert outputs.camera_info is None


def test_points_are_an_organized_xyz_cloud_in_the_optical_frame():
    outputs = make_processor(points_stride=2).process(image_msg(), camera_info_msg())
    cloud = outputs.points
    assert (cloud.height, cloud.width) == (HEIGHT // 2, WIDTH // 2)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, 7, 1),
        ("y", 4, 7, 1),
        ("z", 8, 7, 1),
    ]
    assert (cloud.point_step, cloud.row_step, cloud.is_bigendian) == (12, 12 * WIDTH // 2, False)
    points = pointcloud2_to_points(cloud)
    depth = image_to_depth(outputs.depth)
    np.testing.assert_allclose(points[..., 2], depth[::2, ::2])
    (fx, _, cx), (_, fy, cy) = K_PX[:2]
    u, v = 2 * np.arange(WIDTH // 2), 2 * np.arange(HEIGHT // 2)  # image pixels of the strided grid
    np.testing.assert_allclose(points[..., 0], (u[None, :] - cx) * depth[::2, ::2] / fx, rtol=1e-5)
    np.testing.assert_allclose(points[..., 1], (v[:, None] - cy) * depth[::2, ::2] / fy, rtol=1e-5)


def test_publish_points_false_builds_no_cloud():
    assert make_processor(publish_points=False).process(image_msg(), camera_info_msg()).points is None


# --------------------------------------------------------------------------------------------------
# Bad frames


def _bad_encoding():
    msg = image_msg()
    msg.encoding = "32FC1"
    return msg, camera_info_msg()


def _wrong_byte_count():
    msg = image_msg()
    msg.data = msg.data[:-7]
    return msg, camera_info_msg()


def _unknown_encoding():
    msg = image_msg()
    msg.encoding = "jpeg"
    return msg, camera_info_msg()


@pytest.mark.parametrize(
    ("make_input", "kind", "match"),
    [
        (_bad_encoding, "image", "32FC1"),
        (_unknown_encoding, "image", "jpeg"),
        (_wrong_byte_count, "image", "byte count"),
        (lambda: (image_msg(), camera_info_msg(width=2 * WIDTH)), "camera_info", "160×40"),
        (lambda: (image_msg(), camera_info_msg(K=np.zeros((3, 3)))), "camera_info", "uncalibrated"),
    ],
    ids=["depth-encoding", "unknown-encoding", "byte-count", "camera-info-size", "uncalibrated"],
)
def test_bad_messages_raise_frame_error(make_input, kind, match):
    with pytest.raises(FrameError, match=match) as caught:
        make_processor().process(*make_input())
    assert caught.value.kind == kind


@pytest.mark.parametrize("K", [np.zeros((3, 3)), np.full((3, 3), np.nan)])
def test_an_unusable_camera_info_says_it_once_and_how_to_do_without(K):
    with pytest.raises(FrameError) as caught:
        make_processor().process(image_msg(), camera_info_msg(K=K))
    message = str(caught.value)
    assert message.count("CameraInfo") == 1 and "use_camera_info to false" in message


def test_a_network_returning_only_nan_is_a_frame_error_not_a_nan_depth():
    disparity = np.full((NET_HEIGHT, NET_WIDTH), np.nan, np.float32)  # what NaN weights give
    with pytest.raises(FrameError, match=r"only NaN or Inf.*corrupt") as caught:
        make_processor(disparity).process(image_msg(), camera_info_msg())
    assert caught.value.kind == "model_output"


def test_camera_height_without_intrinsics_is_a_model_input_error():
    with pytest.raises(FrameError) as caught:
        make_processor(scale_strategy="camera_height").process(image_msg(), None)
    assert caught.value.kind == "model_input"


def test_camera_height_without_visible_ground_is_a_scale_error():
    # A wall facing the camera: no ground plane to measure the camera height against.
    with pytest.raises(FrameError, match="camera_height") as caught:
        make_processor(scale_strategy="camera_height").process(image_msg(), camera_info_msg())
    assert caught.value.kind == "scale"


# --------------------------------------------------------------------------------------------------
# Parameters


def test_defaults_match_config_yaml():
    assert ProcessorConfig.from_parameters(load_parameters(CONFIG_YAML)) == ProcessorConfig()


def test_every_parameter_has_a_description():
    assert all(field.metadata["description"] for field in ProcessorConfig.parameters().values())
    read_only = {name for name, field in ProcessorConfig.parameters().items() if field.metadata["read_only"]}
    assert {"model_path", "backend"} <= read_only


@pytest.mark.parametrize(
    ("parameters", "match"),
    [
        ({"backend": "cuda"}, r"'backend' must be one of auto, torch, onnxruntime, tensorrt; got 'cuda'"),
        ({"scale_strategy": "metric"}, r"'scale_strategy' must be one of relative, stereo, fixed, camera_height"),
        ({"device": "gpu"}, r"'device' must be one of auto, cpu, cuda, cuda:N"),
        ({"camera_height_m": -1.0}, r"'camera_height_m' must be a finite number > 0"),
        ({"fixed_scale": float("nan")}, r"'fixed_scale' must be a finite number > 0"),
        ({"colormap_max_depth_m": 0.2}, r"'colormap_max_depth_m' must be a finite number > colormap_min_depth_m"),
        ({"points_stride": 0}, r"'points_stride' must be an integer ≥ 1"),
        ({"output_width": 320}, r"'output_height' must be 0 when output_width is 0 and > 0 when it is not"),
        ({"latency_log_period_s": -5}, r"'latency_log_period_s' must be a finite number ≥ 0"),
        ({"points_stride": 2.0}, r"'points_stride' must be of type int, got float"),
        ({"publish_points": "yes"}, r"'publish_points' must be of type bool"),
        ({"camera_height_m": True}, r"'camera_height_m' must be of type float, got bool"),
        ({"image_topic": "/x"}, r"unknown parameter\(s\) 'image_topic'; known: model_path, "),
    ],
)
def test_invalid_parameters_name_the_parameter_and_what_it_allows(parameters, match):
    with pytest.raises(ValueError, match=match):
        ProcessorConfig.from_parameters(parameters)


def test_integers_are_accepted_for_float_parameters():
    config = ProcessorConfig.from_parameters({"camera_height_m": 2, "device": "cuda:1"})
    assert config.camera_height_m == 2.0 and isinstance(config.camera_height_m, float)


def test_create_estimator_needs_a_model_path():
    with pytest.raises(ValueError, match="'model_path' must be set"):
        create_estimator(ProcessorConfig())


# --------------------------------------------------------------------------------------------------
# Log helpers


def test_throttled_error_log_logs_each_kind_once_and_counts():
    lines: list[str] = []
    log = ThrottledErrorLog(lines.append)
    for kind in ["image", "image", "camera_info", "image"]:
        log.report(FrameError(kind, f"bad {kind}"))
    assert len(lines) == 2 and "bad image" in lines[0] and "bad camera_info" in lines[1]
    assert log.total == 4
    assert log.summary() == "camera_info: 1, image: 3"


def test_latency_tracker_reports_every_period():
    now = [0.0]
    tracker = LatencyTracker(period_s=5.0, window=4, clock=lambda: now[0])
    lines = []
    for latency_ms in [10, 20, 30, 40, 50, 60]:
        now[0] += 1.0
        lines.append(tracker.add(latency_ms / 1e3))
    assert lines[:4] == [None] * 4 and lines[5] is None
    assert lines[4] == "1.0 frames/s, latency median 30.0 ms, p90 50.0 ms (last 4 frames)"
    assert LatencyTracker(period_s=0.0, clock=lambda: 1e9).add(0.01) is None


def test_percentiles_are_nearest_rank():
    assert percentiles([3.0, 1.0, 2.0]) == (2.0, 3.0)
    assert percentiles(range(1, 101)) == (50, 90)
    assert all(np.isnan(percentiles([])))


def test_latest_slot_keeps_only_the_newest_item():
    slot = LatestSlot()
    for item in range(3):
        slot.put(item)
    assert slot.take() == 2 and slot.dropped == 2
    taken = []
    worker = threading.Thread(target=lambda: taken.extend(iter(slot.take, None)))
    worker.start()
    slot.put("a")
    slot.close()
    worker.join(timeout=5)
    assert not worker.is_alive() and set(taken) <= {"a"}
