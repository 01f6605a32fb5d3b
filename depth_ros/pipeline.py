"""Monocular depth inference: numpy image in → depth in metres at the input resolution out.

    estimator = DepthEstimator.from_model("models/mono+stereo_640x192", scale_strategy="stereo")
    prediction = estimator.predict(rgb)          # rgb: H×W×3 uint8
    prediction.depth_m                           # H×W float32, metres along the optical axis

Preprocessing is Monodepth2's training resize (PIL LANCZOS from the native size, no crop, to the
network size); postprocessing is its evaluation protocol (the scaled disparity is resized bilinearly
to the input size with OpenCV, then inverted). The metric scale comes from one of four strategies:

* ``relative``: none; depth is in model units (``is_metric`` False);
* ``stereo``: ×5.4 (Monodepth2's 0.1-unit stereo baseline vs KITTI's 0.54 m), stereo-trained models only;
* ``fixed``: a factor the caller measured (e.g. a median ratio against ground truth);
* ``camera_height``: per image, from the camera's known height above a visible ground plane,
  with K from the model's learned intrinsics, else the caller's ``K_px`` (e.g. from CameraInfo).

Decoding ROS messages is :func:`depth_ros.messages.image_to_rgb`'s job; :meth:`DepthEstimator.predict`
also accepts rgb8/bgr8/rgba8/bgra8/mono8 numpy arrays.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from depth_ros.backends import Backend, ModelBundle, create_backend, open_model
from depth_ros.checkpoint import ModelMetadata
from depth_ros.encodings import ARRAY_ENCODINGS
from depth_ros.geometry import (
    STEREO_SCALE_FACTOR,
    GroundPlaneError,
    disp_to_depth,
    normalize_intrinsics,
    recover_scale_from_camera_height,
    scale_intrinsics,
)
from depth_ros.preprocess import resize_rgb

ScaleStrategy = Literal["relative", "stereo", "fixed", "camera_height"]
SCALE_STRATEGIES: tuple[str, ...] = ("relative", "stereo", "fixed", "camera_height")


class NetworkOutputError(ValueError):
    """The network's output is unusable: not one finite value (what NaN or Inf weights give)."""


def check_network_output(sigmoid_disp: np.ndarray, what: str = "the image") -> None:
    """Raise NetworkOutputError when ``sigmoid_disp`` (1×h×w) has no finite value; some NaN pixels are left to
    become invalid (NaN) depth, as REP-117 has it."""
    if not np.isfinite(sigmoid_disp).any():
        raise NetworkOutputError(
            f"the network returned only NaN or Inf for {what}: its weights are corrupt (check the model file)"
        )


class InputError(ValueError):
    """An image or camera matrix the pipeline cannot use (empty, wrong shape/dtype/encoding, NaN/Inf)."""


@dataclasses.dataclass
class Timings:
    """Wall-clock seconds per stage. In a batch, ``network_s`` is the batch's time divided by its size."""

    preprocess_s: float
    network_s: float
    postprocess_s: float

    @property
    def total_s(self) -> float:
        return self.preprocess_s + self.network_s + self.postprocess_s


@dataclasses.dataclass
class DepthPrediction:
    """One image's result.

    ``depth_m``: H×W float32 at the input resolution, along the optical axis; metres when
    ``is_metric``, else model units (``scale_strategy`` "relative"). ``disparity``: h×w float32
    scaled disparity (1/model units, Monodepth2's ``scaled_disp``) at the network resolution, before
    ``scale``. ``depth_m = scale / resize(disparity)``. ``intrinsics_px``: 3×3 K of the input image
    (learned or caller-supplied), or None.
    """

    depth_m: np.ndarray
    disparity: np.ndarray
    scale: float
    scale_strategy: str
    is_metric: bool
    intrinsics_px: np.ndarray | None
    timings: Timings


