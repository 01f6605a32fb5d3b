"""The callback path shared by the ROS 2 node and the bag processor: colour Image in → depth outputs.

:class:`DepthImageProcessor` turns one ``sensor_msgs/Image`` (plus the latest ``CameraInfo``) into
the messages the node publishes:

* ``depth/image``: REP-118 ``32FC1`` depth in metres along the optical axis, NaN where invalid
  (REP-117), at the input size or ``output_width``×``output_height``;
* ``depth/camera_info``: the intrinsics of that depth image;
* ``depth/colorized``: a ``bgr8`` colour map of the depth (near = bright);
* ``points`` (optional): an organized xyz ``PointCloud2`` in the camera optical frame.

Every output carries the input's header stamp and its frame_id (or ``frame_id_override``). Message
classes come from a :class:`~depth_ros.messages.MessageTypes`: rclpy's in the node, the rosbags
typestore's in the bag processor. A bad input message raises :class:`FrameError`; the adapters log it
once per kind through :class:`ThrottledErrorLog` and carry on. :class:`LatencyTracker` gives both
adapters the same periodic latency line. Nothing here imports rclpy.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import cv2
import numpy as np

from depth_ros.backends import BACKEND_KINDS
from depth_ros.geometry import GroundPlaneError
from depth_ros.messages import (
    ImageFormatError,
    MessageTypes,
    camera_info_to_K,
    depth_to_image,
    depth_to_points,
    image_to_rgb,
    make_camera_info,
    make_header,
    points_to_pointcloud2,
    rgb_to_image,
    scale_camera_info,
    stamp_to_ns,
)
from depth_ros.pipeline import SCALE_STRATEGIES, DepthEstimator, DepthPrediction, InputError, NetworkOutputError
from depth_ros.visualize import colorize_depth

__all__ = [
    "NO_SCALE_YET",
    "DepthImageProcessor",
    "DepthOutputs",
    "FrameError",
    "FrameErrorKind",
    "LatencyTracker",
    "LatestSlot",
    "ProcessorConfig",
    "ThrottledErrorLog",
    "create_estimator",
    "percentiles",
]

# What was wrong with a frame: the Image, the CameraInfo, the image as model input (pipeline
# InputError), the network's output (NaN/Inf: NetworkOutputError), the metric scale (no
# ground plane for camera_height), or the serialised bytes of a bag message (bag processor only).
FrameErrorKind = Literal["image", "camera_info", "model_input", "model_output", "scale", "decode"]
# What to do about a CameraInfo the frames cannot be paired with.
NO_CAMERA_INFO_HINT = (
    "fix the camera_info topic, or set use_camera_info to false to publish depth without it (then no points and "
    "no depth/camera_info unless the model learned its intrinsics; scale_strategy camera_height needs them)"
)
# Why a "scale" frame is not published, and the fix: said once in the log and in the bag processor's summary.
NO_SCALE_YET = (
    "no metric scale is known yet, so nothing is published until the road is seen (later frames without it reuse "
    "the last scale); if this camera never sees the road, set scale_strategy to 'fixed' (with fixed_scale) or "
    "'relative'"
)


class FrameError(Exception):
    """One input frame cannot be processed; the adapter skips it. ``kind`` says which part was bad."""

    def __init__(self, kind: FrameErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# --------------------------------------------------------------------------------------------------
# Parameters


def _parameter(default: Any, description: str, *, read_only: bool = False) -> Any:
    """A config field whose node parameter has ``description``; ``read_only`` ones cannot change at runtime."""
    return dataclasses.field(default=default, metadata={"description": description, "read_only": read_only})


@dataclasses.dataclass(frozen=True)
class ProcessorConfig:
    """The node's parameters (``config/depth.yaml``), validated. Lengths in metres, sizes in pixels.

    Read-only parameters configure the model, the subscriptions and the publishers, which the node
    creates once; the others may be changed while it runs.
    """

    model_path: str = _parameter(
        "", "Depth model: a checkpoint folder (torch), an .onnx file or a TensorRT engine", read_only=True
    )
    backend: str = _parameter("auto", f"Inference backend, one of: {', '.join(BACKEND_KINDS)}", read_only=True)
    device: str = _parameter("auto", "Compute device: auto, cpu, cuda or cuda:N", read_only=True)
    scale_strategy: str = _parameter(
        "camera_height",
        f"How network depth becomes metres, one of: {', '.join(SCALE_STRATEGIES)}",
        read_only=True,
    )
    camera_height_m: float = _parameter(
        1.65, "Camera optical centre above the road, metres (scale_strategy camera_height)", read_only=True
    )
    scale_window: int = _parameter(
        10,
        "camera_height: frames in the running median of the recovered scale; frames without a visible road "
        "reuse it",
        read_only=True,
    )
    fixed_scale: float = _parameter(1.0, "Network depth → metres multiplier (scale_strategy fixed)", read_only=True)
    output_width: int = _parameter(0, "Width of the published depth and points, pixels; 0 = input width")
    output_height: int = _parameter(0, "Height of the published depth and points, pixels; 0 = input height")
    colormap_min_depth_m: float = _parameter(0.5, "Nearest depth of depth/colorized's colour map, metres")
    colormap_max_depth_m: float = _parameter(80.0, "Farthest depth of depth/colorized's colour map, metres")
    publish_points: bool = _parameter(
        True, "Publish an organized xyz PointCloud2 (optical frame) on points", read_only=True
    )
    points_stride: int = _parameter(2, "Keep every Nth pixel in rows and columns for points (1 = all)")
    use_camera_info: bool = _parameter(
        True,
        "Subscribe to camera_info and use its intrinsics (camera_height scale, depth/camera_info, points) "
        "unless the model has learned intrinsics, which take precedence",
        read_only=True,
    )
    latency_log_period_s: float = _parameter(5.0, "Seconds between latency log lines; 0 = never")
    frame_id_override: str = _parameter("", "Frame id of the outputs; empty = the input image's frame_id")

    def __post_init__(self) -> None:
        def positive(value: float) -> bool:
            return math.isfinite(value) and value > 0

        device_type, _, index = self.device.partition(":")
        checks = [
            ("backend", self.backend in BACKEND_KINDS, f"one of {', '.join(BACKEND_KINDS)}"),
            ("scale_strategy", self.scale_strategy in SCALE_STRATEGIES, f"one of {', '.join(SCALE_STRATEGIES)}"),
            (
                "device",
                self.device in ("auto", "cpu", "cuda") or (device_type == "cuda" and index.isdigit()),
                "one of auto, cpu, cuda, cuda:N",
            ),
            ("camera_height_m", positive(self.camera_height_m), "a finite number > 0"),
            ("fixed_scale", positive(self.fixed_scale), "a finite number > 0"),
            ("scale_window", self.scale_window >= 1, "an integer ≥ 1 (frames)"),
            ("colormap_min_depth_m", positive(self.colormap_min_depth_m), "a finite number > 0"),
            (
                "colormap_max_depth_m",
                positive(self.colormap_max_depth_m) and self.colormap_max_depth_m > self.colormap_min_depth_m,
                f"a finite number > colormap_min_depth_m ({self.colormap_min_depth_m})",
            ),
            ("output_width", self.output_width >= 0, "an integer ≥ 0"),
            ("output_height", self.output_height >= 0, "an integer ≥ 0"),
            (
                "output_height",
                (self.output_width == 0) == (self.output_height == 0),
                f"0 when output_width is 0 and > 0 when it is not (output_width is {self.output_width})",
            ),
            ("points_stride", self.points_stride >= 1, "an integer ≥ 1"),
            (
                "latency_log_period_s",
                math.isfinite(self.latency_log_period_s) and self.latency_log_period_s >= 0,
                "a finite number ≥ 0",
            ),
        ]
        for name, valid, allowed in checks:
            if not valid:
                raise ValueError(f"parameter {name!r} must be {allowed}; got {getattr(self, name)!r}")

    @classmethod
    def parameters(cls) -> dict[str, dataclasses.Field]:
        """The parameter fields by name, in declaration order (defaults, descriptions, read_only)."""
        return {field.name: field for field in dataclasses.fields(cls)}

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> ProcessorConfig:
        """Config from parameter values (a YAML ``ros__parameters`` mapping or node parameters).

        Missing names keep their defaults. Unknown names, wrong types and values outside the allowed
        set or range raise ValueError naming the parameter and what it allows.
        """
        fields = cls.parameters()
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; known: {', '.join(fields)}")
        return cls(**{name: _typed(name, value, type(fields[name].default)) for name, value in values.items()})

    def as_parameters(self) -> dict[str, Any]:
        """Parameter name → value."""
        return dataclasses.asdict(self)


def _typed(name: str, value: Any, kind: type) -> Any:
    """``value`` as a ``kind`` parameter: ints are accepted for floats, nothing else is converted."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ValueError(f"parameter {name!r} must be of type {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


# --------------------------------------------------------------------------------------------------
# The callback path


@dataclasses.dataclass(frozen=True)
class DepthOutputs:
    """The messages for one input frame (classes of the processor's MessageTypes).

    ``depth``: 32FC1 Image, metres, NaN invalid. ``camera_info``: intrinsics of ``depth`` (None when
    neither the model nor a CameraInfo gives any). ``colorized``: bgr8 Image of the same size.
    ``points``: organized xyz PointCloud2 in the optical frame, or None (disabled or no intrinsics).
    ``prediction``: the pipeline's result at the input size, for statistics.
    """

    depth: Any
    camera_info: Any | None
    colorized: Any
    points: Any | None
    prediction: DepthPrediction


class DepthImageProcessor:
    """Image (+ CameraInfo) message → :class:`DepthOutputs`: THE callback of the node and the bag processor.

    ``estimator`` runs the network; ``config`` supplies the output size, colour map range, point
    cloud and frame settings (:attr:`config` may be replaced between calls); ``types`` are the
    message classes to build outputs with.
    """

    def __init__(self, estimator: DepthEstimator, config: ProcessorConfig, types: MessageTypes) -> None:
        self.estimator = estimator
        self.config = config
        self.types = types

    def process(self, image_msg: Any, camera_info_msg: Any | None = None) -> DepthOutputs:
        """Run the depth network on ``image_msg`` and build the output messages.

        The image is taken as rectified: ``camera_info_msg`` (ignored when ``use_camera_info`` is
        false) must describe an image of the same width and height, and its rectified intrinsics
        (``p``, as image_geometry reads them) go to the pipeline for the camera_height scale and to
        the point cloud. Raises :class:`FrameError` for a malformed or unsupported image or
        CameraInfo, an image the model cannot take, or a frame whose metric scale cannot be found.
        """
        config = self.config
        try:
            rgb = image_to_rgb(image_msg)
        except ImageFormatError as exc:
            raise FrameError("image", str(exc)) from None
        height, width = rgb.shape[:2]
        camera_info = camera_info_msg if config.use_camera_info else None
        K_input = None if camera_info is None else _camera_info_K(camera_info, width, height)
        try:
            prediction = self.estimator.predict(rgb, K_px=K_input)
        except InputError as exc:
            raise FrameError("model_input", str(exc)) from None
        except NetworkOutputError as exc:
            raise FrameError("model_output", str(exc)) from None
        except GroundPlaneError as exc:
            raise FrameError("scale", f"camera_height scale: {exc}; {NO_SCALE_YET}") from None

        depth_m = prediction.depth_m
        out_width, out_height = (config.output_width, config.output_height) if config.output_width else (width, height)
        if depth_m.shape != (out_height, out_width):
            # Nearest neighbour: no depth is invented across object edges.
            depth_m = cv2.resize(depth_m, (out_width, out_height), interpolation=cv2.INTER_NEAREST)
        frame_id = config.frame_id_override or image_msg.header.frame_id
        header = make_header(stamp_to_ns(image_msg.header), frame_id, self.types)

        info_out = self._output_camera_info(camera_info, out_width, out_height, header)
        points = None
        if config.publish_points and info_out is not None:
            stride = config.points_stride
            K_strided = camera_info_to_K(info_out).copy()
            K_strided[:2] /= stride  # pixel (u, v) of the strided grid is (stride·u, stride·v) of the image
            points = points_to_pointcloud2(depth_to_points(depth_m[::stride, ::stride], K_strided), header, self.types)
        colour = colorize_depth(depth_m, config.colormap_min_depth_m, config.colormap_max_depth_m)
        return DepthOutputs(
            depth=depth_to_image(depth_m, header, self.types),
            camera_info=info_out,
            colorized=rgb_to_image(colour, header, encoding="bgr8", types=self.types),
            points=points,
            prediction=prediction,
        )

    def _output_camera_info(self, camera_info: Any | None, width: int, height: int, header: Any) -> Any | None:
        """CameraInfo of the width×height depth: the model's learned intrinsics, else the input's scaled."""
        learned = self.estimator.intrinsics_for(width, height)
        if learned is not None:
            return make_camera_info(learned, width, height, header, self.types)
        if camera_info is None:
            return None
        try:
            scaled = scale_camera_info(camera_info, width, height)
        except ImageFormatError as exc:
            raise FrameError("camera_info", str(exc)) from None
        scaled.header = header
        return scaled


def _camera_info_K(camera_info: Any, width: int, height: int) -> np.ndarray:
    """Rectified 3×3 K (pixels) of a CameraInfo that must describe a ``width``×``height`` image."""
    try:
        size = (int(camera_info.width), int(camera_info.height))
        K = camera_info_to_K(camera_info)
    except (AttributeError, TypeError, ValueError) as exc:  # ImageFormatError is a ValueError
        message = str(exc) if str(exc).startswith("CameraInfo") else f"CameraInfo: {exc}"
        raise FrameError("camera_info", f"{message}; {NO_CAMERA_INFO_HINT}") from None
    if size != (width, height):
        raise FrameError(
            "camera_info",
            f"CameraInfo is for a {size[0]}×{size[1]} image but the image is {width}×{height}; {NO_CAMERA_INFO_HINT}",
        )
    return K


# --------------------------------------------------------------------------------------------------
# What both adapters log


class ThrottledErrorLog:
    """Logs the first :class:`FrameError` of each kind through ``log``; later ones are only counted."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self.counts: Counter[str] = Counter()

    def report(self, error: FrameError) -> None:
        """Count ``error``; log it if it is the first of its kind."""
        self.counts[error.kind] += 1
        if self.counts[error.kind] == 1:
            self._log(f"skipping frame ({error.kind} error): {error} — further {error.kind} errors are only counted")

    @property
    def total(self) -> int:
        """Frames skipped so far."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """``'image: 3, camera_info: 1'`` (empty when nothing was skipped)."""
        return ", ".join(f"{kind}: {count}" for kind, count in sorted(self.counts.items()))


class LatencyTracker:
    """Per-frame latencies (seconds) over the last ``window`` frames, summarised every ``period_s``.

    ``add`` returns a log line when ``period_s`` has passed since the last one (never when
    ``period_s`` is 0): the frame rate since then and the median / 90th percentile latency of the
    window. ``clock`` is a monotonic clock in seconds.
    """

    def __init__(self, period_s: float, window: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s = period_s
        self.latencies_s: deque[float] = deque(maxlen=window)
        self._clock = clock
        self._last_report_s = clock()
        self._frames_since_report = 0

    def add(self, latency_s: float) -> str | None:
        """Record one frame's latency; the summary line when one is due, else None."""
        self.latencies_s.append(latency_s)
        self._frames_since_report += 1
        now = self._clock()
        elapsed = now - self._last_report_s
        if self.period_s <= 0 or elapsed < self.period_s:
            return None
        rate = self._frames_since_report / elapsed
        self._last_report_s, self._frames_since_report = now, 0
        median_s, p90_s = percentiles(self.latencies_s)
        return (
            f"{rate:.1f} frames/s, latency median {median_s * 1e3:.1f} ms, p90 {p90_s * 1e3:.1f} ms "
            f"(last {len(self.latencies_s)} frames)"
        )


class LatestSlot:
    """A one-item mailbox between a subscription callback and a worker: never a queue.

    ``put`` stores the newest item, replacing (and counting in ``dropped``) one the worker has not
    taken yet; ``take`` blocks until an item is there and returns it, or None once ``close`` was called.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._condition:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._condition.notify()

    def take(self) -> Any:
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()


def percentiles(latencies_s: Iterable[float]) -> tuple[float, float]:
    """(median, 90th percentile) of latencies in seconds, nearest-rank; NaN when there are none."""
    ordered = sorted(latencies_s)
    if not ordered:
        return math.nan, math.nan
    return ordered[(len(ordered) - 1) // 2], ordered[math.ceil(0.9 * len(ordered)) - 1]


def create_estimator(config: ProcessorConfig) -> DepthEstimator:
    """Load ``config.model_path`` on ``config.backend``/``config.device`` with the configured scale strategy.

    Raises ValueError for an unset model_path or a strategy the model cannot use, and the
    pipeline's CheckpointError / BackendUnavailable for a missing, corrupt or unrunnable model.
    """
    if not config.model_path:
        raise ValueError("parameter 'model_path' must be set: a weights folder, an .onnx file or a TensorRT engine")
    return DepthEstimator.from_model(
        config.model_path,
        backend=config.backend,
        device=None if config.device == "auto" else config.device,
        scale_strategy=config.scale_strategy,
        scale_factor=config.fixed_scale,
        camera_height_m=config.camera_height_m,
        scale_window=config.scale_window,
    )