def to_rgb(image: np.ndarray, encoding: str = "rgb8") -> np.ndarray:
    """Validate a numpy image of ``encoding`` and return it as H×W×3 uint8 RGB.

    uint8 arrays hold 0…255; float arrays (any float dtype) hold 0…1 and are rounded to uint8 as a
    decoded JPEG would be. mono8 may be H×W or H×W×1. Raises InputError on anything else.
    """
    if encoding not in ARRAY_ENCODINGS:
        raise InputError(f"unsupported encoding {encoding!r}: expected one of {', '.join(ARRAY_ENCODINGS)}")
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise InputError(f"empty image (shape {image.shape})")
    channels, rgb_channels = ARRAY_ENCODINGS[encoding].channels, ARRAY_ENCODINGS[encoding].rgb
    pixels = image[:, :, None] if image.ndim == 2 and channels == 1 else image
    if pixels.ndim != 3 or pixels.shape[2] != channels:
        expected = "H×W or H×W×1" if channels == 1 else f"H×W×{channels}"
        raise InputError(f"{encoding} image must be {expected}, got shape {image.shape}")
    if np.issubdtype(pixels.dtype, np.floating):
        if not np.isfinite(pixels).all():
            raise InputError("the image contains NaN or Inf")
        if pixels.min() < 0.0 or pixels.max() > 1.0:
            raise InputError(
                f"float images must hold values in [0, 1], got [{pixels.min():.4g}, {pixels.max():.4g}] "
                f"(pass uint8 for 0…255 data)"
            )
        pixels = np.rint(pixels * 255.0).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        raise InputError(f"image dtype must be uint8 or float in [0, 1], got {pixels.dtype}")
    return np.ascontiguousarray(pixels[:, :, rgb_channels])  # rgb8 (a slice, so a view) is not copied twice


def check_intrinsics(K_px: np.ndarray) -> np.ndarray:
    """Validate a 3×3 pinhole K in pixels (finite, positive focal lengths); return it as float64."""
    K = np.asarray(K_px, dtype=np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(f"K_px must be a finite 3×3 pinhole matrix with fx, fy > 0, got {K.tolist()}")
    return K


def resize_disparity(disparity: np.ndarray, width: int, height: int) -> np.ndarray:
    """h×w disparity → height×width, bilinear (OpenCV), as Monodepth2's evaluation resizes predictions."""
    return cv2.resize(disparity, (width, height), interpolation=cv2.INTER_LINEAR)


class DepthEstimator:
    """Preprocess → backend → postprocess, with a metric scale strategy. Not thread-safe.

    ``backend`` runs the network of the model described by ``metadata`` (input size, depth range,
    stereo training, learned intrinsics). ``scale_factor`` is needed by "fixed",
    ``camera_height_m`` (metres above the ground) by "camera_height". With "camera_height", the scale
    used is the median of the last ``scale_window`` per-frame recoveries (1: this frame's alone), and a
    frame whose ground cannot be fitted reuses that median when there is one — a video stream keeps
    metric depth through frames without visible road.
    """

    def __init__(
        self,
        backend: Backend,
        metadata: ModelMetadata,
        *,
        scale_strategy: ScaleStrategy = "relative",
        scale_factor: float | None = None,
        camera_height_m: float | None = None,
        scale_window: int = 1,
    ) -> None:
        if scale_strategy not in SCALE_STRATEGIES:
            raise ValueError(f"scale_strategy must be one of {SCALE_STRATEGIES}, got {scale_strategy!r}")
        if scale_strategy == "stereo" and not metadata.use_stereo:
            raise ValueError(
                "scale_strategy 'stereo' multiplies by 5.4, which is only metric for models trained with stereo "
                "(mono+stereo or stereo); this one is mono: use 'camera_height', 'fixed' or 'relative'"
            )
        if scale_strategy == "fixed" and not (
            scale_factor is not None and np.isfinite(scale_factor) and scale_factor > 0
        ):
            raise ValueError(f"scale_strategy 'fixed' needs a positive scale_factor, got {scale_factor}")
        if scale_strategy == "camera_height" and not (
            camera_height_m is not None and np.isfinite(camera_height_m) and camera_height_m > 0
        ):
            raise ValueError(
                f"scale_strategy 'camera_height' needs camera_height_m > 0 (metres), got {camera_height_m}"
            )
        if scale_window < 1:
            raise ValueError(f"scale_window must be at least 1 frame, got {scale_window}")
        self.backend = backend
        self.metadata = metadata
        self.scale_strategy = scale_strategy
        self.scale_factor = scale_factor
        self.camera_height_m = camera_height_m
        self.recent_scales: deque[float] = deque(maxlen=scale_window)

    @classmethod
    def from_model(
        cls,
        model: ModelBundle | str | Path,
        *,
        backend: str = "auto",
        device: str | None = None,
        fp16: bool = False,
        scale_strategy: ScaleStrategy = "relative",
        scale_factor: float | None = None,
        camera_height_m: float | None = None,
        scale_window: int = 1,
        cache_dir: str | Path | None = None,
    ) -> DepthEstimator:
        """Open a weights folder, ``.onnx`` or ``.engine`` (with sidecar) on ``backend``."""
        bundle = model if isinstance(model, ModelBundle) else open_model(model)
        runner = create_backend(backend, bundle, device=device, fp16=fp16, cache_dir=cache_dir)
        return cls(
            runner,
            bundle.metadata,
            scale_strategy=scale_strategy,
            scale_factor=scale_factor,
            camera_height_m=camera_height_m,
            scale_window=scale_window,
        )

    @property
    def is_metric(self) -> bool:
        return self.scale_strategy != "relative"

    def intrinsics_for(self, width: int, height: int, K_px: np.ndarray | None = None) -> np.ndarray | None:
        """K in pixels of a width×height input: the learned K when the model has one, else ``K_px``."""
        if self.metadata.intrinsics_norm is not None:
            return scale_intrinsics(np.asarray(self.metadata.intrinsics_norm, dtype=np.float64), width, height)
        return None if K_px is None else check_intrinsics(K_px)

    def preprocess(self, image: np.ndarray, encoding: str = "rgb8") -> np.ndarray:
        """Image of ``encoding`` → 3×h×w float32 RGB in [0, 1] at the network size (training's resize).

        The float conversion is ToTensor's (x / 255 in float32), done in numpy: bit-identical to
        :func:`depth_ros.preprocess.rgb_to_tensor` without a round trip through torch.
        """
        rgb = resize_rgb(to_rgb(image, encoding), self.metadata.width, self.metadata.height)
        return rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)

    def predict(self, image: np.ndarray, *, encoding: str = "rgb8", K_px: np.ndarray | None = None) -> DepthPrediction:
        """Depth of one image (any size). ``K_px``: 3×3 intrinsics of this image, for "camera_height"."""
        return self.predict_batch([image], encoding=encoding, K_px=K_px)[0]

    def predict_batch(
        self, images: Sequence[np.ndarray], *, encoding: str = "rgb8", K_px: np.ndarray | None = None
    ) -> list[DepthPrediction]:
        """Depth of several images (sizes may differ) through one network call. ``K_px`` is shared."""
        if len(images) == 0:
            raise InputError("predict_batch needs at least one image")
        start = time.perf_counter()
        batch = np.stack([self.preprocess(image, encoding) for image in images])
        preprocess_s = (time.perf_counter() - start) / len(images)

        start = time.perf_counter()
        disparity = self.backend.run(batch)
        network_s = (time.perf_counter() - start) / len(images)
        expected = (len(images), 1, self.metadata.height, self.metadata.width)
        if disparity.shape != expected:
            raise RuntimeError(f"the {self.backend.name} backend returned shape {disparity.shape}, expected {expected}")

        for index, sigmoid_disp in enumerate(disparity):
            check_network_output(sigmoid_disp, f"image {index}" if len(images) > 1 else "the image")
        predictions = []
        for image, sigmoid_disp in zip(images, disparity):
            start = time.perf_counter()
            height, width = image.shape[:2]
            scaled_disp, _ = disp_to_depth(sigmoid_disp[0], self.metadata.min_depth, self.metadata.max_depth)
            K_input = self.intrinsics_for(width, height, K_px)
            scale = self._scale(scaled_disp, K_input, width, height)
            depth = (scale / resize_disparity(scaled_disp, width, height)).astype(np.float32)
            predictions.append(
                DepthPrediction(
                    depth_m=depth,
                    disparity=scaled_disp,
                    scale=scale,
                    scale_strategy=self.scale_strategy,
                    is_metric=self.is_metric,
                    intrinsics_px=K_input,
                    timings=Timings(preprocess_s, network_s, time.perf_counter() - start),
                )
            )
        return predictions

    def _scale(self, scaled_disp: np.ndarray, K_input: np.ndarray | None, width: int, height: int) -> float:
        """Metric scale for one image; "camera_height" fits the ground at the network resolution."""
        if self.scale_strategy == "stereo":
            return STEREO_SCALE_FACTOR
        if self.scale_strategy == "fixed":
            return float(self.scale_factor)
        if self.scale_strategy == "relative":
            return 1.0
        if K_input is None:
            raise InputError(
                "scale_strategy 'camera_height' needs intrinsics: the model has no learned K, so pass K_px "
                "(e.g. from the CameraInfo of the image)"
            )
        net_h, net_w = scaled_disp.shape
        K_network = scale_intrinsics(normalize_intrinsics(K_input, width, height), net_w, net_h)
        try:
            self.recent_scales.append(
                recover_scale_from_camera_height(1.0 / scaled_disp, K_network, self.camera_height_m)
            )
        except GroundPlaneError:
            if not self.recent_scales:
                raise
        return float(np.median(self.recent_scales))
